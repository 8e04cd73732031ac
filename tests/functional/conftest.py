"""Fixtures for the TUI's functional tests: a scripted engine and a deterministic app."""

from __future__ import annotations

from typing import Any

import pytest

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
