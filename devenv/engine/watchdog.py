"""The orphan guard: a tiny separate process that outlives devenv if devenv is killed.

devenv cannot clean up after a SIGKILL, so at start it launches this script in
its own session with a pipe on its stdin. devenv writes `+<pgid>` when a
process unit starts and `-<pgid>` when it is gone, `c+<id>`/`c-<id>` for a
container (after `h<docker host>`), and `q` on a clean exit. When the pipe
reaches end-of-file without `q` (devenv died), the guard kills every recorded
process group and every process still carrying this run's
`DEVENV_INSTANCE=<run>/` marker (children that left their group), stops the
recorded containers (stopped, not removed, as a normal quit leaves them)
through the Engine's HTTP API, then exits.

It is run as a script (`python -I -S watchdog.py RUN_ID`) and uses only the
standard library, so it starts fast and does not depend on devenv importing.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit


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


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def stop_container(host: str, container_id: str, timeout: float = 60) -> None:
    """POST /containers/<id>/stop on a unix:// or plain tcp:// engine (the stop
    timeout is the container's own, as Docker keeps it). TLS engines are left
    alone: the guard carries no client certificates."""
    url = urlsplit(host)
    conn: http.client.HTTPConnection
    if url.scheme == "unix":
        conn = _UnixHTTPConnection(url.path, timeout)
    elif url.scheme in ("tcp", "http") and url.hostname:
        conn = http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=timeout)
    else:
        return
    with contextlib.suppress(OSError, http.client.HTTPException):
        conn.request("POST", f"/containers/{container_id}/stop")
        conn.getresponse().read()
    conn.close()


def main(run_id: str) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: set[int] = set()
    containers: set[str] = set()
    docker_host = ""
    clean = False
    for raw in sys.stdin.buffer:
        line = raw.strip()
        if line == b"q":
            clean = True
            break
        if line[:1] == b"h":
            docker_host = line[1:].decode()
            continue
        if line[:2] in (b"c+", b"c-"):
            (containers.add if line[:2] == b"c+" else containers.discard)(line[2:].decode())
            continue
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
    stoppers = [
        threading.Thread(target=stop_container, args=(docker_host, cid)) for cid in containers
    ]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
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

    def add_container(self, container_id: str, docker_host: str) -> None:
        self._send(f"h{docker_host}\nc+{container_id}\n")

    def remove_container(self, container_id: str) -> None:
        self._send(f"c-{container_id}\n")

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
