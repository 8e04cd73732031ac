"""The control socket's server and `RemoteEngine` against the test fake of
`EngineAPI`, in one process over a real unix socket: the mirror, event order,
errors, and the TUI attached through it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devenv.control import wire
from devenv.control.client import RemoteEngine
from devenv.control.server import ControlServer, SessionRunning
from devenv.engine.api import Rewrite, UnitInfo, WaitResult
from devenv.errors import SelectionError
from devenv.events import (
    EngineStatus,
    Event,
    LogBatch,
    LogLine,
    LogRecord,
    Notice,
    ProbeResult,
    Progress,
    Reloaded,
    StateChanged,
    Stats,
    StatusChanged,
    UnitState,
)
from tests.functional.fake_engine import demo_engine


async def wait_until(predicate: object, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


@pytest.fixture
async def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = demo_engine()
    exits: list[bool] = []
    async with ControlServer(
        engine, tmp_path, services=["api"], request_exit=exits.append
    ) as server:
        remote = RemoteEngine(server.path)
        await remote.connect()
        try:
            yield engine, remote, exits
        finally:
            await remote.close()


async def test_mirror_starts_as_the_engine_is(served) -> None:  # type: ignore[no-untyped-def]
    engine, remote, _ = served
    assert remote.project_name == "shop" and remote.docker_host == engine.docker_host
    assert list(remote.units()) == list(engine.units())
    assert list(remote.logs()) == sorted(engine.logs(), key=lambda r: r.ts)
    assert list(remote.secrets()) == list(engine.secrets())
    assert remote.status() == engine.status()
    api = remote.logs("api", grep="password", limit=5)
    assert [r.text for r in api] == ["connecting with password s3cr3t-pw"]
    assert [r.unit for r in remote.logs("worker")] == ["worker-1", "worker-2", "worker-3"]
    with pytest.raises(SelectionError, match="did you mean api"):
        remote.logs("apj")


async def test_units_are_updated_before_the_event_is_delivered(served) -> None:  # type: ignore[no-untyped-def]
    engine, remote, _ = served
    seen: list[tuple[Event, UnitState]] = []
    batches: list[LogBatch] = []

    def on_event(event: Event) -> None:
        if isinstance(event, StateChanged):
            state = next(u.state for u in remote.units() if u.name == event.unit)
            seen.append((event, state))

    remote.subscribe(on_event, lines=False)
    remote.subscribe_log_batches(batches.append)
    engine.set_state("api", UnitState.CRASHED, "exit 1", exit_code=1)
    engine.log("api", "Traceback: boom", stream="stderr")
    await wait_until(lambda: seen and batches)
    event, state_then = seen[0]
    assert event.state is UnitState.CRASHED and state_then is UnitState.CRASHED
    assert batches[0].lines == ["Traceback: boom"] and batches[0].stream == "stderr"
    assert remote.logs("api")[-1].text == "Traceback: boom"


async def test_commands_and_their_errors(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine, remote, exits = served
    result = await remote.wait([], timeout=1)
    assert result == WaitResult("ready")
    waited = engine.calls[-1]
    # no names: what the session was started with (api) and what api depends on
    assert waited[0] == "wait" and "api" in waited[1] and "postgres" in waited[1]
    assert "worker-1" not in waited[1]
    await remote.restart(["worker"])  # a service: all its replicas
    assert engine.calls[-1] == ("restart", ("worker-1", "worker-2", "worker-3"))
    await remote.stop(["api"])
    assert engine.calls[-1] == ("stop", ("api",))
    await remote.start(["worker-2"])  # a unit: its service
    assert engine.calls[-1] == ("start", ("worker",))
    with pytest.raises(SelectionError) as error:
        await remote.restart(["apj"])
    assert "no service named 'apj'" in str(error.value) and error.value.hint == "did you mean api?"
    remote.request_stats(True)
    await wait_until(lambda: engine.stats_enabled)
    await remote.set_mode("api", "container")
    assert engine.calls[-1] == ("set_mode", ("api", "container"))

    with pytest.raises(SessionRunning):  # one server per project
        await ControlServer(engine, tmp_path).start()
    waiting = asyncio.create_task(remote.shutdown())
    await wait_until(lambda: exits == [False])
    assert not waiting.done()  # waits for the session to end


async def test_session_end_is_seen(tmp_path: Path) -> None:
    engine = demo_engine()
    server = ControlServer(engine, tmp_path)
    await server.start()
    remote = RemoteEngine(server.path)
    await remote.connect()
    notices: list[Event] = []
    remote.subscribe(notices.append, lines=False)
    await server.close()
    await asyncio.wait_for(remote.disconnected.wait(), 5)
    assert remote.status().stopping
    assert any(isinstance(e, Notice) and "ended" in e.text for e in notices)
    assert not server.path.exists()
    await remote.close()


async def test_the_tui_attached_through_the_socket(served) -> None:  # type: ignore[no-untyped-def]
    from devenv.tui.app import make_app

    engine, remote, exits = served
    app = make_app(remote, attached=True, spinner=False, cursor_blink=False, stats=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        assert ("start", ()) not in engine.calls  # attached: the session is already started
        await pilot.press("r")  # the first row: postgres
        await wait_until(lambda: ("restart", ("postgres",)) in engine.calls)
        await pilot.press("q")
        await pilot.pause()
    assert not exits and not any(c[0] == "shutdown" for c in engine.calls)  # q detaches


def test_every_contract_value_travels_as_json() -> None:
    samples = [
        UnitInfo(
            "api-2",
            "api",
            "process",
            UnitState.READY,
            health="healthy",
            ports=(3001,),
            environment=(("A", "b"),),
            modes=("process", "container"),
            rewrites=(Rewrite("DB", "db:5432", "127.0.0.1:5432", "db"),),
        ),
        Rewrite("DB", "db:5432", "127.0.0.1:5432", "db"),
        WaitResult("timeout", "api", "starting: probe"),
        LogRecord("api", "stderr", "x", 1.5),
        EngineStatus("shop", 42, "unreachable", "connection refused", "bad yaml", True),
        StateChanged("api", "api", UnitState.CRASHED, "exit 1", 1, 42, 2.0),
        LogLine(LogRecord("api", "stdout", "y", 3.0), "api"),
        LogBatch("api", "api", "stdout", 4.0, ["a", "b"]),
        Reloaded("api", "api", ("a.py",)),
        ProbeResult("api", "api", False, "refused"),
        Progress("db", "db", "pull", "downloading", 10, 100),
        Stats("api", "api", 1.5, 1024),
        Notice("disk full", "error", "api", 5.0),
        StatusChanged(EngineStatus("shop")),
    ]
    assert {type(s).__name__ for s in samples} == set(wire.TYPES)  # a new type needs a sample
    for sample in samples:
        assert wire.decode(json.loads(json.dumps(wire.encode(sample)))) == sample


async def test_a_project_too_deep_for_a_socket_path(tmp_path: Path) -> None:
    from devenv.control.paths import socket_path

    deep = tmp_path / ("d" * 90) / ".devenv"
    path = socket_path(deep)
    assert len(str(path)) < 100 and path.parent.name.startswith("devenv")
    assert socket_path(deep) == path  # every command finds the same one
    server = ControlServer(demo_engine(), deep)
    await server.start()
    try:
        remote = RemoteEngine.for_state_dir(deep)
        await remote.connect()
        assert remote.project_name == "shop"
        await remote.close()
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)
    finally:
        await server.close()
    assert not path.exists()
