"""The log store: rings bounded in lines and bytes, merged view, rotated files in bytes."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from devenv.engine.logs import LINE_OVERHEAD, LogFile, LogStore, Ring, file_paths, parse_file_line


def test_ring_is_bounded_and_records_carry_stream_and_time(tmp_path: Path) -> None:
    store = LogStore(ring_size=3, log_dir=None, file_cap=1000)
    store.add("api", "stdout", ["a", "b"], 1.0)
    store.add("api", "stderr", ["c", "d"], 2.0)
    records = store.records("api")
    assert [r.text for r in records] == ["b", "c", "d"]
    assert [r.stream for r in records] == ["stdout", "stderr", "stderr"]
    assert records[0].ts == 1.0 and records[0].unit == "api"


def test_all_units_interleave_by_time() -> None:
    store = LogStore(ring_size=10, log_dir=None, file_cap=1000)
    store.add("a", "stdout", ["a1"], 1.0)
    store.add("b", "stdout", ["b1"], 1.5)
    store.add("a", "stdout", ["a2"], 2.0)
    records = store.all_records()
    assert [r.text for r in records] == ["a1", "b1", "a2"]
    assert [r.unit for r in records] == ["a", "b", "a"]
    assert store.records("nobody") == [] and store.all_records(["nobody"]) == []


def test_ring_is_bounded_in_bytes_too() -> None:
    store = LogStore(ring_size=10_000, log_dir=None, file_cap=1000, ring_bytes=1024 * 1024)
    piece = "x" * 65_000
    for i in range(100):  # 6.5 MB of long lines
        store.add("api", "stdout", [f"{i} {piece}"], float(i))
    lines, size = store.memory("api")
    assert size <= 1024 * 1024
    kept = [r.text.split()[0] for r in store.records("api")]
    assert kept == [str(i) for i in range(100 - lines, 100)]  # the newest, in order
    assert lines == 16


def test_lines_given_to_the_ring_are_not_changed_by_its_trimming() -> None:
    ring = Ring(max_lines=2, max_bytes=10_000)
    batch = ["a", "b", "c"]
    ring.add(1.0, "stdout", batch)
    ring.add(2.0, "stdout", ["d"])
    assert batch == ["a", "b", "c"]  # a LogBatch event shares this list
    assert [t for _, _, t in ring.entries()] == ["c", "d"]


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.text(max_size=300), min_size=1, max_size=20), min_size=1, max_size=40
    ),
    max_lines=st.integers(1, 50),
    max_bytes=st.integers(1, 4000),
)
def test_the_ring_keeps_the_newest_lines_within_both_bounds(
    batches: list[list[str]], max_lines: int, max_bytes: int
) -> None:
    ring = Ring(max_lines, max_bytes)
    everything: list[str] = []
    for index, batch in enumerate(batches):
        ring.add(float(index), "stdout", batch)
        everything.extend(batch)
        kept = [t for _, _, t in ring.entries()]
        assert len(kept) == ring.lines <= max_lines
        assert ring.size == sum(len(t) + LINE_OVERHEAD for t in kept)
        assert ring.size <= max_bytes
        assert kept == (everything[-len(kept) :] if kept else [])
        # nothing dropped that both bounds had room for
        if len(kept) < len(everything) and len(kept) < max_lines:
            dropped = everything[-len(kept) - 1]
            assert ring.size + len(dropped) + LINE_OVERHEAD > max_bytes


def test_file_gets_every_line_and_rotates_through_three_files_in_bytes(tmp_path: Path) -> None:
    store = LogStore(ring_size=10, log_dir=tmp_path, file_cap=300)
    for i in range(40):
        store.add("api", "stdout", [f"line {i} \u20ac\u20ac"], 1_700_000_000.0 + i)  # € is 3 bytes
    store.flush()
    paths = file_paths(tmp_path / "api.log")
    assert [p.name for p in paths] == ["api.log.2", "api.log.1", "api.log"]
    assert not (tmp_path / "api.log.3").exists()
    assert all(p.stat().st_size <= 300 for p in paths)  # bytes, not characters
    assert (tmp_path / "api.log.1").stat().st_size > 250  # files are filled, not cut early
    parsed = [parse_file_line(line) for p in paths for line in p.read_text().splitlines()]
    numbers = [int(p[2].split()[1]) for p in parsed if p]
    assert numbers == list(range(numbers[0], 40))  # the newest, unbroken, oldest first
    store.close()


def test_one_file_is_truncated_in_place_and_a_huge_line_still_gets_a_file(
    tmp_path: Path,
) -> None:
    log = LogFile(tmp_path / "a.log", cap=100, count=1)
    log.write(b"x" * 50 + b"\n", 1)
    log.write(b"y" * 500 + b"\n", 1)  # longer than the cap: a file of its own
    log.write(b"z\n", 1)
    log.close()
    assert (tmp_path / "a.log").read_bytes() == b"z\n"
    assert file_paths(tmp_path / "a.log") == [tmp_path / "a.log"]


def test_a_deleted_log_directory_is_made_again(tmp_path: Path) -> None:
    store = LogStore(ring_size=10, log_dir=tmp_path / "logs", file_cap=10_000)
    store.add("api", "stdout", ["before"], 1.0)
    store.flush()
    for path in (tmp_path / "logs").iterdir():
        path.unlink()
    (tmp_path / "logs").rmdir()
    store.add("api", "stdout", ["after"], 2.0)
    store.flush()
    assert "after" in (tmp_path / "logs" / "api.log").read_text()
    store.close()


def test_an_unwritable_place_warns_once_keeps_memory_and_recovers(tmp_path: Path) -> None:
    """A log directory that is a file: open fails with ENOTDIR/EEXIST, every
    time, until it is a directory again. (The full disk: tests/integration.)"""
    blocker = tmp_path / "logs"
    blocker.write_text("not a directory")
    notices: list[tuple[str, str, str]] = []
    store = LogStore(
        ring_size=100,
        log_dir=blocker,
        file_cap=10_000,
        on_notice=lambda *n: notices.append(n),
        retry_interval=0.0,
    )
    for i in range(5):
        store.add("api", "stdout", [f"lost {i}"], float(i))
        store.flush()
    assert len(notices) == 1
    unit, text, level = notices[0]
    assert unit == "api" and level == "warning"
    assert str(blocker / "api.log") in text and "retrying" in text
    assert [r.text for r in store.records("api")] == [f"lost {i}" for i in range(5)]
    blocker.unlink()
    store.add("api", "stdout", ["back"], 9.0)
    store.flush()
    assert len(notices) == 2 and notices[1][2] == "info" and "again" in notices[1][1]
    written = (blocker / "api.log").read_text().splitlines()
    assert "5 lines" in written[0] and " sys -- " in written[0]
    assert written[1].endswith(" out back")
    store.close()


def test_retries_wait_for_the_interval(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("")
    store = LogStore(ring_size=100, log_dir=blocker, file_cap=10_000, retry_interval=3600)
    store.add("api", "stdout", ["a"], 1.0)
    store.flush()
    blocker.unlink()
    store.add("api", "stdout", ["b"], 2.0)
    store.flush()
    assert not blocker.exists()  # not retried before the interval
    store.close()


def test_close_never_raises(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "a.log")
    log.write(b"a\n", 1)
    log.flush()
    assert log._fd is not None
    os.close(log._fd)  # the descriptor is gone: writing and closing fail
    log.write(b"b\n", 1)
    log.close()
    assert log.broken


def test_log_options_from_the_environment() -> None:
    from devenv.engine.options import EngineOptions

    options = EngineOptions.from_environ(
        {"DEVENV_LOG_FILES": "5", "DEVENV_LOG_FILE_MB": "1.5", "DEVENV_LOG_MEMORY_MB": "4"}
    )
    assert options.log_file_count == 5
    assert options.log_file_cap == int(1.5 * 1024 * 1024)
    assert options.log_ring_bytes == 4 * 1024 * 1024
    default = EngineOptions.from_environ({"DEVENV_LOG_FILES": "0", "DEVENV_LOG_MEMORY_MB": "x"})
    assert default.log_file_count == 3 and default.log_ring_bytes == 16 * 1024 * 1024
