"""The log store: bounded rings, merged view, capped files."""

from __future__ import annotations

from pathlib import Path

from devenv.engine.logs import LogStore, parse_file_line


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


def test_file_gets_every_line_and_rotates_once(tmp_path: Path) -> None:
    store = LogStore(ring_size=10, log_dir=tmp_path, file_cap=200)
    for i in range(20):
        store.add("api", "stdout", [f"line {i}"], 1_700_000_000.0 + i)
    store.flush()
    current = (tmp_path / "api.log").read_text().splitlines()
    previous = (tmp_path / "api.log.1").read_text().splitlines()
    assert not (tmp_path / "api.log.1.1").exists()
    assert (tmp_path / "api.log").stat().st_size <= 200
    parsed = [parse_file_line(line) for line in previous + current]
    texts = [p[2] for p in parsed if p]
    assert texts[-1] == "line 19"
    assert texts == sorted(texts, key=lambda t: int(t.split()[1]))
    assert parsed[-1] is not None and parsed[-1][1] == "stdout"
    store.close()
