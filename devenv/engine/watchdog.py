"""The orphan guard: a tiny separate process that outlives devenv if devenv is killed.

devenv cannot clean up after a SIGKILL, so at start it launches this script in
its own session with a pipe on its stdin. devenv writes `+<pgid>` when a
process unit starts and `-<pgid>` when it is gone, and `q` on a clean exit.
When the pipe reaches end-of-file without `q` (devenv died), the guard kills
every recorded process group and every process still carrying this run's
`DEVENV_INSTANCE=<run>/` marker (children that left their group), then exits.

It is run as a script (`python -I -S watchdog.py RUN_ID`) and uses only the
standard library, so it starts fast and does not depend on devenv importing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time


def _marked(needle: bytes) -> list[int]:
    found: list[int] = []
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (not Linux): process groups are all we can do
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def main(run_id: str) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    clean = False
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if line == b"q":
            clean = True
            break
        if line[:1] in (b"+", b"-") and line[1:].isdigit():
            pgid = int(line[1:])
            if line[:1] == b"+":
                groups.add(pgid)
            else:
                groups.discard(pgid)
    if clean or not run_id:
        return 0
    needle = f"DEVENV_INSTANCE={run_id}/".encode()
    for _ in range(5):
        for pgid in groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        pids = _marked(needle)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if not pids:
            break
        time.sleep(0.05)
    return 0


class Guard:
    """devenv's end of the pipe."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, self.run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
        assert self._proc.stdin is not None
        os.set_inheritable(self._proc.stdin.fileno(), False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _send(self, text: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        try:
            self._proc.stdin.write(text.encode())
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def add(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def remove(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def close(self) -> None:
        """Clean exit: everything is stopped, the guard can go without killing."""
        proc = self._proc
        if proc is None:
            return
        self._send("q\n")
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._proc = None


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
