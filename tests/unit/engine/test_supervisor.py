"""The supervisor's state machine with in-memory units (a real Unit implementation,
no processes): reload queueing, failure and recovery of dependencies."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devenv.config.model import (
    Condition,
    Dependency,
    LocalProcess,
    Origin,
    Service,
    Stack,
    frozen_map,
)
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.errors import PortInUseError
from devenv.events import StateChanged, UnitState
from devenv.runtime.base import ProbeTiming, Unit, UnitContext

S = UnitState


class MemoryUnit(Unit):
    """Runs nothing: a future stands for the process."""

    kind = "process"
    start_delay = 0.0
    fail_with: Exception | None = None

    def __init__(self, service: Service, replica: int, ctx: UnitContext) -> None:
        super().__init__(service, replica, ctx)
        self.starts = 0
        self._exit: asyncio.Future[int] | None = None

    async def start(self) -> None:
        await asyncio.sleep(self.start_delay)
        if self.fail_with is not None:
            raise self.fail_with
        self.starts += 1
        self._exit = asyncio.get_running_loop().create_future()

    async def wait_exit(self) -> int:
        assert self._exit is not None
        return await asyncio.shield(self._exit)

    async def stop(self, force: bool = False) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(-15)

    async def check_ready(self) -> tuple[bool, str]:
        return True, "ok"

    @property
    def running(self) -> bool:
        return self._exit is not None and not self._exit.done()

    @property
    def probe_timing(self) -> ProbeTiming | None:
        return None


def svc(name: str, tmp: Path, **deps: Condition) -> Service:
    return Service(
        name=name,
        origin=Origin(tmp / "compose.yaml"),
        depends_on=frozen_map({d: Dependency(d, c) for d, c in deps.items()}),
        local=LocalProcess(run="true", cwd=tmp),
    )


def engine_for(tmp: Path, *services: Service) -> tuple[Engine, dict[str, MemoryUnit]]:
    units: dict[str, MemoryUnit] = {}

    def factory(service: Service, replica: int, ctx: UnitContext) -> Unit:
        unit = units[service.name] = MemoryUnit(service, replica, ctx)
        return unit

    stack = Stack(
        name="t",
        project_dir=tmp,
        files=(),
        services=frozen_map({s.name: s for s in services}),
    )
    options = EngineOptions(
        state_dir=tmp / ".devenv",
        watch=False,
        watchdog=False,
        watch_quiet=0.01,
        unit_factory=factory,
    )
    return Engine(stack, options), units


async def until(predicate: object, timeout: float = 5.0) -> None:
    async def loop() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)

    await asyncio.wait_for(loop(), timeout)


async def test_changes_while_relaunching_queue_exactly_one_more(tmp_path: Path) -> None:
    engine, units = engine_for(tmp_path, svc("api", tmp_path))
    await engine.start()
    unit = units["api"]
    assert unit.starts == 1
    unit.start_delay = 0.2
    engine._on_changes({"api": ["a.py"]})
    await until(lambda: engine._recs["api"].reloading and not engine._recs["api"].reload_stopping)
    for name in ("b.py", "c.py", "d.py"):  # the new instance is being launched
        engine._on_changes({"api": [name]})
        await asyncio.sleep(0.02)
    await until(lambda: unit.starts == 3)
    await until(lambda: not engine._recs["api"].reloading)
    await asyncio.sleep(0.3)
    assert unit.starts == 3
    assert engine.units()[0].restarts == 2
    await engine.shutdown()


async def test_failed_dependency_blocks_then_recovers(tmp_path: Path) -> None:
    engine, units = engine_for(
        tmp_path, svc("db", tmp_path), svc("api", tmp_path, db=Condition.HEALTHY)
    )
    events: list[StateChanged] = []
    engine.subscribe(lambda e: events.append(e) if isinstance(e, StateChanged) else None)
    MemoryUnit.fail_with = PortInUseError("port 5432 is already in use by pid 1 (x)")
    try:
        await asyncio.wait_for(engine.start(), 5)
    finally:
        MemoryUnit.fail_with = None
    assert engine.state_of("db") == S.FAILED
    assert engine.state_of("api") == S.WAITING
    assert "db failed: port 5432" in engine._recs["api"].detail
    assert "api" not in units  # never built, never started
    assert engine.failed_units() == ["db"]
    await engine.restart(["db"])  # the port is free now
    await until(lambda: engine.state_of("api") == S.READY)
    assert units["api"].starts == 1
    await engine.shutdown()
    stops = [e.unit for e in events if e.state == S.STOPPED]
    assert stops == ["api", "db"]


async def test_stop_takes_dependents_along_and_start_brings_back(tmp_path: Path) -> None:
    engine, units = engine_for(
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
    await engine.start(["api"])
    await until(lambda: engine.state_of("db") == engine.state_of("api") == S.READY)
    assert units["db"].starts == 2
    await engine.shutdown()
    assert all(u.state == S.STOPPED for u in engine.units())


async def test_unit_info_and_logs_api(tmp_path: Path) -> None:
    engine, _ = engine_for(tmp_path, svc("api", tmp_path))
    await engine.start()
    await until(lambda: engine.state_of("api") == S.READY)
    engine._on_log("api", "stdout", "hello")
    engine._on_log_batch("api", "stderr", ["a", "b"])
    assert [r.text for r in engine.logs("api")] == ["hello", "a", "b"]
    assert [r.stream for r in engine.logs()] == ["stdout", "stderr", "stderr"]
    info = engine.units()[0]
    assert info.kind == "process" and info.state == S.READY and info.command == "true"
    await engine.shutdown()


async def test_restart_true_dependents_follow_their_dependency(tmp_path: Path) -> None:
    api = svc("api", tmp_path, db=Condition.STARTED)
    web = svc("web", tmp_path, db=Condition.STARTED)
    from dataclasses import replace

    api = replace(
        api, depends_on=frozen_map({"db": Dependency("db", Condition.STARTED, restart=True)})
    )
    engine, units = engine_for(tmp_path, svc("db", tmp_path), api, web)
    await engine.start()
    await until(lambda: all(u.state == S.READY for u in engine.units()))
    await engine.restart(["db"])
    assert units["db"].starts == 2
    assert units["api"].starts == 2  # asked for it
    assert units["web"].starts == 1  # did not
    await engine.shutdown()


async def test_start_again_after_shutdown(tmp_path: Path) -> None:
    engine, units = engine_for(tmp_path, svc("api", tmp_path))
    await engine.start()
    await engine.shutdown()
    assert engine.state_of("api") == S.STOPPED
    await engine.start()
    await until(lambda: engine.state_of("api") == S.READY)
    assert units["api"].starts == 2
    await engine.shutdown()
    assert not (tmp_path / ".devenv" / "devenv.pid").exists()


async def test_optional_dependency_that_failed_is_skipped(tmp_path: Path) -> None:
    from dataclasses import replace

    api = replace(
        svc("api", tmp_path),
        depends_on=frozen_map({"cache": Dependency("cache", Condition.HEALTHY, required=False)}),
    )
    engine, _ = engine_for(tmp_path, svc("cache", tmp_path), api)
    MemoryUnit.fail_with = PortInUseError("port 6379 is already in use")
    try:
        await engine.start(["cache"])
    finally:
        MemoryUnit.fail_with = None
    assert engine.state_of("cache") == S.FAILED
    await engine.start(["api"])
    await until(lambda: engine.state_of("api") == S.READY)
    assert (tmp_path / ".devenv" / ".gitignore").read_text() == "*\n"
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
