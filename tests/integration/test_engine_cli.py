"""The real CLI, `python -m devenv start --no-tui`, on a compose.yaml in a tmp dir:
output, exit status, and no process left behind however devenv ends."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_support import (
    free_port,
    hang_guard,  # noqa: F401 (autouse fixture)
    pid_alive,
    read_pids,
)

PY = sys.executable

FORKER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; "
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
    "open('pids', 'a').write(f'{g.pid}\\\\n'); time.sleep(300)"])
open("pids", "a").write(f"{os.getpid()}\\n{child.pid}\\n")
if os.fork() == 0:  # an escapee: its own session, deaf to SIGTERM
    os.setsid()
    if os.fork() == 0:
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open("pids", "a").write(f"{os.getpid()}\\n")
        time.sleep(300)
    os._exit(0)
print("forked", flush=True)
time.sleep(300)
"""


def write_project(directory: Path, compose: str) -> None:
    (directory / "compose.yaml").write_text(textwrap.dedent(compose))
    (directory / "forker.py").write_text(FORKER)


def devenv(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    environ = dict(os.environ, NO_COLOR="1", **(env or {}))
    return subprocess.Popen(
        [PY, "-m", "devenv", *args],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environ,
        start_new_session=True,  # signals from the test only, never from a terminal
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def forking_project(tmp_path: Path) -> Iterator[Path]:
    write_project(
        tmp_path,
        f"""
        services:
          api:
            stop_grace_period: 1s
            x-devenv:
              run: {PY} forker.py
          worker:
            depends_on: [api]
            stop_grace_period: 1s
            x-devenv:
              run: {PY} -c "import time; print('working', flush=True); time.sleep(300)"
        """,
    )
    yield tmp_path
    for pid in read_pids(tmp_path / "pids"):  # never leave anything behind, even on failure
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def start_and_wait(project: Path) -> tuple[subprocess.Popen[str], list[int]]:
    proc = devenv(project, "start", "--no-tui")
    wait_for(lambda: len(read_pids(project / "pids")) == 4, 20, "the process tree")
    pids = read_pids(project / "pids")
    assert all(pid_alive(p) for p in pids)
    return proc, pids


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_no_orphans_after_signal(forking_project: Path, sig: signal.Signals) -> None:
    proc, pids = start_and_wait(forking_project)
    time.sleep(0.2)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert not [p for p in pids if pid_alive(p)], out
    assert "api    | forked" in out
    assert "worker | -- stopped" in out and "api    | -- stopped" in out
    # dependents first
    assert out.index("worker | -- stopped") < out.index("api    | -- stopped")


def test_no_orphans_after_sigkill(forking_project: Path) -> None:
    proc, pids = start_and_wait(forking_project)
    proc.kill()
    proc.wait(timeout=5)
    wait_for(lambda: not [p for p in pids if pid_alive(p)], 10, "the guard to clean up")


def test_second_ctrl_c_kills_at_once(tmp_path: Path) -> None:
    (tmp_path / "deaf.py").write_text(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('deaf', flush=True)\ntime.sleep(300)\n"
    )
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  deaf:\n    stop_grace_period: 60s\n    x-devenv:\n      run: {PY} deaf.py\n"
    )
    proc = devenv(tmp_path, "start", "--no-tui")
    assert proc.stdout is not None
    lines: list[str] = []
    while "deaf" not in "".join(lines[-1:]).split("| ")[-1]:
        lines.append(proc.stdout.readline())
    pid = int((tmp_path / ".devenv" / "devenv.pid").read_text())
    assert pid == proc.pid
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert "killing" in out


def test_output_format_and_exit_by_itself(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            services:
              setup:
                x-devenv:
                  run: {PY} -c "print('one'); print('two')"
              check:
                depends_on:
                  setup: {{condition: service_completed_successfully}}
                x-devenv:
                  run: {PY} -c "print('after setup')"
            """
        )
    )
    proc = devenv(tmp_path, "start", "--no-tui")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    lines = [re.sub(r" +\|", " |", line) for line in out.splitlines()]  # unpad names
    assert "setup | one" in lines and "setup | two" in lines
    assert "check | after setup" in lines
    assert lines.index("setup | -- completed: exit 0") < lines.index("check | after setup")
    assert "\x1b[" not in out  # NO_COLOR


def test_selected_service_failing_to_start_exits_non_zero(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", free_port()))
    holder.listen()
    port = holder.getsockname()[1]
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            services:
              api:
                x-devenv:
                  run: {PY} -m http.server {port}
                  ports: [{port}]
              other:
                x-devenv:
                  run: {PY} -c "print('other ran')"
            """
        )
    )
    try:
        proc = devenv(tmp_path, "start", "--no-tui", "api")
        out, _ = proc.communicate(timeout=20)
    finally:
        holder.close()
    assert proc.returncode == 1, out
    # said before anything starts (the pre-flight), naming who holds it
    assert f"host port {port}/tcp is already in use by pid {os.getpid()}" in out
    assert "other ran" not in out  # not selected


