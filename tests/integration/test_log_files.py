"""Log files on a real full disk: a 256 KiB tmpfs, filled, then freed.

Mounting needs root (and a kernel that lets this process mount); otherwise the
tests skip with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import (
    fast_options,
    hang_guard,  # noqa: F401 (autouse fixture)
    make_stack,
    service,
    wait_until,
)

from devenv.engine.logs import LogStore, file_paths, parse_file_line
from devenv.engine.supervisor import Engine

PY = sys.executable


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last block; the file to delete to free it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0" * 4096):
                pass
    finally:
        os.close(fd)
    return filler


def lines_in_files(log: Path) -> list[str]:
    texts = []
    for path in file_paths(log):
        for line in path.read_text(errors="replace").splitlines():
            parsed = parse_file_line(line)
            if parsed:
                texts.append(parsed[2])
    return texts


def test_a_full_disk_warns_once_keeps_memory_and_recovers_when_freed(small_disk: Path) -> None:
    notices: list[tuple[str, str, str]] = []
    logs = small_disk / "logs"
    store = LogStore(
        ring_size=10_000,
        log_dir=logs,
        file_cap=64 * 1024,
        on_notice=lambda *n: notices.append(n),
        retry_interval=0.0,
    )
    store.add("api", "stdout", ["first"], 1.0)
    store.flush()
    filler = fill(small_disk)
    for i in range(200):  # ~20 KiB per flush; the disk has no room for any of it
        store.add("api", "stdout", [f"full {i} " + "x" * 100 for _ in range(200)], 2.0 + i)
        store.flush()
    assert [n[2] for n in notices] == ["warning"], notices
    assert "No space left on device" in notices[0][1] and "ENOSPC" in notices[0][1]
    assert len(store.records("api")) == 10_000  # the ring has the newest lines all the same
    filler.unlink()
    store.add("api", "stdout", ["after"], 500.0)
    store.flush()
    assert [n[2] for n in notices] == ["warning", "info"]
    texts = lines_in_files(logs / "api.log")
    assert texts[0] == "first" and texts[-1] == "after"
    gap = [t for t in texts if "are missing here" in t]
    assert len(gap) == 1 and "No space left on device" in gap[0]
    store.close()


def test_a_read_only_file_system_warns_once_and_recovers(small_disk: Path) -> None:
    notices: list[tuple[str, str, str]] = []
    store = LogStore(
        ring_size=100,
        log_dir=small_disk / "logs",
        file_cap=64 * 1024,
        on_notice=lambda *n: notices.append(n),
        retry_interval=0.0,
    )
    store.add("api", "stdout", ["first"], 1.0)
    store.flush()
    store.close()  # reopened below, on the read-only disk
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        for i in range(3):
            store.add("api", "stdout", [f"ro {i}"], 2.0 + i)
            store.flush()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert len(notices) == 1 and "EROFS" in notices[0][1]
    store.add("api", "stdout", ["rw"], 9.0)
    store.flush()
    assert notices[-1][2] == "info"
    assert lines_in_files(small_disk / "logs" / "api.log")[-1] == "rw"
    store.close()


async def test_the_engine_relays_every_line_through_a_full_disk(small_disk: Path) -> None:
    """The real engine, its state directory on the small disk: while the disk is
    full the service's lines still reach the engine's logs, no exception reaches
    the event loop, and the file is written again once there is room."""
    project = small_disk.parent
    (project / "go").unlink(missing_ok=True)
    script = project / "talker.py"
    script.write_text(
        "import os, sys, time\n"
        "print('up', flush=True)\n"
        "while not os.path.exists('go'): time.sleep(0.02)\n"
        "for i in range(3000): print(f'burst {i} ' + 'y' * 100)\n"
        "sys.stdout.flush()\n"
        "while not os.path.exists('again'): time.sleep(0.02)\n"
        "for i in range(1200): print(f'tick {i}', flush=True); time.sleep(0.05)\n"
    )
    stack = make_stack(project, service("talker", f"{PY} talker.py", project))
    options = fast_options(project, state_dir=small_disk / ".devenv", log_retry_interval=0.2)
    engine = Engine(stack, options)
    problems: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    try:
        await engine.start()
        await wait_until(lambda: any(r.text == "up" for r in engine.logs("talker")))
        log_path = small_disk / ".devenv" / "logs" / "talker.log"
        await wait_until(lambda: "up" in lines_in_files(log_path), what="the first line on disk")
        filler = fill(small_disk)
        (project / "go").touch()
        await wait_until(
            lambda: sum(r.text.startswith("burst ") for r in engine.logs("talker")) == 3000,
            what="every line in memory",
        )
        await asyncio.sleep(0.5)  # a few flushes against the full disk
        filler.unlink()
        (project / "again").touch()
        await wait_until(  # the file is retried every log_retry_interval (default 5 s)
            lambda: any(t.startswith("tick ") for t in lines_in_files(log_path)),
            timeout=15,
            what="the file written again",
        )
        texts = lines_in_files(log_path)
        assert texts[0] == "up"
        gap = texts.index(next(t for t in texts if "are missing here" in t))
        assert texts[gap + 1].startswith("tick ")
        ticks = [int(t.split()[1]) for t in texts[gap + 1 :]]
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # nothing lost after it
    finally:
        await engine.shutdown()
        loop.set_exception_handler(None)
    assert problems == []
