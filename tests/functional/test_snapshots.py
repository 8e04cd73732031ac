"""Snapshot tests (pytest-textual-snapshot): fixed clock, theme, no spinner, no blink.

Regenerate on purpose with `pytest tests/functional/test_snapshots.py --snapshot-update`
and look at the SVGs before committing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from devenv.events import UnitState
from tests.functional.conftest import deterministic_app
from tests.functional.fake_engine import demo_engine


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times shown in the details view do not depend on the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def settle(pilot: Pilot[int]) -> None:
    engine = pilot.app.engine  # type: ignore[attr-defined]
    for _ in range(100):
        if ("start", ()) in engine.calls:
            break
        await pilot.pause(0.01)
    await pilot.pause()


def test_main_80x24(snap_compare: object) -> None:
    app = deterministic_app(demo_engine())
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)  # type: ignore[operator]


def test_main_160x48(snap_compare: object) -> None:
    app = deterministic_app(demo_engine())
    assert snap_compare(app, terminal_size=(160, 48), run_before=settle)  # type: ignore[operator]


def test_main_light_theme(snap_compare: object) -> None:
    app = deterministic_app(demo_engine(), theme="textual-light")
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle)  # type: ignore[operator]


def test_details(snap_compare: object) -> None:
    app = deterministic_app(demo_engine())

    async def open_details(pilot: Pilot[int]) -> None:
        await settle(pilot)
        await pilot.press("j", "j", "j", "d")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 36), run_before=open_details)  # type: ignore[operator]


def test_help(snap_compare: object) -> None:
    app = deterministic_app(demo_engine())

    async def open_help(pilot: Pilot[int]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 32), run_before=open_help)  # type: ignore[operator]


def test_failed_service(snap_compare: object) -> None:
    engine = demo_engine()

    async def fail(pilot: Pilot[int]) -> None:
        await settle(pilot)
        engine.log("api", "Traceback (most recent call last):", stream="stderr")
        engine.log("api", "ConnectionRefusedError: [Errno 111] redis:6379", stream="stderr")
        engine.set_state("api", UnitState.CRASHED, "exited with code 1", exit_code=1)
        engine.set_state("redis", UnitState.FAILED, "port 6379 is in use by another process")
        await pilot.press("j", "j", "j")
        await pilot.pause()

    app = deterministic_app(engine)
    assert snap_compare(app, terminal_size=(160, 40), run_before=fail)  # type: ignore[operator]


def test_search_and_filter(snap_compare: object) -> None:
    engine = demo_engine()
    for i in range(30):
        engine.log("api", f"GET /orders/{i} 200 {i}ms")

    async def search(pilot: Pilot[int]) -> None:
        await settle(pilot)
        await pilot.press("slash", *"orders/1", "enter", "n")
        await pilot.pause()

    app = deterministic_app(engine)
    assert snap_compare(app, terminal_size=(100, 30), run_before=search)  # type: ignore[operator]
