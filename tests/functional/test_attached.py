"""Attached to a session running elsewhere: the engine is not started again, `q`
detaches (the stack keeps running), `Q` stops the session after asking, and the
in-process UI keeps its own meaning of `q`."""

from __future__ import annotations

import asyncio

from textual.message import Message
from textual.widgets import Static

from devenv.events import UnitState
from devenv.tui.app import DevenvApp
from devenv.tui.screens import ConfirmScreen, QuitScreen
from tests.functional.conftest import deterministic_app, wait_for
from tests.functional.fake_engine import FakeEngine

SIZE = (120, 36)


def attached_app(engine: FakeEngine, **options: object) -> DevenvApp:
    return deterministic_app(engine, attached=True, **options)


def header(app: DevenvApp) -> str:
    return str(app.query_one("#header", Static).render())


async def shown(pilot: object, app: DevenvApp) -> None:
    await wait_for(pilot, lambda: app.table.row_count > 0)  # type: ignore[arg-type]


async def test_attaching_does_not_start_the_session_again(engine: FakeEngine) -> None:
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        await pilot.pause(0.1)
        assert not [c for c in engine.calls if c[0] == "start"]
        assert "attached (pid 4100)" in header(app) and "7/7 ready" in header(app)
        assert len(app.log_view.displayed_texts()) == 10  # the session's history


async def test_attached_may_start_services_when_asked(engine: FakeEngine) -> None:
    app = attached_app(engine, start=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: ("start", ()) in engine.calls)


async def test_q_detaches_and_leaves_the_stack_running(engine: FakeEngine) -> None:
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        assert engine.stats_enabled and engine._subscribers and engine._batch_subscribers
        await pilot.press("q")
        await wait_for(pilot, lambda: app._exit)
    assert app.return_code == 0
    assert not [c for c in engine.calls if c[0] in ("shutdown", "stop")]
    assert all(u.state in (UnitState.READY, UnitState.COMPLETED) for u in engine.units())
    # Nothing of this UI is left in the session: no callbacks, no stats requested.
    assert not engine._subscribers and not engine._batch_subscribers
    assert not engine.stats_enabled


async def test_ctrl_c_detaches_too(engine: FakeEngine) -> None:
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app._exit)
    assert not [c for c in engine.calls if c[0] == "shutdown"]


async def test_Q_asks_then_stops_the_whole_session(engine: FakeEngine) -> None:
    engine.shutdown_gate = asyncio.Event()
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        await pilot.press("Q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # no: nothing happens
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not [c for c in engine.calls if c[0] == "shutdown"]
        await pilot.press("Q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: ("shutdown", ()) in engine.calls)
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert "stopping" in header(app)
        engine.shutdown_gate.set()
        await wait_for(pilot, lambda: app.engine_stopped)
    assert app.return_code == 0
    assert all(u.state in (UnitState.STOPPED, UnitState.COMPLETED) for u in engine.units())


async def test_Q_again_while_stopping_forces_and_q_detaches(engine: FakeEngine) -> None:
    engine.shutdown_gate = asyncio.Event()  # the polite stop never finishes
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        await pilot.press("Q", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("Q")
        await wait_for(pilot, lambda: ("shutdown", ("force",)) in engine.calls)
        await wait_for(pilot, lambda: app.engine_stopped)

    engine = FakeEngine(units_=list(engine.units_))
    engine.shutdown_gate = asyncio.Event()
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        await pilot.press("Q", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("q")  # leave it stopping on its own
        await wait_for(pilot, lambda: app._exit)
    assert ("shutdown", ("force",)) not in engine.calls


async def test_in_process_Q_does_nothing_and_q_still_quits(engine: FakeEngine) -> None:
    messages: list[Message] = []
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await wait_for(pilot, lambda: ("start", ()) in engine.calls)
        await pilot.press("Q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: ("shutdown", ()) in engine.calls)


async def test_session_ended_closes_the_ui(engine: FakeEngine) -> None:
    app = attached_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot, app)
        app.session_ended("the session of shop ended (stopped from another terminal)")
        await wait_for(pilot, lambda: app._exit)
    assert not engine._subscribers
    assert not [c for c in engine.calls if c[0] == "shutdown"]
