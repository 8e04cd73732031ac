"""What the engine tells, as the UI shows it: the session's status, notices, the
pulling/building states, replicas scaled to zero, crashes apart from reloads, a
build beside a serving instance, and no stale figures for a unit that is gone."""

from __future__ import annotations

from dataclasses import replace

from textual.message import Message
from textual.notifications import Notify
from textual.widgets import ProgressBar, Static

from devenv.events import Notice, Progress, Stats, UnitState
from devenv.tui.app import DevenvApp
from devenv.tui.format import DASH
from devenv.tui.messages import EngineCommand
from devenv.tui.screens import NoticesScreen
from tests.functional.conftest import (
    deterministic_app,
    select,
    started,
    static_text,
    wait_for,
)
from tests.functional.fake_engine import FakeEngine, demo_engine

SIZE = (160, 40)


def header(app: DevenvApp) -> str:
    return str(app.query_one("#header", Static).render())


def alert(app: DevenvApp) -> str:
    box = app.query_one("#alert", Static)
    return str(box.render()) if box.display else ""


def cell(app: DevenvApp, row: str, column: str) -> str:
    return str(app.table.get_cell(row, column))


def notified(messages: list[Message]) -> list[tuple[str, str]]:
    """(severity, text) of every toast the app raised, once each."""
    seen = {id(m): m for m in messages if isinstance(m, Notify)}
    return [(m.notification.severity, m.notification.message) for m in seen.values()]


