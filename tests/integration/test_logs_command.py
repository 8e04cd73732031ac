"""`devenv logs` on real rotated files: every file in order, `--tail`, and
`--follow` across rotations (the files written by the engine's own LogStore)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from engine_support import hang_guard  # noqa: F401 (autouse fixture)

from devenv.engine.logs import LogStore

PY = sys.executable
BASE = 1_700_000_000.0


def project(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    x-devenv: {run: sleep 1}\n  worker:\n    x-devenv: {run: sleep 1}\n"
    )
    return tmp_path / ".devenv" / "logs"


def cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "devenv", *args], cwd=directory, capture_output=True, text=True, timeout=30
    )


def test_rotated_files_are_read_oldest_first_and_merged_by_time(tmp_path: Path) -> None:
    store = LogStore(ring_size=10, log_dir=project(tmp_path), file_cap=400, file_count=3)
    for i in range(60):
        store.add("api", "stdout", [f"api {i}"], BASE + i)
        if i % 3 == 0:
            store.add("worker", "stderr", [f"worker {i}"], BASE + i + 0.5)
    store.close()
    assert (tmp_path / ".devenv" / "logs" / "api.log.2").exists()
    out = cli(tmp_path, "logs").stdout.splitlines()
    api = [int(line.split()[-1]) for line in out if line.startswith("api ")]
    oldest = (tmp_path / ".devenv" / "logs" / "api.log.2").read_text().split("\n")[0]
    assert api == list(range(api[0], 60)) and oldest.endswith(f" out api {api[0]}")
    order = [float(line.split()[-1]) + (0.5 if "worker" in line else 0) for line in out]
    assert order == sorted(order)
    tail = cli(tmp_path, "logs", "api", "--tail", "3").stdout.splitlines()
    assert tail == ["api | api 57", "api | api 58", "api | api 59"]
    assert cli(tmp_path, "logs", "--tail", "0").stdout == ""


def test_follow_reads_through_rotations(tmp_path: Path) -> None:
    log_dir = project(tmp_path)
    store = LogStore(ring_size=10, log_dir=log_dir, file_cap=300, file_count=3)
    store.add("api", "stdout", ["before"], BASE)
    store.flush()
    proc = subprocess.Popen(
        [PY, "-m", "devenv", "logs", "--follow", "api"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        got = read_until(proc, "api | before", 20)
        for i in range(40):  # several rotations of a 300-byte file between two polls
            store.add("api", "stdout", [f"line {i}"], BASE + 1 + i)
            if i % 8 == 7:
                store.flush()
                time.sleep(0.3)
        store.flush()
        got = read_until(proc, "api | line 39", 20)
        numbers = [int(line.split()[-1]) for line in got if "| line " in line]
        assert numbers == list(range(40))
    finally:
        proc.kill()
        proc.wait()
        store.close()


def read_until(proc: subprocess.Popen[str], last: str, timeout: float) -> list[str]:
    """Lines of the output so far, up to `last` (a reader thread: no buffering games)."""
    reader = READERS.get(proc.pid)
    if reader is None:
        reader = READERS[proc.pid] = Reader(proc)
        reader.start()
    deadline = time.monotonic() + timeout
    while last not in reader.lines:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {last!r} after {timeout}s; got {reader.lines[-5:]}")
        time.sleep(0.02)
    return list(reader.lines)


class Reader(threading.Thread):
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.lines: list[str] = []

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))


READERS: dict[int, Reader] = {}
