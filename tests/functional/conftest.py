"""Fixtures for the TUI's functional tests: a scripted engine and a deterministic app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from devenv.tui.app import DevenvApp, make_app
from tests.functional.fake_engine import T0, FakeEngine, demo_engine

NOW = T0 + 100  # every uptime is computed against this fixed clock


class Opened(list[str]):
    """The URLs the app asked a browser to open."""

    def __call__(self, url: str) -> bool:
        self.append(url)
        return True


@pytest.fixture
def engine() -> FakeEngine:
    return demo_engine()


@pytest.fixture
def opened() -> Opened:
    return Opened()


def deterministic_app(
    engine: FakeEngine, opened: Opened | None = None, **options: Any
) -> DevenvApp:
    defaults: dict[str, Any] = {
        "clock": lambda: NOW,
        "spinner": False,
        "uptime_interval": 0,
        "cursor_blink": False,
        "theme": "textual-dark",
        "frame_interval": 0,
    }
    if opened is not None:
        defaults["opener"] = opened
    defaults.update(options)
    return make_app(engine, [], **defaults)


@pytest.fixture
def app(engine: FakeEngine, opened: Opened) -> DevenvApp:
    return deterministic_app(engine, opened)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll the app until `condition` holds, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await pilot.pause(0.01)


async def started(pilot: Pilot[int], engine: FakeEngine) -> None:
    await wait_for(pilot, lambda: ("start", ()) in engine.calls)
    await pilot.pause()


def row_keys(app: DevenvApp) -> list[str]:
    return [r.key for r in app.table.rows_model]


async def select(pilot: Pilot[int], app: DevenvApp, key: str) -> None:
    while app.table.selected is not None and app.table.selected.key != key:
        index = row_keys(app).index(key)
        await pilot.press("j" if app.table.cursor_row < index else "k")
    await pilot.pause()


def static_text(static: Static, width: int = 120) -> str:
    """What a Static shows, as plain text (its content rendered by Rich)."""
    console = Console(width=width, record=True, color_system=None)
    console.print(static.content)
    return console.export_text()
