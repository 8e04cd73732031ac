"""An EngineAPI stand-in that emits scripted events, for UI tests.

It keeps its own unit snapshots and log ring, updated from the events it emits,
so the app sees the same consistency the real engine gives: `units()` and
`logs()` always agree with what was published."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from devenv.engine.api import EngineAPI, Kind, Rewrite, UnitInfo, Unsubscribe, WaitResult
from devenv.errors import DevenvError
from devenv.events import (
    EngineStatus,
    Event,
    LogBatch,
    LogLine,
    LogRecord,
    StateChanged,
    StatusChanged,
    UnitState,
)

T0 = 1_700_000_000.0  # a fixed epoch for deterministic uptimes and timestamps


@dataclass
class FakeEngine:
    units_: list[UnitInfo] = field(default_factory=list)
    project: str = "shop"
    host: str | None = "unix:///var/run/docker.sock"
    secret_values: tuple[str, ...] = ()
    script: list[Event] = field(default_factory=list)  # emitted by start()
    ring: int = 10_000
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    shutdown_gate: asyncio.Event | None = None  # hold shutdown() until set
    stats_enabled: bool = False
    now: float = T0 + 100
    pid: int = 4100  # the process the session runs in
    mode_gate: asyncio.Event | None = None  # hold set_mode() until set

    def __post_init__(self) -> None:
        self._status = EngineStatus(
            project=self.project, pid=self.pid, docker="connected" if self.host else "unused"
        )
        self._subscribers: list[tuple[Callable[[Event], None], bool]] = []
        self._batch_subscribers: list[Callable[[LogBatch], None]] = []
        self._logs: deque[LogRecord] = deque(maxlen=self.ring)

    # ---- EngineAPI -------------------------------------------------------------

    @property
    def project_name(self) -> str:
        return self.project

    @property
    def docker_host(self) -> str | None:
        return self.host

    def status(self) -> EngineStatus:
        return self._status

    def subscribe(self, callback: Callable[[Event], None], *, lines: bool = True) -> Unsubscribe:
        entry = (callback, lines)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry)

    def subscribe_log_batches(self, callback: Callable[[LogBatch], None]) -> Unsubscribe:
        self._batch_subscribers.append(callback)
        return lambda: self._batch_subscribers.remove(callback)

    def units(self) -> Sequence[UnitInfo]:
        return list(self.units_)

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]:
        records = [
            r
            for r in self._logs
            if (unit is None or r.unit == unit)
            and (since is None or r.ts >= since)
            and (not grep or re.search(grep, r.text))
        ]
        return records[-limit:] if limit else records

    def secrets(self) -> Sequence[str]:
        return self.secret_values

    async def start(self, services: Sequence[str] = ()) -> None:
        self.calls.append(("start", tuple(services)))
        script, self.script = self.script, []
        for event in script:
            self.emit(event)
        for name in services:
            for unit in self.units_:
                if unit.service == name and not unit.state.is_active:
                    self.set_state(unit.name, UnitState.READY)

    async def stop(self, units: Sequence[str] = ()) -> None:
        self.calls.append(("stop", tuple(units)))
        for unit in list(self.units_):
            if not units or unit.name in units:
                self.set_state(unit.name, UnitState.STOPPED)

    async def restart(self, units: Sequence[str] = ()) -> None:
        self.calls.append(("restart", tuple(units)))
        for unit in list(self.units_):
            if not units or unit.name in units:
                self.set_state(unit.name, UnitState.STARTING)
                self._update(unit.name, restarts=self._unit(unit.name).restarts + 1)
                self.set_state(unit.name, UnitState.READY)

    async def shutdown(self, force: bool = False) -> None:
        self.calls.append(("shutdown", ("force",) if force else ()))
        if self.shutdown_gate is not None and not force:
            for unit in self.units_:
                if unit.state.is_active:
                    self.set_state(unit.name, UnitState.STOPPING)
            await self.shutdown_gate.wait()
        for unit in list(self.units_):
            if not unit.state.is_final:
                self.set_state(unit.name, UnitState.STOPPED)

    async def wait(self, units: Sequence[str] = (), timeout: float | None = None) -> WaitResult:
        self.calls.append(("wait", tuple(units)))
        for unit in self.units_:
            if (not units or unit.name in units) and unit.state in (
                UnitState.FAILED,
                UnitState.CRASHED,
            ):
                return WaitResult("failed", unit.name, unit.detail)
        return WaitResult("ready")

    async def set_mode(self, service: str, mode: Kind) -> None:
        self.calls.append(("set_mode", (service, mode)))
        members = [u for u in self.units_ if u.service == service]
        if mode not in (members[0].modes or (members[0].kind,)):
            raise DevenvError(f"service {service!r} cannot run as a {mode}", service=service)
        for unit in members:
            self.set_state(unit.name, UnitState.STARTING, f"starting as a {mode}")
        if self.mode_gate is not None:
            await self.mode_gate.wait()
        for unit in members:
            self._update(unit.name, kind=mode)
            self.set_state(unit.name, UnitState.READY)

    def request_stats(self, enabled: bool) -> None:
        self.stats_enabled = enabled

    # ---- scripting -------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._update(
                event.unit,
                state=event.state,
                detail=event.detail,
                exit_code=event.exit_code
                if event.exit_code is not None
                else self._unit(event.unit).exit_code,
                pid=event.pid,
            )
        elif isinstance(event, LogLine):
            self._logs.append(event.record)
            record = event.record
            batch = LogBatch(record.unit, event.service, record.stream, record.ts, [record.text])
            for batch_callback in list(self._batch_subscribers):
                batch_callback(batch)
        for callback, lines in list(self._subscribers):
            if lines or not isinstance(event, LogLine):
                callback(event)

    def set_status(self, **changes: object) -> None:
        """Change the session's status and tell subscribers (StatusChanged)."""
        self._status = replace(self._status, **changes)  # type: ignore[arg-type]
        self.emit(StatusChanged(self._status))

    def update(self, unit: str, **changes: object) -> None:
        """Change a unit's snapshot without an event (the next event redraws it)."""
        self._update(unit, **changes)

    def set_state(self, unit: str, state: UnitState, detail: str = "", **kw: object) -> None:
        service = self._unit(unit).service
        self.emit(StateChanged(unit, service, state, detail, ts=self.now, **kw))  # type: ignore[arg-type]

    def log(self, unit: str, text: str, stream: str = "stdout", ts: float | None = None) -> None:
        service = self._unit(unit).service
        record = LogRecord(unit, stream, text, ts=T0 + len(self._logs) if ts is None else ts)  # type: ignore[arg-type]
        self.emit(LogLine(record, service))

    def _unit(self, name: str) -> UnitInfo:
        return next(u for u in self.units_ if u.name == name)

    def _update(self, name: str, **changes: object) -> None:
        self.units_ = [replace(u, **changes) if u.name == name else u for u in self.units_]  # type: ignore[arg-type]


