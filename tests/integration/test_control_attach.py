"""`devenv attach`: the terminal UI on a detached session, in a real pty. Keys act
on the session; two terminals attached at once see the same state; `q`
detaches and the stack keeps running."""

from __future__ import annotations

from pathlib import Path

from control_support import (
    SECRET,
    Terminal,
    cli,
    project,  # noqa: F401 (fixture)
    status,
    unit,
    wait_for,
)
from engine_support import hang_guard, pid_alive  # noqa: F401 (autouse fixture)


def test_two_attached_terminals_select_restart_and_detach(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api", "worker").returncode == 0
    api_pid = unit(project, "api")["pid"]
    worker_pid = unit(project, "worker")["pid"]
    first = Terminal(project, "attach")
    second = Terminal(project, "attach")
    try:
        for term in (first, second):
            term.wait_text("2/4 ready")  # the session's state, from its snapshot
            term.wait_text(f"up pid={api_pid}")  # and its recent logs
        mark = second.mark()

        first.press("j")  # select worker
        first.wait_text("logs · worker")
        first.press("r")  # restart it
        wait_for(
            lambda: unit(project, "worker")["pid"] not in (None, worker_pid),
            15,
            "worker's new instance",
        )
        new_pid = unit(project, "worker")["pid"]
        assert unit(project, "api")["pid"] == api_pid  # only the selected one
        assert not pid_alive(worker_pid)
        for term in (first, second):  # both see the new instance's output
            term.wait_text(f"up pid={new_pid}")
        second.wait_text("2/4 ready", after=mark)
        for term in (first, second):
            assert SECRET not in term.text()  # masked as in the in-process UI

        first.press("q")  # detach
        assert first.proc.wait(timeout=15) == 0
        assert "detached" in first.text()
        assert second.proc.poll() is None  # the other terminal is still attached
        state = status(project)
        assert state["running"] is True
        assert {u["name"]: u["state"] for u in state["units"]}["api"] == "ready"
        assert pid_alive(api_pid) and pid_alive(new_pid)

        second.press("q")
        assert second.proc.wait(timeout=15) == 0
        assert status(project)["running"] is True
    finally:
        first.close()
        second.close()


def test_attached_ui_closes_when_the_session_ends(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api").returncode == 0
    term = Terminal(project, "attach")
    try:
        term.wait_text("1/4 ready")
        assert cli(project, "stop").returncode == 0
        assert term.proc.wait(timeout=20) == 0
        term.wait_text("the session ended")
    finally:
        term.close()


def test_the_ui_session_answers_other_shells(project: Path) -> None:  # noqa: F811
    """`devenv` with its UI serves the socket too: commands from another shell act
    on it, and `devenv stop` ends it in order."""
    term = Terminal(project, "start", "api", "worker")
    try:
        term.wait_text("ready")
        wait_for(lambda: status(project).get("running"), 20, "the UI session's socket")
        wait_for(lambda: unit(project, "api")["state"] == "ready", 20, "api ready")
        old_pid = unit(project, "api")["pid"]
        assert cli(project, "restart", "api").returncode == 0
        wait_for(lambda: unit(project, "api")["pid"] not in (None, old_pid), 15, "a new api")
        term.wait_text(f"up pid={unit(project, 'api')['pid']}")  # shown in that UI
        assert cli(project, "stop").returncode == 0
        assert term.proc.wait(timeout=30) == 0
        assert not pid_alive(old_pid)
    finally:
        term.close()


def test_devenv_on_a_terminal_opens_the_ui_on_the_running_session(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api").returncode == 0
    term = Terminal(project, "start", "worker")  # `devenv start worker`, on a terminal
    try:
        term.wait_text("2/4 ready")  # worker started in the session, and the UI on it
        term.press("q")
        assert term.proc.wait(timeout=15) == 0
        assert "detached" in term.text()
        assert unit(project, "worker")["state"] == "ready"  # the session goes on
    finally:
        term.close()
