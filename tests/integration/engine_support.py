"""Building blocks for engine tests: stacks of small Python scripts in a tmp dir,
an engine with short timings, and polling with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hostports import free_port  # noqa: F401 (re-exported)

from devenv.config.model import (
    BuildStep,
    Condition,
    Dependency,
    LocalProcess,
    Origin,
    ReadyProbe,
    Service,
    Stack,
    WatchRule,
    frozen_map,
)
from devenv.engine.api import UnitInfo
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.events import Event, StateChanged, UnitState

PY = sys.executable
HANG_LIMIT = float(os.environ.get("DEVENV_TEST_HANG_LIMIT", "120"))  # seconds; tests take ~1


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """A hung test dumps every thread's stack and every pending asyncio task and
    ends the run instead of blocking CI (imported into each engine test module;
    run with -s to see the dump)."""
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True)
    tasks = threading.Timer(max(HANG_LIMIT - 5, 1), _dump_pending_tasks)
    tasks.daemon = True
    tasks.start()
    yield
    tasks.cancel()
    faulthandler.cancel_dump_traceback_later()


def _dump_pending_tasks() -> None:
    """What every unfinished asyncio task awaits: where a hang really is."""
    print("=== unfinished asyncio tasks ===", file=sys.stderr)
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Task) and not obj.done():
            with contextlib.suppress(Exception):
                obj.print_stack(limit=8, file=sys.stderr)
    sys.stderr.flush()


def write_script(directory: Path, name: str, code: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(code))
    return path


def service(
    name: str,
    run: str,
    cwd: Path,
    *,
    depends: Mapping[str, Condition | str] | None = None,
    ports: tuple[int, ...] = (),
    ready: ReadyProbe | None = None,
    watch: tuple[Path, ...] = (),
    ignore: tuple[str, ...] = (),
    restart: str = "no",
    replicas: int = 1,
    shell: bool = False,
    environment: Mapping[str, str] | None = None,
    stop_signal: str | None = None,
    grace: float | None = None,
    build: tuple[BuildStep, ...] = (),
    watch_rules: tuple[WatchRule, ...] = (),
) -> Service:
    deps = {
        dep: Dependency(dep, Condition(cond) if isinstance(cond, str) else cond)
        for dep, cond in (depends or {}).items()
    }
    local = LocalProcess(
        run=run,
        cwd=cwd,
        shell=shell,
        environment=frozen_map(environment or {}),
        ports=ports,
        ready=ready,
        watch=watch,
        ignore=ignore,
        replicas=replicas,
        restart=restart,  # type: ignore[arg-type]
        build=build,
        watch_rules=watch_rules,
    )
    return Service(
        name=name,
        origin=Origin(cwd / "compose.yaml"),
        depends_on=frozen_map(deps),
        stop_signal=stop_signal,
        stop_grace_period=grace,
        local=local,
    )


def step(run: str, *when: Path) -> BuildStep:
    """A build step run through the shell (as `x-devenv.build` with `shell: true`)."""
    return BuildStep(run=run, argv=("/bin/sh", "-c", run), when=tuple(when))


def make_stack(project: Path, *services: Service, variables: dict[str, str] | None = None) -> Stack:
    return Stack(
        name="t",
        project_dir=project,
        files=(project / "compose.yaml",),
        services=frozen_map({s.name: s for s in services}),
        variables=frozen_map(variables or {}),
    )


def fast_options(project: Path, **overrides: Any) -> EngineOptions:
    values: dict[str, Any] = {
        "state_dir": project / ".devenv",
        "watch_quiet": 0.05,
        "watch_step_ms": 10,
        "backoff_base": 0.05,
        "backoff_cap": 0.2,
        "stop_grace": 2.0,
        "watchdog": True,
    }
    values.update(overrides)
    return EngineOptions(**values)


class Recorder:
    """Collects every event an engine publishes."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[Event] = []
        engine.subscribe(self.events.append)

    def states(self, unit: str) -> list[UnitState]:
        """The unit's state transitions (detail-only updates folded away)."""
        out: list[UnitState] = []
        for e in self.events:
            if isinstance(e, StateChanged) and e.unit == unit and (not out or out[-1] != e.state):
                out.append(e.state)
        return out

    def first(self, unit: str, state: UnitState) -> int:
        for index, event in enumerate(self.events):
            if isinstance(event, StateChanged) and event.unit == unit and event.state == state:
                return index
        raise AssertionError(f"{unit} never reached {state}: {self.states(unit)}")


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_state(engine: Engine, unit: str, *states: UnitState, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while engine.state_of(unit) not in states:
        if time.monotonic() > deadline:
            now = unit_info(engine, unit)
            raise AssertionError(
                f"timed out after {timeout}s waiting for {unit} to be {'/'.join(states)}; "
                f"it is {now.state} ({now.detail})"
            )
        await asyncio.sleep(0.02)


def unit_info(engine: Engine, unit: str) -> UnitInfo:
    return next(u for u in engine.units() if u.name == unit)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def read_pids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(x) for x in path.read_text().split()]


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env