def demo_units() -> list[UnitInfo]:
    """A stack like the demo: two containers, a one-shot task, an API, three workers."""
    return [
        UnitInfo(
            "postgres",
            "postgres",
            "container",
            UnitState.READY,
            health="healthy",
            ports=(5432,),
            started_at=T0,
            command="postgres:16-alpine",
            environment=(("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "s3cr3t-pw")),
            cpu_percent=1.2,
            memory_bytes=48 * 1024 * 1024,
            modes=("container",),
        ),
        UnitInfo(
            "redis",
            "redis",
            "container",
            UnitState.READY,
            health="healthy",
            ports=(6379,),
            started_at=T0 + 5,
            command="redis:7-alpine",
            cpu_percent=0.4,
            memory_bytes=9 * 1024 * 1024,
            modes=("container",),
        ),
        UnitInfo(
            "migrate",
            "migrate",
            "process",
            UnitState.COMPLETED,
            exit_code=0,
            command="python -m demo.migrate",
            cwd="/home/dev/shop",
            depends_on=("postgres",),
            modes=("process",),
        ),
        UnitInfo(
            "api",
            "api",
            "process",
            UnitState.READY,
            health="healthy",
            ports=(3000,),
            pid=4242,
            started_at=T0 + 40,
            restarts=1,
            reloads=4,
            command="python -m demo.api --port 3000",
            cwd="/home/dev/shop",
            depends_on=("migrate", "redis"),
            environment=(
                ("DATABASE_URL", "postgresql://app:s3cr3t-pw@127.0.0.1:5432/app"),
                ("REDIS_URL", "redis://127.0.0.1:6379/0"),
                ("DB_PASSWORD", "s3cr3t-pw"),
                ("API_TOKEN", "tok_9f8e7d6c"),
                ("LOG_LEVEL", "debug"),
            ),
            cpu_percent=3.5,
            memory_bytes=61 * 1024 * 1024,
            modes=("process", "container"),
            rewrites=(
                Rewrite(
                    "DATABASE_URL",
                    "postgresql://app:s3cr3t-pw@postgres:5432/app",
                    "postgresql://app:s3cr3t-pw@127.0.0.1:5432/app",
                    "postgres",
                ),
                Rewrite("REDIS_URL", "redis://redis:6379/0", "redis://127.0.0.1:6379/0", "redis"),
            ),
        ),
        *(
            UnitInfo(
                f"worker-{i}",
                "worker",
                "process",
                UnitState.READY,
                pid=5000 + i,
                started_at=T0 + 50,
                command="python -m demo.worker",
                cwd="/home/dev/shop",
                depends_on=("redis",),
                replica=i,
                cpu_percent=0.8,
                memory_bytes=30 * 1024 * 1024,
                modes=("process",),
            )
            for i in (1, 2, 3)
        ),
    ]


def demo_engine(**kw: object) -> FakeEngine:
    engine = FakeEngine(units_=demo_units(), secret_values=("s3cr3t-pw", "tok_9f8e7d6c"), **kw)  # type: ignore[arg-type]
    for i, (unit, text) in enumerate(
        [
            ("postgres", "database system is ready to accept connections"),
            ("redis", "Ready to accept connections tcp"),
            ("migrate", "applied 3 migrations"),
            ("api", "\x1b[32mINFO\x1b[0m  listening on http://localhost:3000"),
            ("api", "connecting with password s3cr3t-pw"),
            ("worker-1", "worker 1 waiting for jobs"),
            ("worker-2", "worker 2 waiting for jobs"),
            ("api", "\x1b[33mWARN\x1b[0m  slow request GET /orders 412ms"),
            ("worker-3", "worker 3 waiting for jobs"),
            ("api", "GET /health 200 1ms"),
        ]
    ):
        engine.log(unit, text, ts=T0 + 60 + i)
    return engine


def _conforms(engine: FakeEngine) -> EngineAPI:
    """mypy checks here that the fake implements the front ends' Protocol."""
    return engine