def test_unknown_service_lists_the_valid_ones(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  api:\n    x-devenv:\n      run: {PY} -c pass\n"
        f"  worker:\n    x-devenv:\n      run: {PY} -c pass\n"
    )
    proc = devenv(tmp_path, "start", "--no-tui", "apii")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert "no service named 'apii'" in out and "api, worker" in out
    assert "did you mean api?" in out


GRACEFUL = """
import os, signal, sys, time
def bye(*args):
    print("graceful bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
open("svc.pid", "w").write(str(os.getpid()))
print("up", flush=True)
time.sleep(300)
"""


def test_devenv_stop_ends_the_ui_gracefully(tmp_path: Path) -> None:
    import fcntl
    import pty
    import select
    import struct
    import termios

    (tmp_path / "svc.py").write_text(GRACEFUL)
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  api:\n    x-devenv:\n      run: {PY} svc.py\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [PY, "-m", "devenv", "start"],
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=dict(os.environ, TERM="xterm-256color"),
        start_new_session=True,
    )
    os.close(slave)

    def drain() -> None:  # a full pty would block the UI's writes
        while select.select([master], [], [], 0)[0]:
            try:
                if not os.read(master, 1 << 16):
                    return
            except OSError:
                return

    try:
        log = tmp_path / ".devenv" / "logs" / "api.log"

        def up() -> bool:
            drain()
            return log.exists() and " up" in log.read_text()

        wait_for(up, 30, "the service under the UI")
        pid = int((tmp_path / "svc.pid").read_text())
        stop = subprocess.run(
            [PY, "-m", "devenv", "stop"], cwd=tmp_path, capture_output=True, text=True, timeout=30
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr

        def ended() -> bool:
            drain()
            return proc.poll() is not None

        wait_for(ended, 20, "devenv to exit")
        assert proc.returncode == 0
        assert "graceful bye" in log.read_text()  # SIGTERM reached it: an orderly stop
        assert not pid_alive(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_headless_keeps_running_through_a_reload(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "app.py").write_text("import time\nprint('serving', flush=True)\ntime.sleep(300)\n")
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  api:\n    x-devenv:\n      run: {PY} app.py\n      watch: [src/]\n"
    )
    proc = devenv(tmp_path, "start", "--no-tui")
    try:
        log = tmp_path / ".devenv" / "logs" / "api.log"

        def served(times: int) -> bool:
            return log.exists() and log.read_text().count("serving") >= times

        wait_for(lambda: served(1), 20, "the service")
        time.sleep(0.3)  # the watcher is set up as the service starts
        (tmp_path / "src" / "x.py").write_text("1")
        wait_for(lambda: served(2), 10, "the reloaded service")
        time.sleep(0.3)
        assert proc.poll() is None  # still running: a reload is not the end
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert "reloading: src/x.py changed" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_two_starts_in_the_same_instant_run_one_session(tmp_path: Path) -> None:
    """Of two `devenv start` launched together, one runs the stack and the other
    exits non-zero, naming the pid that holds the project and how to stop it."""
    (tmp_path / "worker.py").write_text(
        "import os, time\nopen('started', 'a').write(f'{os.getpid()}\\n')\ntime.sleep(300)\n"
    )
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  worker:\n    x-devenv:\n      run: {PY} worker.py\n"
    )
    first = devenv(tmp_path, "start", "--no-tui")
    second = devenv(tmp_path, "start", "--no-tui")
    try:
        wait_for(lambda: first.poll() is not None or second.poll() is not None, 30, "one to end")
        loser = first if first.poll() is not None else second
        winner = second if loser is first else first
        out, _ = loser.communicate(timeout=10)
        assert loser.returncode == 1, out
        assert f"devenv is already running for this project (pid {winner.pid}" in out
        assert "devenv stop" in out
        wait_for(lambda: (tmp_path / "started").exists(), 20, "the worker")
        time.sleep(0.5)
        assert len((tmp_path / "started").read_text().split()) == 1  # one worker, once
        assert winner.poll() is None
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=20)
