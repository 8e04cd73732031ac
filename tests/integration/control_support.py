"""Building blocks for the control socket's tests: a project of small Python
scripts in a tmp dir, the real `devenv` CLI run against it, and a detached
session that is always stopped (and its processes killed) at the end."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

PY = sys.executable
SECRET = "hunter2-very-secret"  # API_TOKEN's value: must never show unmasked

SERVICE = """
import os, sys, time
print(f"{os.environ['DEVENV_UNIT']} up pid={os.getpid()} token={os.environ.get('API_TOKEN', '')}",
      flush=True)
print(f"{os.environ['DEVENV_UNIT']} warning: disk almost full", file=sys.stderr, flush=True)
n = 0
while True:
    time.sleep(0.2)
    n += 1
    if n % 5 == 0:
        print(f"tick {n}", flush=True)
"""

STACK = f"""
name: {{name}}
services:
  api:
    stop_grace_period: 2s
    environment:
      API_TOKEN: "{SECRET}"
    x-devenv:
      run: {PY} service.py
      ready: {{{{log: "up pid="}}}}
  worker:
    depends_on: [api]
    stop_grace_period: 2s
    x-devenv:
      run: {PY} service.py
  broken:
    x-devenv:
      run: {PY} -c "import sys; print('cannot connect to the database', flush=True); sys.exit(3)"
      ready: {{{{log: "listening"}}}}
  never:
    x-devenv:
      run: {PY} -c "import time; print('waiting forever', flush=True); time.sleep(300)"
      ready: {{{{log: "this line never comes"}}}}
"""


def write_stack(directory: Path, name: str) -> None:
    (directory / "compose.yaml").write_text(textwrap.dedent(STACK.format(name=name)))
    (directory / "service.py").write_text(textwrap.dedent(SERVICE))


def cli(
    directory: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "devenv", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def status(directory: Path) -> dict[str, Any]:
    done = cli(directory, "status", "--json")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def unit(directory: Path, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(u for u in status(directory)["units"] if u["name"] == name)
    return found


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def session_pid(directory: Path) -> int | None:
    try:
        return int((directory / ".devenv" / "devenv.pid").read_text())
    except (OSError, ValueError):
        return None


def tree_of(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def kill_session(directory: Path) -> None:
    """Stop the session like a user would, and make sure nothing survives it."""
    pid = session_pid(directory)
    procs = tree_of(pid) if pid else []
    with contextlib.suppress(subprocess.TimeoutExpired):
        cli(directory, "stop", "--timeout", "20", timeout=40)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A stack written to a tmp dir; whatever session runs on it is ended after."""
    write_stack(tmp_path, f"ctl{os.getpid()}{time.monotonic_ns() % 100000}")
    yield tmp_path
    kill_session(tmp_path)


ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")


def screen_text(data: bytes) -> str:
    """What a terminal program wrote, without its escape sequences (good enough to
    find a word it printed)."""
    return ANSI.sub(b"", data).decode("utf-8", "replace")


class Terminal:
    """A devenv command in a pseudo-terminal (120x36), with everything it wrote."""

    def __init__(self, cwd: Path, *args: str) -> None:
        import fcntl
        import pty
        import struct
        import termios
        import threading

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [PY, "-m", "devenv", *args],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.data = bytearray()
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        import select

        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if not ready:
                    if self.proc.poll() is not None:
                        return
                    continue
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.changed:
                self.data += chunk
                self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return screen_text(bytes(self.data))

    def mark(self) -> int:
        with self.changed:
            return len(self.data)

    def wait_text(self, text: str, timeout: float = 20, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while text not in screen_text(bytes(self.data[after:])):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    tail = screen_text(bytes(self.data[-3000:]))
                    raise AssertionError(f"{text!r} not on the screen; its end:\n{tail}")
                self.changed.wait(min(left, 0.5))

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)
