"""`devenv` on a real pseudo-terminal: the start command opens the TUI (run_tui),
the stack comes up, `q` stops it and the process exits 0 with its children gone."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

CHILD = """
import os, time
open("child.pid", "w").write(str(os.getpid()))
print("child up", flush=True)
time.sleep(600)
"""


def read_until(fd: int, marker: bytes, seen: bytearray, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                return marker in seen
            if not data:
                return marker in seen
            seen += data
    return True


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.slow
def test_devenv_on_a_terminal_opens_the_tui_and_q_stops_everything(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    (tmp_path / "compose.yaml").write_text(
        f"name: ttytest\nservices:\n  app:\n    x-devenv:\n      run: {sys.executable} child.py\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, TERM="xterm-256color")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devenv"],
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        assert read_until(master, b"1/1", seen, 30), seen[-2000:].decode(errors="replace")
        assert read_until(master, b"child up", seen, 10)
        child = int((tmp_path / "child.pid").read_text())
        assert alive(child)
        os.write(master, b"q")
        # Keep reading while it quits: a full pty would block its last writes.
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            read_until(master, b"\x00never\x00", seen, 0.1)
        assert proc.wait(1) == 0
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        os.close(master)
