"""Pilot tests: every key of the TUI, asserting on app state, engine calls and messages."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.message import Message

from devenv.events import LogLine, LogRecord, Progress, StateChanged, UnitState
from devenv.tui.app import DevenvApp
from devenv.tui.format import MASK
from devenv.tui.logpane import LogsArrived
from devenv.tui.messages import UnitsChanged
from devenv.tui.screens import DetailsScreen, HelpScreen, QuitScreen
from tests.functional.conftest import (
    Opened,
    deterministic_app,
    row_keys,
    select,
    started,
    wait_for,
)
from tests.functional.fake_engine import FakeEngine

SIZE = (120, 36)


async def test_startup_starts_engine_and_shows_every_unit(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert row_keys(app) == ["postgres", "redis", "migrate", "api", "service:worker"]
        header = str(app.query_one("#header").render())
        assert "shop" in header and "7/7 ready" in header and "docker" in header
        assert engine.stats_enabled
        assert app.source.is_all
        assert len(app.log_view.displayed_texts()) == 10


async def test_j_k_and_arrows_select_and_switch_log_source(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("j", "j", "j")
        assert app.table.selected is not None and app.table.selected.key == "api"
        assert app.source.unit == "api"
        assert all(
            "GET" in t or "INFO" in t or "WARN" in t or "password" in t
            for t in app.log_view.displayed_texts()
        )
        assert not app.log_view.show_prefix
        await pilot.press("k")
        assert app.source.unit == "migrate"
        assert app.log_view.displayed_texts() == ["applied 3 migrations"]
        await pilot.press("down", "down")
        assert app.table.selected is not None and app.table.selected.key == "service:worker"
        assert app.source.service == "worker" and app.log_view.show_prefix
        assert len(app.log_view.displayed_texts()) == 3
        await pilot.press("up")
        assert app.source.unit == "api"


async def test_enter_focuses_logs_and_escape_returns(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert app.focused is app.table
        await pilot.press("j", "enter")
        assert app.focused is app.log_view
        assert app.source.unit == "redis"
        await pilot.press("escape")
        assert app.focused is app.table


async def test_r_restarts_selected_and_R_restarts_all(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("r")
        await wait_for(pilot, lambda: ("restart", ("api",)) in engine.calls)
        await wait_for(pilot, lambda: "2" in str(app.table.get_cell("api", "restarts")))
        await pilot.press("R")
        await wait_for(pilot, lambda: ("restart", ()) in engine.calls)


async def test_s_stops_then_starts(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "redis")
        await pilot.press("s")
        await wait_for(pilot, lambda: ("stop", ("redis",)) in engine.calls)
        await wait_for(pilot, lambda: "stopped" in str(app.table.get_cell("redis", "state")))
        await pilot.press("s")
        await wait_for(pilot, lambda: ("start", ("redis",)) in engine.calls)
        await wait_for(pilot, lambda: "ready" in str(app.table.get_cell("redis", "state")))


async def test_s_on_replica_group_stops_every_replica(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "service:worker")
        await pilot.press("s")
        await wait_for(
            pilot, lambda: ("stop", ("worker-1", "worker-2", "worker-3")) in engine.calls
        )


async def test_a_toggles_all_logs(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("j")
        assert app.source.unit == "redis"
        await pilot.press("a")
        assert app.source.is_all and app.log_view.show_prefix
        assert len(app.log_view.displayed_texts()) == 10
        await pilot.press("a")
        assert app.source.unit == "redis"


async def test_live_lines_reach_the_selected_source_only(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "redis")
        engine.log("api", "not for redis")
        engine.log("redis", "for redis")
        await wait_for(pilot, lambda: "for redis" in app.log_view.displayed_texts())
        assert "not for redis" not in app.log_view.displayed_texts()


async def test_search_highlights_and_n_N_move_between_matches(
    app: DevenvApp, engine: FakeEngine
) -> None:
    for i in range(200):
        engine.log("api", f"request {i} {'needle' if i % 50 == 7 else 'hay'}")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        view = app.log_view
        await pilot.press("slash")
        assert app.focused is app.log_pane.prompt
        await pilot.press(*"needle", "enter")
        assert view.search == "needle"
        assert app.focused is view
        texts = view.displayed_texts()
        matches = [i for i, t in enumerate(texts) if "needle" in t]
        assert len(matches) == 4
        first = view.match
        assert first is not None and "needle" in texts[first]
        assert not view.follow  # a search stops following
        await pilot.press("n")
        assert view.match == matches[matches.index(first) + 1]
        await pilot.press("N")
        assert view.match == first
        # The match is on screen and highlighted: rendered with the reverse style.
        row = view._abs_to_row(first) - int(view.scroll_y)
        assert 0 <= row < view.size.height
        strip = view.render_line(row)
        assert any(seg.style is not None and seg.style.reverse for seg in strip)
        await pilot.press("escape")  # escape clears the search
        assert view.search == ""


async def test_f_filters_lines(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("f", *"waiting", "enter")
        assert app.log_view.filter == "waiting"
        assert app.log_view.displayed_texts() == [
            "worker 1 waiting for jobs",
            "worker 2 waiting for jobs",
            "worker 3 waiting for jobs",
        ]
        engine.log("api", "still waiting")
        engine.log("api", "unrelated")
        await wait_for(pilot, lambda: "still waiting" in app.log_view.displayed_texts())
        assert "unrelated" not in app.log_view.displayed_texts()
        await pilot.press("f", "ctrl+u", "enter")  # an empty filter shows everything again
        assert app.log_view.filter == ""
        assert len(app.log_view.displayed_texts()) == 12


async def test_w_wraps_and_t_shows_timestamps(app: DevenvApp, engine: FakeEngine) -> None:
    engine.log("api", "x" * 500)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, engine)
        view = app.log_view
        unwrapped = view.row_count
        assert view.virtual_size.width > 500
        await pilot.press("w")
        assert view.wrap and view.row_count >= unwrapped + 6
        assert view.virtual_size.width == 0
        await pilot.press("w")
        assert not view.wrap and view.row_count == unwrapped
        await pilot.press("t")
        assert view.timestamps
        # T0 + 60 in local time, formatted as the first column.
        first = "".join(seg.text for seg in view._render_entry(view._metas[0], view._texts[0], 0))
        assert first[2] == ":" and first[5] == ":" and first[8] == "."
        await pilot.press("t")
        assert not view.timestamps


async def test_c_clears_the_log_pane(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("c")
        assert app.log_view.displayed_texts() == []
        engine.log("api", "after clear", ts=time.time() + 1)
        await wait_for(pilot, lambda: app.log_view.displayed_texts() == ["after clear"])
        await pilot.press("j", "a")  # away and back: the cleared lines stay gone
        assert app.log_view.displayed_texts() == ["after clear"]


async def test_o_and_click_open_the_port(
    app: DevenvApp, engine: FakeEngine, opened: Opened
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("o")
        assert opened == ["http://localhost:3000"]
        await pilot.press("k")  # migrate: no port, nothing opens
        await pilot.press("o")
        assert opened == ["http://localhost:3000"]
        # Click the postgres row's port cell.
        table = app.table
        column = list(table.columns).index("ports")
        x = sum(c.get_render_width(table) for c in table.ordered_columns[:column]) + 2
        await pilot.click(table, offset=(x, 1))  # row 0 under the header
        await pilot.pause()
        assert opened[-1] == "http://localhost:5432"


async def test_mouse_click_selects_a_row(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.click(app.table, offset=(3, 4))  # header + postgres, redis, migrate → api
        await pilot.pause()
        assert app.table.selected is not None and app.table.selected.key == "api"
        assert app.source.unit == "api"


async def test_space_expands_replicas(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "service:worker")
        await pilot.press("space")
        assert row_keys(app)[-3:] == ["worker-1", "worker-2", "worker-3"]
        await pilot.press("j")
        assert app.source.unit == "worker-1"
        await pilot.press("space")
        assert "worker-1" not in row_keys(app)


async def test_d_details_masks_secrets_and_v_reveals(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("d")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailsScreen)
        text = _static_text(screen)
        for expected in (
            "python -m demo.api --port 3000",
            "/home/dev/shop",
            "migrate",
            "completed",
            "DATABASE_URL",
            "127.0.0.1:5432",
        ):
            assert expected in text
        assert "s3cr3t-pw" not in text and "tok_9f8e7d6c" not in text and MASK in text
        await pilot.press("v")
        text = _static_text(screen)
        assert "s3cr3t-pw" in text and "tok_9f8e7d6c" in text
        await pilot.press("v", "escape")
        assert not isinstance(app.screen, DetailsScreen)
        await pilot.press("d", "d")  # d toggles too
        assert not isinstance(app.screen, DetailsScreen)


async def test_details_show_failure_reason_and_exit_code(
    app: DevenvApp, engine: FakeEngine
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        engine.set_state("api", UnitState.CRASHED, "exited with code 3 after 0.4s", exit_code=3)
        await wait_for(pilot, lambda: "crashed" in str(app.table.get_cell("api", "state")))
        assert "1 failed" in str(app.query_one("#header").render())
        await pilot.press("d")
        await pilot.pause()
        text = _static_text(app.screen)
        assert "exited with code 3 after 0.4s" in text and "last exit code  3" in text
        engine.set_state("api", UnitState.READY)  # the open view follows events
        await wait_for(pilot, lambda: "failure" not in _static_text(app.screen))


def _static_text(screen: object) -> str:
    from rich.console import Console
    from textual.widgets import Static

    console = Console(width=120, record=True, color_system=None)
    static = screen.query_one("#details", Static)  # type: ignore[attr-defined]
    console.print(static.content)
    return console.export_text()


async def test_logs_mask_secrets_and_v_reveals(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        texts = app.log_view.displayed_texts()
        assert f"connecting with password {MASK}" in texts
        assert not any("s3cr3t-pw" in t for t in texts)
        await pilot.press("v")
        assert "connecting with password s3cr3t-pw" in app.log_view.displayed_texts()
        await pilot.press("v")
        assert "connecting with password s3cr3t-pw" not in app.log_view.displayed_texts()


async def test_question_mark_shows_help(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_stops_everything_with_progress_then_exits(
    app: DevenvApp, engine: FakeEngine
) -> None:
    engine.shutdown_gate = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await wait_for(pilot, lambda: ("shutdown", ()) in engine.calls)
        await pilot.pause()
        status = str(app.screen.query_one("#quit-status").render())
        assert "Stopping services" in status and "/7" in status
        assert "stopping" in str(app.query_one("#header").render())
        engine.shutdown_gate.set()
        await wait_for(pilot, lambda: app.engine_stopped)
    assert app.return_code == 0
    assert all(
        u.state is UnitState.STOPPED or u.state is UnitState.COMPLETED for u in engine.units()
    )


async def test_second_q_forces(app: DevenvApp, engine: FakeEngine) -> None:
    engine.shutdown_gate = asyncio.Event()  # the polite stop never finishes
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await pilot.press("q")
        await wait_for(pilot, lambda: ("shutdown", ()) in engine.calls)
        await pilot.press("q")
        await wait_for(pilot, lambda: ("shutdown", ("force",)) in engine.calls)
        await wait_for(pilot, lambda: app.engine_stopped)
    assert app.return_code == 0


async def test_command_palette_runs_every_action(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Restart service",
            "Stop or start service",
            "Restart all",
            "All logs",
            "Search logs",
            "Filter logs",
            "Toggle wrap",
            "Toggle timestamps",
            "Clear logs",
            "Open port",
            "Details",
            "Reveal secrets",
            "Help",
            "Quit devenv",
            "Next match",
            "Previous match",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Restart all")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: ("restart", ()) in engine.calls)


async def test_follow_pauses_on_scroll_up_and_counts_new_lines(
    app: DevenvApp, engine: FakeEngine
) -> None:
    for i in range(100):
        engine.log("api", f"line {i}")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        view = app.log_view
        assert view.follow and view.scroll_y == view.max_scroll_y > 0
        await pilot.press("enter")  # focus logs (selects postgres' row first)
        await pilot.press("a")
        await pilot.press("pageup")
        await pilot.pause()
        assert not view.follow
        before = view.scroll_y
        for i in range(5):
            engine.log("api", f"new {i}")
        await wait_for(pilot, lambda: view.unseen == 5)
        assert view.scroll_y == before  # the reader's place is kept
        await wait_for(pilot, lambda: "5 new lines" in str(app.query_one("#logs-status").render()))
        await pilot.press("end")
        assert view.follow and view.unseen == 0
        assert view.scroll_y == view.max_scroll_y
        assert "following" in str(app.query_one("#logs-status").render())


async def test_state_refreshes_coalesce_and_log_lines_come_in_batches(engine: FakeEngine) -> None:
    messages: list[Message] = []
    app = deterministic_app(engine, frame_interval=1 / 60)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        messages.clear()
        for i in range(200):
            engine.emit(
                StateChanged("api", "api", UnitState.STARTING if i % 2 else UnitState.READY, ts=i)
            )
        for i in range(5000):
            engine.emit(LogLine(LogRecord("api", "stdout", f"flood {i}", ts=i), "api"))
        await wait_for(pilot, lambda: app.log_view.line_count == 5010)
        await pilot.pause()
        refreshes = sum(isinstance(m, UnitsChanged) for m in messages)
        batches = sum(isinstance(m, LogsArrived) for m in messages)
        assert 1 <= refreshes < 20  # 200 state events, a handful of redraws
        assert 1 <= batches <= 3  # 5000 lines, one message per frame
        assert app.log_view.displayed_texts()[-1] == "flood 4999"


async def test_log_view_is_bounded(engine: FakeEngine) -> None:
    app = deterministic_app(engine, max_log_lines=1000)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        for i in range(5000):
            engine.log("api", f"line {i}")
            if i % 500 == 0:
                await pilot.pause()
        await wait_for(pilot, lambda: app.log_view.displayed_texts()[-1] == "line 4999")
        assert app.log_view.line_count <= 1100


async def test_spinner_and_uptime_timers_run_only_when_needed(engine: FakeEngine) -> None:
    app = deterministic_app(engine, spinner=True, spinner_interval=0.01, uptime_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert app._spinner_timer is None  # everything settled: no animation
        assert app._uptime_timer is not None
        engine.set_state("api", UnitState.STARTING)
        await wait_for(pilot, lambda: app._spinner_timer is not None)
        first = str(app.table.get_cell("api", "state"))
        await wait_for(pilot, lambda: str(app.table.get_cell("api", "state")) != first)
        engine.set_state("api", UnitState.READY)
        await wait_for(pilot, lambda: app._spinner_timer is None)
        await app.engine.stop()
        await wait_for(pilot, lambda: app._uptime_timer is None)


async def test_progress_bars_while_pulling(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        engine.set_state("postgres", UnitState.PULLING)
        engine.emit(Progress("postgres", "postgres", "pull", "Downloading", 30, 100))
        await wait_for(pilot, lambda: bool(app.query(".progress-row")))
        box = app.query_one("#progress")
        assert box.display
        from textual.widgets import ProgressBar

        bar = box.query_one(ProgressBar)
        await wait_for(pilot, lambda: bar.progress == 30 and bar.total == 100)
        engine.emit(Progress("postgres", "postgres", "pull", "Downloading", 80, 100))
        await wait_for(pilot, lambda: bar.progress == 80)
        engine.set_state("postgres", UnitState.READY)
        await wait_for(pilot, lambda: not app.query(".progress-row"))
        assert not box.display


@pytest.mark.parametrize("width", [60, 80, 120, 160])
async def test_columns_collapse_with_the_width(engine: FakeEngine, width: int) -> None:
    app = deterministic_app(engine)
    async with app.run_test(size=(width, 24)) as pilot:
        await started(pilot, engine)
        columns = [str(k.value) for k in app.table.columns]
        assert {"name", "state", "ports"} <= set(columns)
        assert ("mode" in columns) == (width >= 96)
        assert ("reloads" in columns) == (width >= 120)
        assert ("mem" in columns) == (width >= 76)
        table_width = sum(c.get_render_width(app.table) for c in app.table.ordered_columns)
        assert table_width <= width


async def test_resize_rebuilds_columns_and_keeps_the_selection(engine: FakeEngine) -> None:
    app = deterministic_app(engine)
    async with app.run_test(size=(160, 40)) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        assert "mode" in [k.value for k in app.table.columns]
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "mode" not in [k.value for k in app.table.columns])
        assert app.table.selected is not None and app.table.selected.key == "api"


async def test_light_theme_and_no_color(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = deterministic_app(engine, theme="textual-light")
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert not app.current_theme.dark
        before = app.table.get_cell("api", "state").style
        app.action_toggle_theme()
        await pilot.pause()
        assert app.current_theme.dark
        assert app.table.get_cell("api", "state").style != before  # recoloured for the theme
    monkeypatch.setenv("NO_COLOR", "1")
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert app.no_color


async def test_stats_pause_while_the_terminal_is_not_focused(
    app: DevenvApp, engine: FakeEngine
) -> None:
    from textual import events

    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        assert engine.stats_enabled
        app.post_message(events.AppBlur())
        await wait_for(pilot, lambda: not engine.stats_enabled)
        app.post_message(events.AppFocus())
        await wait_for(pilot, lambda: engine.stats_enabled)


async def test_reload_is_announced(app: DevenvApp, engine: FakeEngine) -> None:
    from devenv.events import Reloaded

    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        engine.emit(Reloaded("api", "api", ("demo/api/app.py",)))
        await wait_for(
            pilot, lambda: any("demo/api/app.py" in str(n.message) for n in app._notifications)
        )
