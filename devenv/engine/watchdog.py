"""The orphan guard: a tiny separate process that outlives devenv if devenv is killed.

devenv cannot clean up after a SIGKILL, so at start it launches this script in
its own session with a pipe on its stdin. devenv writes `+<pgid>` when a
process unit starts and `-<pgid>` when it is gone, `c+<id>`/`c-<id>` for a
container (after `h<docker host>`), and `q` on a clean exit. When the pipe
reaches end-of-file without `q` (devenv died), the guard SIGKILLs:

- every process in the run's cgroups (`<devenv's cgroup>/devenv-<run>/`, given
  as its second argument; see devenv/runtime/cgroups.py): exactly every
  process of every local unit, whatever it did to escape (a double fork,
  `setsid`, a cleared environment);
- every recorded process group;
- every process still carrying this run's `DEVENV_INSTANCE=<run>/` marker
  (children that left their group);
- every descendant of those;

then removes the run's cgroups, stops the recorded containers (stopped, not
removed, as a normal quit leaves them) through the Engine's HTTP API, and exits.

What it cannot find: without a cgroup, a process that left its group *and*
cleared its environment, once its parent is gone. While devenv lived it was
re-parented to devenv (a child subreaper) and devenv could stop it; when
devenv dies it goes to init, and nothing marks it as devenv's any more.

It is run as a script (`python -I -S watchdog.py RUN_ID [CGROUP_DIR]`) and uses
only the standard library, so it starts fast and does not depend on devenv
importing.
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


def _processes(needle: bytes, groups: set[int]) -> list[int]:
    """Live processes in `groups` or carrying `needle`, and their descendants."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (not Linux): process groups are all we can do
        return []
    parents: dict[int, int] = {}
    found: set[int] = set()
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                data = f.read()
            fields = data[data.rfind(b")") + 2 :].split()
            if fields[0] in (b"Z", b"X"):
                continue
            parents[pid] = int(fields[1])
            if int(fields[2]) in groups:
                found.add(pid)
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    found.add(pid)
        except (OSError, IndexError, ValueError):
            continue
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return sorted(found)


def _cgroup_dirs(root: str) -> list[str]:
    """The run's cgroup directory and those below it, deepest first."""
    found: list[str] = []
    for path, _dirs, _files in os.walk(root, topdown=False):
        found.append(path)
    return found


def _cgroup_pids(root: str) -> list[int]:
    pids: list[int] = []
    for path in _cgroup_dirs(root):
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                pids += [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            continue
    return pids


def _write(path: str, text: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError:
        return False
    return True


def kill_cgroups(root: str) -> None:
    """SIGKILL everything in the run's cgroups: one write where cgroup v2 has
    `cgroup.kill`, else no more forks (v1 `pids.max`) and a kill per member."""
    if not root or not os.path.isdir(root):
        return
    if _write(os.path.join(root, "cgroup.kill"), "1"):
        return
    for path in _cgroup_dirs(root):
        if os.path.exists(os.path.join(path, "pids.max")):
            _write(os.path.join(path, "pids.max"), "0")
    for pid in _cgroup_pids(root):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def remove_cgroups(root: str, wait: float = 2.0) -> None:
    """Remove the run's cgroups once empty (killed processes take a moment)."""
    if not root or not os.path.isdir(root):
        return
    deadline = time.monotonic() + wait
    while _cgroup_pids(root) and time.monotonic() < deadline:
        time.sleep(0.02)
    for path in _cgroup_dirs(root):
        with contextlib.suppress(OSError):
            os.rmdir(path)


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


def main(run_id: str = "", cgroup_dir: str = "") -> int:
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
        remove_cgroups(cgroup_dir, wait=0)  # devenv removed them; whatever it left
        return 0
    needle = f"DEVENV_INSTANCE={run_id}/".encode()
    for _ in range(5):
        kill_cgroups(cgroup_dir)
        for pgid in groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        pids = _processes(needle, groups) + _cgroup_pids(cgroup_dir)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if not pids:
            break
        time.sleep(0.05)
    remove_cgroups(cgroup_dir)
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
        from devenv.runtime import cgroups, orphans

        run_groups = cgroups.for_run(self.run_id)
        cgroup_dir = str(run_groups.dir) if run_groups is not None else ""
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, self.run_id, cgroup_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
        orphans.own_child(self._proc.pid)  # waited for by close(), never an orphan
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

    def close(self) -> threading.Thread | None:
        """Clean exit: everything is stopped, the guard can go without killing.
        Returns at once; the guard's exit is collected by a thread (the one
        returned), which kills it if it has not gone within 5 s."""
        proc = self._proc
        if proc is None:
            return None
        self._send("q\n")
        self._proc = None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.poll() is not None:
            _forget(proc.pid)
            return None
        waiter = threading.Thread(target=_collect, args=(proc,), name="guard-exit", daemon=True)
        waiter.start()
        return waiter

    async def aclose(self) -> None:
        """`close()`, then wait (without blocking the loop) for the guard to be gone."""
        import asyncio

        waiter = self.close()
        if waiter is not None:
            await asyncio.to_thread(waiter.join)


def _collect(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _forget(proc.pid)


def _forget(pid: int) -> None:
    from devenv.runtime import orphans

    orphans.release_child(pid)


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
