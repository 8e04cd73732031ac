"""Snapshot tests (pytest-textual-snapshot): fixed clock, theme, no spinner, no blink.

Regenerate on purpose with `pytest tests/functional/test_snapshots.py --snapshot-update`
and look at the SVGs before committing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from textual.pilot import Pilot

from devenv.events import Notice, Progress, UnitState
from tests.functional.conftest import deterministic_app
from tests.functional.fake_engine import T0, demo_engine


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


def test_session_problems(snap_compare: object) -> None:
    """Docker lost, a refused config edit, an unread notice (and its toast)."""
    engine = demo_engine()

    async def trouble(pilot: Pilot[int]) -> None:
        await settle(pilot)
        engine.set_status(
            docker="unreachable", docker_detail="connection refused (/var/run/docker.sock)"
        )
        engine.set_status(config_error="compose.yaml:14: services.api.ports[0]: not a port")
        engine.emit(
            Notice("cannot write .devenv/logs/api.log: No space left on device", "warning", "api")
        )
        await pilot.pause()

    app = deterministic_app(engine)
    assert snap_compare(app, terminal_size=(100, 30), run_before=trouble)  # type: ignore[operator]


def test_states(snap_compare: object) -> None:
    """Pulling with its bar, a build beside a serving instance, a failed build, a
    crashed unit without stale figures, a service scaled to zero, crashes apart
    from reloads; wide enough for every column."""
    engine = demo_engine()
    engine.units_ = [u for u in engine.units_ if u.service != "worker"] + [
        replace(
            engine.units_[-1],
            name="worker",
            replica=0,
            state=UnitState.STOPPED,
            pid=None,
            started_at=None,
            cpu_percent=None,
            memory_bytes=None,
        )
    ]

    async def states(pilot: Pilot[int]) -> None:
        await settle(pilot)
        engine.set_state("redis", UnitState.PULLING)
        engine.emit(Progress("redis", "redis", "pull", "Downloading", 61, 100))
        engine.update("api", build="build failed: demo/api/app.py:3: SyntaxError")
        engine.set_state("postgres", UnitState.CRASHED, "exited with code 1", exit_code=1)
        await pilot.pause()

    app = deterministic_app(engine)
    assert snap_compare(app, terminal_size=(160, 30), run_before=states)  # type: ignore[operator]


def test_notices(snap_compare: object) -> None:
    engine = demo_engine()

    async def notices(pilot: Pilot[int]) -> None:
        await settle(pilot)
        engine.emit(Notice("cannot write .devenv/logs/api.log: disk full", "warning", "api", T0))
        engine.emit(Notice("compose.yaml changed: api restarted", "info", None, T0 + 5))
        engine.emit(Notice("log files are written again", "info", "api", T0 + 9))
        await pilot.pause()
        app.clear_notifications()
        await pilot.press("e")
        await pilot.pause()

    app = deterministic_app(engine)
    assert snap_compare(app, terminal_size=(100, 24), run_before=notices)  # type: ignore[operator]


def test_attached_stop_confirmation(snap_compare: object) -> None:
    """Attached: the footer says q detaches and Q stops the session, which asks."""
    engine = demo_engine()

    async def ask(pilot: Pilot[int]) -> None:
        await pilot.pause(0.1)
        await pilot.press("Q")
        await pilot.pause()

    app = deterministic_app(engine, attached=True)
    assert snap_compare(app, terminal_size=(110, 30), run_before=ask)  # type: ignore[operator]
