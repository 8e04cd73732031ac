"""The control socket through the real CLI: `devenv start -d` and the commands that
talk to the session it leaves running (status, restart, stop/start SERVICE,
wait, logs), bad input, a killed session's stale socket, and who may connect."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from control_support import (
    PY,
    SECRET,
    cli,
    project,  # noqa: F401 (fixture)
    session_pid,
    status,
    tree_of,
    unit,
    wait_for,
)
from engine_support import hang_guard, pid_alive  # noqa: F401 (autouse fixture)


def test_detached_session_from_start_to_stop(project: Path) -> None:  # noqa: F811
    started = cli(project, "start", "-d", "api", "worker")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "running in the background" in started.stdout
    assert "devenv attach" in started.stdout and "devenv stop" in started.stdout
    assert (project / ".devenv" / "session.log").exists()

    state = status(project)
    assert state["running"] is True and state["pid"] == session_pid(project)
    units = {u["name"]: u for u in state["units"]}
    assert units["api"]["state"] == "ready" and units["worker"]["state"] == "ready"
    assert units["broken"]["state"] == "stopped"  # not selected, not started
    assert units["broken"]["detail"] == "not started"
    env = dict(units["api"]["environment"])
    assert env["API_TOKEN"] == "••••••"  # masked in the CLI's output too
    assert SECRET not in json.dumps(state)
    text = cli(project, "status")
    assert text.returncode == 0 and "devenv is running" in text.stdout

    # restart: a new instance, with a new pid
    old_pid = units["api"]["pid"]
    restarted = cli(project, "restart", "api", "--json")
    assert restarted.returncode == 0, restarted.stderr
    answer = json.loads(restarted.stdout)
    assert [u["name"] for u in answer["units"]] == ["api"]
    wait_for(lambda: unit(project, "api")["pid"] not in (None, old_pid), 10, "a new api pid")
    assert not pid_alive(old_pid)
    assert cli(project, "wait", "api").returncode == 0

    # stop and start one service; the session keeps running
    stopped = cli(project, "stop", "worker")
    assert stopped.returncode == 0 and "stopped worker" in stopped.stdout
    assert unit(project, "worker")["state"] == "stopped"
    assert unit(project, "api")["state"] == "ready"
    again = cli(project, "start", "worker")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout and "worker" in again.stdout
    assert unit(project, "worker")["state"] == "ready"

    # logs from the live session: since, grep, json
    logs = cli(project, "logs", "api", "--since", "1m", "--grep", "up pid=", "--json")
    assert logs.returncode == 0, logs.stderr
    records = [json.loads(line) for line in logs.stdout.splitlines()]
    assert len(records) == 2  # the first instance and the restarted one
    assert all(r["unit"] == "api" and "up pid=" in r["text"] for r in records)
    assert cli(project, "logs", "api", "--since", "2h", "--grep", "nothing like this").stdout == ""
    future = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3600))
    assert cli(project, "logs", "api", "--since", future).stdout == ""
    errors = cli(project, "logs", "worker", "--grep", "disk")
    assert "worker | worker warning: disk almost full" in errors.stdout

    # the whole session
    pid = session_pid(project)
    assert pid is not None
    tree = [p.pid for p in tree_of(pid)]
    stopped_all = cli(project, "stop")
    assert stopped_all.returncode == 0 and "stopped" in stopped_all.stdout
    wait_for(lambda: not [p for p in tree if pid_alive(p)], 10, "every process to end")
    assert not (project / ".devenv" / "control.sock").exists()
    after = cli(project, "status")
    assert after.returncode == 3 and "not running" in after.stdout
    # with no session, logs come from .devenv/logs, with the same filters
    kept = cli(project, "logs", "api", "--since", "10m", "--grep", "up pid=", "--json")
    assert kept.returncode == 0, kept.stderr
    assert [json.loads(line)["text"] for line in kept.stdout.splitlines()] == [
        r["text"] for r in records
    ]


def test_logs_follow_streams_new_lines(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api").returncode == 0
    follow = subprocess.Popen(
        [PY, "-m", "devenv", "logs", "api", "--follow", "--grep", "up pid", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        first = json.loads(follow.stdout.readline())  # from the ring buffer
        assert "up pid=" in first["text"]
        assert cli(project, "restart", "api").returncode == 0
        second = json.loads(follow.stdout.readline())  # live
        assert "up pid=" in second["text"] and second["ts"] > first["ts"]
        assert second["text"] != first["text"]
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)


def test_wait_ready_failed_and_timeout(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api").returncode == 0
    ready = cli(project, "wait", "api", "--json")
    assert ready.returncode == 0
    assert json.loads(ready.stdout)["outcome"] == "ready"

    # a service that crashes, started into the running session
    broken = cli(project, "start", "broken")
    assert broken.returncode == 1
    assert "broken failed: crashed" in broken.stderr and "devenv logs broken" in broken.stderr
    failed = cli(project, "wait", "broken")
    assert failed.returncode == 1 and "broken failed" in failed.stderr

    # a service that never gets ready
    started = time.monotonic()
    never = cli(project, "start", "never", "--timeout", "1s")
    assert never.returncode == 2, never.stdout + never.stderr
    late = cli(project, "wait", "never", "--timeout", "1s", "--json")
    assert late.returncode == 2
    assert json.loads(late.stdout) == {
        "outcome": "timeout",
        "unit": "never",
        "reason": json.loads(late.stdout)["reason"],
    }
    assert time.monotonic() - started < 30
    assert unit(project, "api")["state"] == "ready"  # none of it disturbed the session


def test_start_detached_reports_a_failure(project: Path) -> None:  # noqa: F811
    done = cli(project, "start", "-d", "broken")
    assert done.returncode == 1
    assert "broken failed: crashed: exit 3" in done.stderr
    again = cli(project, "start", "broken", "--json")  # into the session, as JSON
    assert again.returncode == 1
    answer = json.loads(again.stdout)
    assert answer["outcome"] == "failed" and answer["unit"] == "broken"
    assert answer["pid"] == session_pid(project)
    assert [u["name"] for u in answer["units"]] == ["broken"]
    assert status(project)["running"] is True  # the session stays, to be fixed and retried


def test_bad_input_and_no_session(project: Path) -> None:  # noqa: F811
    for command in (["restart", "api"], ["wait"], ["stop", "api"], ["attach"]):
        done = cli(project, *command)
        assert done.returncode == 3, (command, done.stdout, done.stderr)
        (line,) = done.stderr.strip().splitlines()  # one line, saying how to start one
        assert line.startswith("devenv: no devenv session is running for this project: ")
        assert "devenv start -d" in line
    assert cli(project, "status").returncode == 3

    assert cli(project, "start", "-d", "api").returncode == 0
    typo = cli(project, "restart", "apj")
    assert typo.returncode == 1
    assert "no service named 'apj'" in typo.stderr
    assert "api, broken, never, worker" in typo.stderr and "did you mean api?" in typo.stderr
    for command in (["logs", "wroker"], ["wait", "wroker"], ["stop", "wroker"]):
        done = cli(project, *command)
        assert done.returncode == 1 and "did you mean worker?" in done.stderr, done.stderr
    bad = cli(project, "logs", "api", "--grep", "(")
    assert bad.returncode == 1 and "not a regular expression" in bad.stderr
    since = cli(project, "logs", "--since", "yesterday")
    assert since.returncode == 1 and "--since" in since.stderr
    assert cli(project, "wait", "--timeout", "soon").returncode == 1


def test_stale_socket_of_a_killed_session_is_replaced(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api").returncode == 0
    sock = project / ".devenv" / "control.sock"
    pid = session_pid(project)
    api_pid = unit(project, "api")["pid"]
    assert pid is not None and sock.is_socket()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 10, "the session to die")
    wait_for(lambda: not pid_alive(api_pid), 10, "its guard to stop api")
    assert sock.is_socket()  # left behind: nobody could remove it

    done = cli(project, "status")
    assert done.returncode == 3 and "not running" in done.stdout
    assert not sock.exists()  # found stale (nobody listens, its pid is dead) and removed

    os.mknod(sock, stat.S_IFSOCK | 0o600)  # a dead socket again, found by the next start
    again = cli(project, "start", "-d", "api")
    assert again.returncode == 0, again.stdout + again.stderr
    assert status(project)["running"] is True


def test_socket_is_private_and_other_users_are_refused(project: Path) -> None:  # noqa: F811
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a client as another user")
    assert cli(project, "start", "-d", "api").returncode == 0
    sock = project / ".devenv" / "control.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert sock.stat().st_uid == os.geteuid()

    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as e:\n"
        "    print('connect:', e.errno); sys.exit(0)\n"
        "s.sendall(b'GET /v1/units HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "print(s.makefile('rb').readline().decode().strip())\n"
    )
    # the directory must let `nobody` reach the socket for the refusal to be the socket's
    for path in (project, project / ".devenv"):
        path.chmod(0o755)
    for parent in project.parents:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)

    def as_nobody() -> str:
        return subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                PY,
                "-c",
                probe,
                str(sock),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()

    assert as_nobody() == "connect: 13"  # EACCES: 0600 keeps other users out
    sock.chmod(0o666)  # even when the file mode lets them connect...
    try:
        assert as_nobody() == "HTTP/1.1 403 Forbidden"  # ...SO_PEERCRED refuses them
    finally:
        sock.chmod(0o600)
    assert status(project)["running"] is True  # our own user still gets in


def test_a_foreground_session_answers_other_shells(project: Path) -> None:  # noqa: F811
    session = subprocess.Popen(
        [PY, "-m", "devenv", "start", "--no-tui", "api"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        start_new_session=True,
    )
    try:
        wait_for(lambda: cli(project, "wait", "api").returncode == 0, 30, "api ready")
        old_pid = unit(project, "api")["pid"]
        assert cli(project, "restart", "api").returncode == 0
        assert unit(project, "api")["pid"] != old_pid
        shutdown = cli(project, "stop")
        assert shutdown.returncode == 0
        out, _ = session.communicate(timeout=30)
        assert session.returncode == 0
        assert out.count("| api up pid=") == 2  # both instances printed by the session
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
