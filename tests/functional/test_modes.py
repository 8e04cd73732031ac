"""Modes: how each service runs now, `m` and the palette to switch it, why a
service cannot switch, and the environment rewrites in the details view."""

from __future__ import annotations

import asyncio

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import Static

from devenv.events import UnitState
from devenv.tui.app import DevenvApp
from devenv.tui.format import MASK
from devenv.tui.messages import EngineCommand
from devenv.tui.screens import DetailsScreen
from tests.functional.conftest import (
    deterministic_app,
    select,
    started,
    static_text,
    wait_for,
)
from tests.functional.fake_engine import FakeEngine

SIZE = (120, 36)


def commands(messages: list[Message]) -> list[EngineCommand]:
    return list({id(m): m for m in messages if isinstance(m, EngineCommand)}.values())


def toasts(messages: list[Message]) -> list[tuple[str, str]]:
    seen = {id(m): m for m in messages if isinstance(m, Notify)}
    return [(m.notification.severity, m.notification.message) for m in seen.values()]


async def test_mode_column_shows_how_each_service_runs(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        mode = {key: str(app.table.get_cell(key, "mode")) for key in ("postgres", "migrate", "api")}
        assert mode == {"postgres": "container", "migrate": "local", "api": "local ⇄"}


async def test_m_switches_a_service_that_can_run_both_ways(engine: FakeEngine) -> None:
    engine.mode_gate = asyncio.Event()
    messages: list[Message] = []
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("m")
        await wait_for(pilot, lambda: ("set_mode", ("api", "container")) in engine.calls)
        assert [(c.command, c.targets, c.mode) for c in commands(messages)] == [
            ("set_mode", ("api",), "container")
        ]
        assert ("information", "api: switching to container…") in toasts(messages)
        # While the other kind starts, the row says so; then it shows the new mode.
        await wait_for(pilot, lambda: "starting" in str(app.table.get_cell("api", "state")))
        engine.mode_gate.set()
        await wait_for(pilot, lambda: str(app.table.get_cell("api", "mode")) == "container ⇄")
        await pilot.press("m")  # and back
        await wait_for(pilot, lambda: ("set_mode", ("api", "process")) in engine.calls)
        await wait_for(pilot, lambda: str(app.table.get_cell("api", "mode")) == "local ⇄")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("migrate", "migrate has no image or build: it can only run locally"),
        ("redis", "redis has no x-devenv block: it can only run as a container"),
    ],
)
async def test_m_says_why_a_service_cannot_switch(
    engine: FakeEngine, row: str, reason: str
) -> None:
    messages: list[Message] = []
    app = deterministic_app(engine)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        await select(pilot, app, row)
        await pilot.press("m")
        await wait_for(pilot, lambda: ("warning", reason) in toasts(messages))
        assert not commands(messages)
        assert not [c for c in engine.calls if c[0] == "set_mode"]


async def test_an_engine_that_does_not_say_is_asked_and_its_refusal_shown(
    engine: FakeEngine,
) -> None:
    # An engine that leaves `modes` empty is asked anyway; it knows why not.
    engine.update("api", modes=())
    messages: list[Message] = []
    app = deterministic_app(engine)

    async def refuse(service: str, mode: object) -> None:
        raise RuntimeError(f"{service}: image shop-api not found")

    engine.set_mode = refuse  # type: ignore[assignment,method-assign]
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("m")
        await wait_for(pilot, lambda: any(s == "error" for s, _ in toasts(messages)))
        assert ("error", "set mode api failed: api: image shop-api not found") in toasts(messages)
        assert str(app.table.get_cell("api", "mode")) == "local"  # no ⇄: not known to switch
        assert [n.text for n in app.notices] == [
            "set mode api failed: api: image shop-api not found"
        ]


async def test_palette_switches_mode(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Switch mode")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: ("set_mode", ("api", "container")) in engine.calls)


async def test_details_show_modes_and_masked_rewrites(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        await select(pilot, app, "api")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DetailsScreen)
        text = static_text(app.screen.query_one("#details", Static))
        assert "local process · can run as container too: m switches" in text
        assert "addresses rewritten for local mode" in text
        assert (
            f"DATABASE_URL postgresql://app:{MASK}@postgres:5432/app → "
            f"postgresql://app:{MASK}@127.0.0.1:5432/app (postgres)"
        ) in " ".join(text.split())
        assert "REDIS_URL    redis://redis:6379/0 → redis://127.0.0.1:6379/0" in text
        assert "s3cr3t-pw" not in text
        await pilot.press("v")
        text = static_text(app.screen.query_one("#details", Static))
        assert "postgresql://app:s3cr3t-pw@postgres:5432/app →" in " ".join(text.split())
        await pilot.press("escape")
        await select(pilot, app, "redis")
        await pilot.press("d")
        await pilot.pause()
        text = static_text(app.screen.query_one("#details", Static))
        assert "container · redis has no x-devenv block" in text
        assert "addresses rewritten" not in text


async def test_mode_follows_events(app: DevenvApp, engine: FakeEngine) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, engine)
        engine.update("api", kind="container")  # switched from elsewhere (the CLI)
        engine.set_state("api", UnitState.READY)
        await wait_for(pilot, lambda: str(app.table.get_cell("api", "mode")) == "container ⇄")