async def test_docker_unreachable_is_shown_in_the_header_with_the_detail(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert "unreachable" not in header(app) and alert(app) == ""
        engine.set_status(docker="unreachable", docker_detail="connection refused")
        await wait_for(pilot, lambda: "Docker unreachable, retrying" in header(app))
        assert "Docker unreachable, retrying: connection refused" in alert(app)
        assert "docker unix://" not in header(app)  # the host is not "there" now
        engine.set_status(docker="connected", docker_detail="")
        await wait_for(pilot, lambda: "unreachable" not in header(app))
        assert alert(app) == "" and "docker unix:///var/run/docker.sock" in header(app)


async def test_status_read_at_start_counts(engine: FakeEngine) -> None:
    engine.set_status(docker="unreachable", docker_detail="no such socket")
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert "Docker unreachable, retrying" in header(app)


async def test_refused_config_edit_is_shown_until_fixed(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        error = "compose.yaml:14: services.api.ports[0]: '[abc]' is not a port"
        engine.set_status(config_error=error)
        # Shown as written (no markup: "[abc]" stays), with what it means.
        await wait_for(pilot, lambda: error in alert(app))
        assert "the old stack runs on" in alert(app)
        engine.set_status(config_error=None)
        await wait_for(pilot, lambda: alert(app) == "")


async def test_notices_become_toasts_and_stay_in_a_list(engine: FakeEngine) -> None:
    messages: list[Message] = []
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        engine.emit(Notice("cannot write .devenv/logs/api.log: disk full", "warning", unit="api"))
        engine.emit(Notice("compose.yaml: api restarted (environment changed)", "info"))
        engine.emit(Notice("log files work again", "error", unit="api"))
        await wait_for(pilot, lambda: len(notified(messages)) == 3)
        assert notified(messages) == [
            ("warning", "cannot write .devenv/logs/api.log: disk full"),
            ("information", "compose.yaml: api restarted (environment changed)"),
            ("error", "log files work again"),
        ]
        # Warnings and errors wait to be read: the header says how many, and the key.
        await wait_for(pilot, lambda: "2 notices (e)" in header(app))
        await pilot.press("e")
        assert isinstance(app.screen, NoticesScreen)
        text = static_text(app.screen.query_one("#notices", Static))
        assert "api: cannot write .devenv/logs/api.log: disk full" in text
        assert "compose.yaml: api restarted" in text and "warning" in text
        assert "notices (e)" not in header(app)  # read now
        await pilot.press("e")
        assert not isinstance(app.screen, NoticesScreen)


async def test_notice_list_is_bounded(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        for i in range(150):
            engine.emit(Notice(f"notice {i}", "warning"))
        await wait_for(pilot, lambda: "150 notices" in header(app))
        texts = [n.text for n in app.notices]
        assert len(texts) == 100 and texts[-1] == "notice 149" and texts[0] == "notice 50"


async def test_engine_events_during_teardown_are_ignored(
    app: DevenvApp, engine: FakeEngine
) -> None:
    """Events still queued when the UI closes (quit, detach, a test's end) find the
    main screen's widgets gone: they are dropped, not a NoMatches crash at exit."""
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        for i in range(300):
            engine.emit(Notice(f"notice {i}", "warning"))
    # leaving the block closed the app with those events still queued; it raised nothing


async def test_a_failed_command_is_an_error_notice(engine: FakeEngine) -> None:
    messages: list[Message] = []
    app = deterministic_app(engine)

    async def refuse(units: object = ()) -> None:
        raise RuntimeError("api is being switched")

    engine.restart = refuse  # type: ignore[method-assign]
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(list(app.notices)))
        assert any(isinstance(m, EngineCommand) and m.command == "restart" for m in messages)
        assert ("error", "restart api failed: api is being switched") in notified(messages)


async def test_pulling_and_building_show_with_a_progress_bar(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        engine.set_state("postgres", UnitState.PULLING)
        engine.emit(Progress("postgres", "postgres", "pull", "Downloading", 30, 100))
        await wait_for(pilot, lambda: "pulling" in cell(app, "postgres", "state"))
        await wait_for(pilot, lambda: bool(app.query(".progress-row")))
        bar = app.query_one("#progress").query_one(ProgressBar)
        await wait_for(pilot, lambda: bar.progress == 30)
        engine.set_state("postgres", UnitState.BUILDING)
        engine.emit(Progress("postgres", "postgres", "build", "Step 2/5", None, None))
        await wait_for(pilot, lambda: "building" in cell(app, "postgres", "state"))
        assert app.query(".progress-row")  # the bar stays through the build
        engine.set_state("postgres", UnitState.STARTING)
        await wait_for(pilot, lambda: not app.query(".progress-row"))


async def test_scaled_to_zero_is_one_row(engine: FakeEngine) -> None:
    workers = [u for u in engine.units_ if u.service == "worker"]
    engine.units_ = [u for u in engine.units_ if u.service != "worker"] + [
        replace(
            workers[0],
            name="worker",
            replica=0,
            state=UnitState.STOPPED,
            pid=None,
            started_at=None,
            cpu_percent=None,
            memory_bytes=None,
        )
    ]
    messages: list[Message] = []
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        assert [r.key for r in app.table.rows_model][-1] == "worker"
        assert "scaled to zero" in cell(app, "worker", "state")
        assert "4/4 ready" in header(app)  # no instance is not a unit waiting
        await select(pilot, app, "worker")
        await pilot.press("r", "s")
        await pilot.pause()
        assert not [m for m in messages if isinstance(m, EngineCommand)]
        assert any("scaled to zero" in text for _, text in notified(messages))
        await pilot.press("d")
        await pilot.pause()
        assert "scaled to zero" in static_text(app.screen.query_one("#details", Static))


async def test_crashes_and_reloads_are_counted_apart(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert cell(app, "api", "restarts") == "1" and cell(app, "api", "reloads") == "4"
        engine.update("api", reloads=5)
        engine.set_state("api", UnitState.READY)
        await wait_for(pilot, lambda: cell(app, "api", "reloads") == "5")
        assert cell(app, "api", "restarts") == "1"
        assert cell(app, "service:worker", "reloads") == "0"


async def test_a_build_beside_the_serving_instance(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        engine.update("api", build="building")
        engine.set_state("api", UnitState.READY)
        await wait_for(pilot, lambda: "ready · building" in cell(app, "api", "state"))
        engine.update("api", build="build failed: main.go:3: syntax error")
        engine.set_state("api", UnitState.READY)
        await wait_for(pilot, lambda: "build failed" in cell(app, "api", "state"))
        assert "build failed  main.go:3: syntax error" in cell(app, "api", "state")  # the reason
        await select(pilot, app, "api")
        await pilot.press("d")
        await pilot.pause()
        details = static_text(app.screen.query_one("#details", Static))
        assert "build failed: main.go:3: syntax error" in details
        assert "keeps serving" in details


async def test_a_gone_unit_shows_no_stale_health_cpu_or_memory(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        engine.emit(Stats("api", "api", 42.0, 100 * 1024 * 1024))
        await wait_for(pilot, lambda: cell(app, "api", "cpu") == "42%")
        assert cell(app, "api", "health") == "healthy"
        # The engine's own snapshot still carries figures; the UI shows none.
        engine.set_state("api", UnitState.CRASHED, "exited with code 1", exit_code=1)
        await wait_for(pilot, lambda: "crashed" in cell(app, "api", "state"))
        assert (cell(app, "api", "cpu"), cell(app, "api", "mem")) == (DASH, DASH)
        assert cell(app, "api", "health") == DASH
        assert "api" not in app.stats  # the cached sample is dropped, not hidden
        engine.set_state("api", UnitState.READY)
        await wait_for(pilot, lambda: "ready" in cell(app, "api", "state"))
        assert cell(app, "api", "cpu") == "4%"  # the engine's figure, not the old 42%


async def test_stopped_unit_too(engine: FakeEngine) -> None:
    engine = demo_engine()
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "redis")
        await pilot.press("s")
        await wait_for(pilot, lambda: "stopped" in cell(app, "redis", "state"))
        assert cell(app, "redis", "mem") == DASH and cell(app, "redis", "health") == DASH
