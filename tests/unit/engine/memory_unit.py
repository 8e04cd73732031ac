"""A real `Unit` implementation that runs nothing: a future stands for the process.

The engine tests drive the real engine (runners, gate, mailbox) with these, so
every interleaving is fast and exact; tests/integration does the same with
real processes and containers."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devenv.config.model import (
    Condition,
    Dependency,
    LocalProcess,
    Origin,
    Service,
    Stack,
    frozen_map,
)
from devenv.engine.api import UnitInfo
from devenv.engine.reloader import UnitChange
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.runtime.base import Phase, ProbeTiming, Unit, UnitContext


@dataclass
class Behaviour:
    """How the memory units of one service behave (tests change it as they go)."""

    prepare_delay: float = 0.0  # a "pull" before launch
    start_delay: float = 0.0
    stop_delay: float = 0.0  # how long a graceful stop takes (a grace period)
    fail_with: Exception | None = None
    probe: ProbeTiming | None = None  # None: ready once started
    ready: bool = True  # what check_ready says


@dataclass
class World:
    """Every memory unit made by one engine, and what happened to them."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    units: dict[str, MemoryUnit] = field(default_factory=dict)
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (time, unit, what)

    def behaviour(self, service: str) -> Behaviour:
        return self.behaviours.setdefault(service, Behaviour())

    def record(self, unit: str, what: str) -> None:
        self.log.append((time.monotonic(), unit, what))

    def events(self, unit: str) -> list[str]:
        return [what for _, u, what in self.log if u == unit]

    def factory(self) -> Callable[[Service, int, UnitContext], Unit]:
        def make(service: Service, replica: int, ctx: UnitContext) -> Unit:
            unit = MemoryUnit(service, replica, ctx, self)
            self.units[unit.name] = unit
            return unit

        return make


class MemoryUnit(Unit):
    kind = "process"

    def __init__(self, service: Service, replica: int, ctx: UnitContext, world: World) -> None:
        super().__init__(service, replica, ctx)
        self.world = world
        self.starts = 0
        self.launching = False
        self._exit: asyncio.Future[int] | None = None

    @property
    def behaviour(self) -> Behaviour:
        return self.world.behaviour(self.service.name)

    async def prepare(self, on_phase: Callable[[Phase], None]) -> None:
        if self.behaviour.prepare_delay:
            on_phase("pull")
            self.world.record(self.name, "prepare")
            try:
                await asyncio.sleep(self.behaviour.prepare_delay)
            except asyncio.CancelledError:
                self.world.record(self.name, "prepare cancelled")
                raise

    async def start(self) -> None:
        self.launching = True
        try:
            await asyncio.sleep(self.behaviour.start_delay)
        finally:
            self.launching = False
        if self.behaviour.fail_with is not None:
            raise self.behaviour.fail_with
        self.starts += 1
        self.world.record(self.name, "start")
        self._exit = asyncio.get_running_loop().create_future()

    async def wait_exit(self) -> int:
        assert self._exit is not None
        return await asyncio.shield(self._exit)

    async def stop(self, force: bool = False) -> None:
        exit_ = self._exit
        if exit_ is None or exit_.done():
            return
        self.world.record(self.name, "kill" if force else "term")
        if force:
            exit_.set_result(-9)
            return
        if self.behaviour.stop_delay:
            # the grace period: only a forced stop ends it early
            await asyncio.wait({exit_}, timeout=self.behaviour.stop_delay)
        if not exit_.done():
            exit_.set_result(-15)

    def crash(self, code: int = 1) -> None:
        """The process ends by itself."""
        assert self._exit is not None
        self.world.record(self.name, f"exit {code}")
        self._exit.set_result(code)

    async def check_ready(self) -> tuple[bool, str]:
        return self.behaviour.ready, "ok" if self.behaviour.ready else "not yet"

    @property
    def running(self) -> bool:
        return self._exit is not None and not self._exit.done()

    @property
    def probe_timing(self) -> ProbeTiming | None:
        return self.behaviour.probe


def svc(name: str, tmp: Path, *, restart: str = "no", **deps: Condition | Dependency) -> Service:
    return Service(
        name=name,
        origin=Origin(tmp / "compose.yaml"),
        depends_on=frozen_map(
            {d: c if isinstance(c, Dependency) else Dependency(d, c) for d, c in deps.items()}
        ),
        local=LocalProcess(run="true", cwd=tmp, restart=restart),  # type: ignore[arg-type]
    )


def memory_engine(tmp: Path, *services: Service, **options: object) -> tuple[Engine, World]:
    world = World()
    stack = Stack(
        name="t",
        project_dir=tmp,
        files=(),
        services=frozen_map({s.name: s for s in services}),
    )
    values: dict[str, object] = {
        "state_dir": tmp / ".devenv",
        "watch": False,
        "watchdog": False,
        "watch_quiet": 0.01,
        "backoff_base": 0.01,
        "backoff_cap": 0.05,
        "unit_factory": world.factory(),
    }
    values.update(options)
    return Engine(stack, EngineOptions(**values)), world  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


def changed(engine: Engine, changes: dict[str, list[str]], *, build: bool = True) -> None:
    """Files changed, as the reloader reports it (one moment for every unit)."""
    at = time.monotonic()
    engine._on_changes([UnitChange(u, tuple(f), build, at=at) for u, f in changes.items()])


def info(engine: Engine, unit: str) -> UnitInfo:
    return next(u for u in engine.units() if u.name == unit)


# An engine test that hangs ends the run with every stack and pending task dumped
# (import `hang_guard` into the test module; run with -s to see the dump).
HANG_LIMIT = float(os.environ.get("DEVENV_TEST_HANG_LIMIT", "60"))


def _dump_pending_tasks() -> None:
    print("=== unfinished asyncio tasks ===", file=sys.stderr)
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Task) and not obj.done():
            with contextlib.suppress(Exception):
                obj.print_stack(limit=8, file=sys.stderr)
    sys.stderr.flush()


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True)
    tasks = threading.Timer(max(HANG_LIMIT - 2, 1), _dump_pending_tasks)
    tasks.daemon = True
    tasks.start()
    yield
    tasks.cancel()
    faulthandler.cancel_dump_traceback_later()
