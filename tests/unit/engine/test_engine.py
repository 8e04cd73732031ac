"""The engine with in-memory units: one runner per unit, commands that coalesce,
dependencies, restarts, stops. Real runners, gate and mailboxes; the units are
futures (tests/integration runs the same with real processes)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from memory_unit import (  # noqa: F401
    changed,
    hang_guard,
    info,
    memory_engine,
    svc,
    until,
)

from devenv.config.model import Condition, Dependency
from devenv.engine.supervisor import EngineOptions
from devenv.errors import PortInUseError, SelectionError
from devenv.events import StateChanged, UnitState
from devenv.runtime.base import ProbeTiming

S = UnitState


async def test_changes_while_launching_queue_exactly_one_more(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("api", tmp_path))
    await engine.start()
    unit = world.units["api"]
    assert unit.starts == 1
    world.behaviour("api").start_delay = 0.2
    changed(engine, {"api": ["a.py"]})
    await until(lambda: unit.launching, what="the relaunch")
    for name in ("b.py", "c.py", "d.py"):  # the new instance is being launched
        changed(engine, {"api": [name]})
        await asyncio.sleep(0.02)
    await until(lambda: unit.starts == 3, what="one more start")
    await asyncio.sleep(0.3)
    assert unit.starts == 3
    assert info(engine, "api").reloads == 2 and info(engine, "api").restarts == 0
    await engine.shutdown()


async def test_a_burst_of_changes_is_one_restart(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("api", tmp_path), watch_quiet=0.05)
    await engine.start()
    for n in range(20):
        changed(engine, {"api": [f"f{n}.py"]})
        await asyncio.sleep(0.005)
    await until(lambda: engine.state_of("api") == S.READY and world.units["api"].starts == 2)
    await asyncio.sleep(0.2)
    assert world.units["api"].starts == 2
    lines = [r.text for r in engine.logs("api") if r.stream == "devenv"]
    assert lines == ["reloading: f0.py changed"]
    await engine.shutdown()


async def test_failed_dependency_blocks_then_recovers(tmp_path: Path) -> None:
    engine, world = memory_engine(
        tmp_path, svc("db", tmp_path), svc("api", tmp_path, db=Condition.HEALTHY)
    )
    events: list[StateChanged] = []
    engine.subscribe(lambda e: events.append(e) if isinstance(e, StateChanged) else None)
    world.behaviour("db").fail_with = PortInUseError("port 5432 is already in use by pid 1 (x)")
    await asyncio.wait_for(engine.start(), 5)
    assert engine.state_of("db") == S.FAILED
    assert engine.state_of("api") == S.WAITING
    assert "db failed: port 5432" in info(engine, "api").detail
    assert "api" not in world.units  # never built, never started
    assert engine.failed_units() == ["db"]
    assert engine.settled()  # nothing will happen by itself
    world.behaviour("db").fail_with = None  # the port is free now
    await engine.restart(["db"])
    await until(lambda: engine.state_of("api") == S.READY)
    assert world.units["api"].starts == 1
    await engine.shutdown()
    stops = [e.unit for e in events if e.state == S.STOPPED]
    assert stops == ["api", "db"]


async def test_stop_takes_dependents_along_and_start_brings_back(tmp_path: Path) -> None:
    engine, world = memory_engine(
        tmp_path,
        svc("db", tmp_path),
        svc("api", tmp_path, db=Condition.STARTED),
        svc("other", tmp_path),
    )
    await engine.start()
    await until(lambda: engine.state_of("other") == S.READY)
    await engine.stop(["db"])
    assert engine.state_of("db") == S.STOPPED and engine.state_of("api") == S.STOPPED
    assert engine.state_of("other") == S.READY
    assert world.events("api") == ["start", "term"] and world.events("db") == ["start", "term"]
    await engine.start(["api"])
    await until(lambda: engine.state_of("db") == engine.state_of("api") == S.READY)
    assert world.units["db"].starts == 2
    await engine.shutdown()
    assert all(u.state == S.STOPPED for u in engine.units())


async def test_unit_info_and_logs_api(tmp_path: Path) -> None:
    engine, _ = memory_engine(tmp_path, svc("api", tmp_path), svc("db", tmp_path))
    await engine.start()
    await until(lambda: engine.state_of("api") == S.READY)
    engine._on_log_batch("api", "stdout", ["hello"])
    engine._on_log_batch("api", "stderr", ["a", "b"])
    engine._on_log_batch("db", "stdout", ["ready"])
    assert [r.text for r in engine.logs("api")] == ["hello", "a", "b"]
    assert [r.stream for r in engine.logs()] == ["stdout", "stderr", "stderr", "stdout"]
    assert [r.text for r in engine.logs(grep="^[ab]$")] == ["a", "b"]
    assert [r.text for r in engine.logs("api", limit=1)] == ["b"]
    later = engine.logs("db")[0].ts
    assert [r.text for r in engine.logs(since=later)] == ["ready"]
    with pytest.raises(SelectionError, match="did you mean api"):
        engine.logs("apu")
    unit = info(engine, "api")
    assert unit.kind == "process" and unit.state == S.READY and unit.command == "true"
    assert unit.modes == ("process",)
    await engine.shutdown()


async def test_restart_true_dependents_follow_their_dependency(tmp_path: Path) -> None:
    api = svc("api", tmp_path, db=Dependency("db", Condition.STARTED, restart=True))
    web = svc("web", tmp_path, db=Condition.STARTED)
    engine, world = memory_engine(tmp_path, svc("db", tmp_path), api, web)
    await engine.start()
    await until(lambda: all(u.state == S.READY for u in engine.units()))
    await engine.restart(["db"])
    assert world.units["db"].starts == 2
    assert world.units["api"].starts == 2  # asked for it
    assert world.units["web"].starts == 1  # did not
    await engine.shutdown()


async def test_a_one_shot_that_runs_again_holds_and_then_restarts_its_dependents(
    tmp_path: Path,
) -> None:
    migrate = svc("migrate", tmp_path)
    api = svc("api", tmp_path, migrate=Condition.COMPLETED)
    engine, world = memory_engine(tmp_path, migrate, api)
    starting = asyncio.ensure_future(engine.start())
    await until(lambda: engine.state_of("migrate") == S.READY)
    assert engine.state_of("api") == S.WAITING
    world.units["migrate"].crash(0)
    await starting
    await until(lambda: engine.state_of("api") == S.READY)
    world.behaviour("migrate").start_delay = 0.1
    changed(engine, {"migrate": ["migrations/2.sql"], "api": ["api.py"]})
    # the api's own restart waits for the migration: the old api keeps serving
    await until(lambda: world.units["migrate"].starts == 2)
    assert world.units["api"].starts == 1 and engine.state_of("api") == S.READY
    assert "restart waits for migrate" in info(engine, "api").detail
    world.units["migrate"].crash(0)
    await until(lambda: world.units["api"].starts == 2, what="the api restarted after it")
    await asyncio.sleep(0.1)
    assert world.units["api"].starts == 2  # once, not once per reason
    await engine.shutdown()


async def test_start_again_after_shutdown(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("api", tmp_path), write_state=True)
    await engine.start()
    await engine.shutdown()
    assert engine.state_of("api") == S.STOPPED
    await engine.start()
    await until(lambda: engine.state_of("api") == S.READY)
    assert world.units["api"].starts == 2
    await engine.shutdown()
    assert not (tmp_path / ".devenv" / "devenv.pid").exists()


async def test_optional_dependency_that_failed_is_skipped(tmp_path: Path) -> None:
    api = svc("api", tmp_path, cache=Dependency("cache", Condition.HEALTHY, required=False))
    engine, world = memory_engine(tmp_path, svc("cache", tmp_path), api)
    world.behaviour("cache").fail_with = PortInUseError("port 6379 is already in use")
    await engine.start(["cache"])
    assert engine.state_of("cache") == S.FAILED
    await engine.start(["api"])
    await until(lambda: engine.state_of("api") == S.READY)
    assert (tmp_path / ".devenv" / ".gitignore").read_text() == "*\n"
    await engine.shutdown()


# --- commands that pile up ------------------------------------------------------------


async def test_restart_restart_is_one_restart(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("db", tmp_path))
    world.behaviour("db").stop_delay = 0.3  # takes its grace period
    await engine.start()
    first = asyncio.ensure_future(engine.restart(["db"]))
    await until(lambda: engine.state_of("db") == S.STOPPING)
    second = asyncio.ensure_future(engine.restart(["db"]))
    await asyncio.gather(first, second)
    await until(lambda: engine.state_of("db") == S.READY)
    # one graceful stop, never a kill: the second restart joined the first
    assert world.events("db") == ["start", "term", "start"]
    await engine.shutdown()


async def test_repeated_commands_never_cut_a_grace_period_short(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("db", tmp_path))
    world.behaviour("db").stop_delay = 0.3
    await engine.start()
    calls = [
        asyncio.ensure_future(engine.restart(["db"])),
        asyncio.ensure_future(engine.stop(["db"])),
        asyncio.ensure_future(engine.restart(["db"])),
        asyncio.ensure_future(engine.stop(["db"])),
    ]
    await asyncio.gather(*calls)
    assert "kill" not in world.events("db")
    assert engine.state_of("db") == S.STOPPED  # stop wins over restart
    await engine.shutdown()


async def test_stop_wins_over_a_queued_restart_and_start_after_stop_wins(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("db", tmp_path))
    world.behaviour("db").stop_delay = 0.2
    await engine.start()
    first = asyncio.ensure_future(engine.restart(["db"]))
    await until(lambda: engine.state_of("db") == S.STOPPING)
    await asyncio.gather(first, engine.stop(["db"]), engine.start(["db"]))
    await until(lambda: engine.state_of("db") == S.READY)
    await engine.shutdown()


async def test_quit_cancels_what_is_being_prepared_and_launches_nothing(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("db", tmp_path), svc("api", tmp_path))
    world.behaviour("db").prepare_delay = 30  # a long pull
    starting = asyncio.ensure_future(engine.start())
    await until(lambda: engine.state_of("db") == S.PULLING)
    await asyncio.wait_for(engine.shutdown(), 2)
    await starting
    assert world.events("db") == ["prepare", "prepare cancelled"]
    assert engine.state_of("db") == S.STOPPED
    assert "term" in world.events("api")


async def test_a_second_quit_kills_what_a_graceful_one_waits_for(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("db", tmp_path))
    world.behaviour("db").stop_delay = 30
    await engine.start()
    graceful = asyncio.ensure_future(engine.shutdown())
    await until(lambda: engine.state_of("db") == S.STOPPING)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(engine.shutdown(force=True), 2)
    await asyncio.wait_for(graceful, 2)
    assert world.events("db") == ["start", "term", "kill"]
    assert engine.state_of("db") == S.STOPPED


async def test_stop_during_dependency_wait_and_pull(tmp_path: Path) -> None:
    engine, world = memory_engine(
        tmp_path, svc("db", tmp_path), svc("api", tmp_path, db=Condition.HEALTHY)
    )
    world.behaviour("db").prepare_delay = 30
    starting = asyncio.ensure_future(engine.start())
    await until(lambda: engine.state_of("api") == S.WAITING)
    await engine.stop(["db"])
    await starting
    assert engine.state_of("db") == S.STOPPED and engine.state_of("api") == S.STOPPED
    assert "api" not in world.units
    await engine.shutdown()


# --- by itself: crashes, backoff, health -----------------------------------------------


async def test_crash_loop_backs_off_and_counts_restarts_apart(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("api", tmp_path, restart="on-failure"))
    await engine.start()
    for n in range(3):
        await until(lambda n=n: world.units["api"].starts == n + 1)  # type: ignore[misc]
        world.units["api"].crash(2)
    await until(lambda: world.units["api"].starts == 4)
    unit = info(engine, "api")
    assert unit.restarts == 3 and unit.reloads == 0
    world.units["api"].crash(0)  # on-failure: a clean exit stays down
    await until(lambda: engine.state_of("api") == S.COMPLETED)
    assert engine.settled()
    await engine.shutdown()


async def test_a_crashed_unit_shows_no_stale_health(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("api", tmp_path))
    world.behaviour("api").probe = ProbeTiming(interval=0.01, health_interval=0.01)
    await engine.start()
    await until(lambda: info(engine, "api").health == "healthy")
    world.units["api"].crash(3)
    await until(lambda: engine.state_of("api") == S.CRASHED)
    unit = info(engine, "api")
    assert unit.health is None and unit.pid is None and unit.cpu_percent is None
    assert unit.exit_code == 3 and unit.detail == "exit 3"
    await engine.shutdown()


async def test_health_checks_after_ready_follow_the_health_interval(tmp_path: Path) -> None:
    engine, world = memory_engine(tmp_path, svc("api", tmp_path))
    checks: list[float] = []
    world.behaviour("api").probe = ProbeTiming(interval=0.01, health_interval=0.2)
    await engine.start()
    unit = world.units["api"]
    original = unit.check_ready

    async def counted() -> tuple[bool, str]:
        checks.append(asyncio.get_running_loop().time())
        return await original()

    unit.check_ready = counted  # type: ignore[method-assign]
    await asyncio.sleep(0.5)
    assert 1 <= len(checks) <= 4  # every 0.2 s, not every 0.01 s
    world.behaviour("api").ready = False
    await until(lambda: engine.state_of("api") == S.UNHEALTHY, timeout=3)
    await engine.shutdown()


async def test_scaled_to_zero_runs_nothing_and_shows_one_row(tmp_path: Path) -> None:
    api = svc("api", tmp_path)
    assert api.local is not None
    api = replace(api, local=replace(api.local, replicas=0))
    web = svc("web", tmp_path, api=Condition.STARTED)
    engine, world = memory_engine(tmp_path, api, web)
    await engine.start()
    await until(lambda: engine.state_of("web") == S.READY)
    rows = [(u.name, u.replica, u.state) for u in engine.units()]
    assert rows == [("api", 0, S.STOPPED), ("web", 1, S.READY)]
    assert "api" not in world.units
    await engine.shutdown()


async def test_wait_reports_ready_failed_and_timeout(tmp_path: Path) -> None:
    engine, world = memory_engine(
        tmp_path, svc("db", tmp_path), svc("api", tmp_path, db=Condition.HEALTHY)
    )
    world.behaviour("api").probe = ProbeTiming(interval=0.01)
    world.behaviour("api").ready = False
    await engine.start()
    result = await engine.wait(["api"], timeout=0.2)
    assert (result.outcome, result.unit) == ("timeout", "api")
    world.behaviour("api").ready = True
    assert (await engine.wait(["api"], timeout=5)).outcome == "ready"
    world.units["db"].crash(1)
    await until(lambda: engine.state_of("db") == S.CRASHED)
    result = await engine.wait(timeout=5)
    assert (result.outcome, result.unit) == ("failed", "db")
    assert "exit 1" in result.reason
    await engine.shutdown()


def test_options_from_environment() -> None:
    options = EngineOptions.from_environ(
        {
            "DEVENV_WATCH_QUIET_MS": "50",
            "DEVENV_WATCH_STEP_MS": "20",
            "DEVENV_LOG_LINES": "500",
            "DEVENV_LOG_FILE_MB": "1",
        }
    )
    assert options.watch_quiet == 0.05 and options.watch_step_ms == 20
    assert options.log_ring_size == 500 and options.log_file_cap == 1024 * 1024
    assert (
        EngineOptions.from_environ({"DEVENV_WATCH_QUIET_MS": "x"}).watch_quiet
        == EngineOptions().watch_quiet
    )
