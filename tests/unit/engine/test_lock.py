"""The session lock: real processes racing for it, a killed holder, readers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devenv.engine.lock import SessionLock, SessionLocked, holder

PY = sys.executable

CONTENDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from devenv.engine.lock import SessionLock, SessionLocked
    start_at = float(sys.argv[2])
    while time.time() < start_at:
        pass
    lock = SessionLock(Path(sys.argv[1]))
    try:
        lock.acquire()
    except SessionLocked as error:
        print("lost", error.pid, flush=True)
        sys.exit(3)
    print("won", flush=True)
    time.sleep(float(sys.argv[3]))
    """
)


def contender(state_dir: Path, start_at: float, hold: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-c", CONTENDER, str(state_dir), str(start_at), str(hold)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )


def test_of_processes_racing_for_the_lock_exactly_one_wins(tmp_path: Path) -> None:
    for attempt in range(2):
        state = tmp_path / f"run{attempt}"
        start_at = time.time() + 1.0  # every contender is up and spinning by then
        procs = [contender(state, start_at, 1.0) for _ in range(4)]
        outputs = [p.communicate(timeout=30)[0].split() for p in procs]
        winners = [p for p, out in zip(procs, outputs, strict=True) if out[:1] == ["won"]]
        losers = [out for out in outputs if out[:1] == ["lost"]]
        assert len(winners) == 1 and len(losers) == 3, outputs
        assert all(out[1] == str(winners[0].pid) for out in losers)  # named the holder
        assert [p.returncode for p in procs].count(3) == 3


def test_a_killed_holder_releases_it_and_the_message_names_the_pid(tmp_path: Path) -> None:
    proc = contender(tmp_path, 0, 300)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "won"
        assert holder(tmp_path) == proc.pid
        with pytest.raises(SessionLocked) as caught:
            SessionLock(tmp_path).acquire(wait=0.1)
        text = str(caught.value)
        assert f"pid {proc.pid}" in text and "devenv stop" in text and f"kill {proc.pid}" in text
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert holder(tmp_path) is None  # the kernel let go of it
    with SessionLock(tmp_path) as lock:
        assert lock.held and holder(tmp_path) == os.getpid()
    assert holder(tmp_path) is None


def test_readers_do_not_make_a_session_fail(tmp_path: Path) -> None:
    assert holder(tmp_path) is None  # no state directory at all
    lock = SessionLock(tmp_path)
    lock.acquire()
    lock.acquire()  # again: already held, nothing happens
    try:
        assert all(holder(tmp_path) == os.getpid() for _ in range(50))
    finally:
        lock.release()
    import threading

    stop = threading.Event()

    def read_forever() -> None:
        while not stop.is_set():
            holder(tmp_path)

    reader = threading.Thread(target=read_forever)
    reader.start()
    try:
        for _ in range(20):  # a reader's instant of locking is waited out
            with SessionLock(tmp_path):
                pass
    finally:
        stop.set()
        reader.join()


def test_services_do_not_inherit_the_lock(tmp_path: Path) -> None:
    lock = SessionLock(tmp_path)
    lock.acquire()
    child = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"])
    try:
        lock.release()
        assert holder(tmp_path) is None  # the child does not keep it
    finally:
        child.kill()
        child.wait()
