"""The supervisor: runs a stack's units in dependency order and keeps them running.

`Engine` implements `devenv.engine.api.EngineAPI`. It is built without an event
loop and does all its work on the loop that calls `start()`.

Life of a unit: PENDING -> WAITING (on its `depends_on` conditions) -> STARTING
(launched) -> READY (probe passed, or started when it has none) <-> UNHEALTHY.
When it ends on its own: COMPLETED (exit 0) or CRASHED (non-zero, signal), then,
under restart policy `on-failure`/`always`, BACKOFF (delay doubling from
`backoff_base` up to `backoff_cap`, reset after a run of `backoff_reset` s) and
STARTING again. FAILED: it could not be launched (port taken, command missing,
Docker unavailable…). A dependency that fails, crashes or cannot reach its
condition leaves its dependents WAITING with the reason; they start as soon as
it recovers. STOPPING -> STOPPED when stopped on purpose, dependents first.

Nothing polls while idle: units are awaited, the watcher sleeps on inotify, the
status file and log files are written shortly after something changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets as _secrets
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from devenv.config.model import Condition, Service, Stack
from devenv.engine.api import EngineAPI, UnitInfo, Unsubscribe
from devenv.engine.logs import LogStore
from devenv.engine.statefile import remove_pid, write_pid, write_status
from devenv.errors import DevenvError
from devenv.events import (
    Event,
    LogLine,
    LogRecord,
    ProbeResult,
    Progress,
    Reloaded,
    StateChanged,
    Stats,
    Stream,
    UnitState,
)
from devenv.runtime.base import Unit, UnitContext
from devenv.secrets import is_secret_name

log = logging.getLogger("devenv.engine")

S = UnitState
RUNNING_STATES = frozenset({S.STARTING, S.READY, S.UNHEALTHY})
STATS_RESCAN_EVERY = 5  # samples between scans for new child processes
BatchCallback = Callable[[str, str, Stream, float, list[str]], None]


@dataclass
class EngineOptions:
    state_dir: Path | None = None  # default: <project>/.devenv
    log_ring_size: int = 10_000  # lines kept in memory per unit
    log_files: bool = True  # append to <state_dir>/logs/<unit>.log
    log_file_cap: int = 10 * 1024 * 1024  # bytes before the file is rotated once
    log_flush_interval: float = 0.2  # seconds; files are flushed this long after a write
    watch: bool = True
    watch_quiet: float = 0.010  # seconds without changes that end a burst
    watch_step_ms: int = 10  # watchfiles' grouping step
    watch_max_group_ms: int = 500  # watchfiles' longest single batch
    watch_backend: str = "auto"  # "auto" (inotify on Linux, else watchfiles), or force one
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    backoff_reset: float = 10.0  # a run this long forgets earlier crashes
    health_interval: float = 5.0  # seconds between health checks once ready
    stop_grace: float | None = None  # overrides every stop_grace_period (tests)
    write_state: bool = True  # devenv.pid and status.json
    watchdog: bool = True  # orphan guard process for when devenv is killed
    stats_interval: float = 2.0
    # Builds the unit for (service, replica); None: process or container by kind.
    # Lets tests and embedders supply their own Unit implementations.
    unit_factory: Callable[[Service, int, UnitContext], Unit] | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> EngineOptions:
        """Defaults, tuned by DEVENV_WATCH_QUIET_MS, DEVENV_WATCH_STEP_MS,
        DEVENV_WATCH_BACKEND, DEVENV_LOG_LINES and DEVENV_LOG_FILE_MB (ignored
        when not valid)."""
        options = cls()

        def number(name: str) -> float | None:
            try:
                value = float(environ[name])
            except (KeyError, ValueError):
                return None
            return value if value >= 0 else None

        if (quiet := number("DEVENV_WATCH_QUIET_MS")) is not None:
            options.watch_quiet = quiet / 1000
        if (step := number("DEVENV_WATCH_STEP_MS")) is not None and step >= 1:
            options.watch_step_ms = int(step)
        if (lines := number("DEVENV_LOG_LINES")) is not None and lines >= 1:
            options.log_ring_size = int(lines)
        if (megabytes := number("DEVENV_LOG_FILE_MB")) is not None and megabytes > 0:
            options.log_file_cap = int(megabytes * 1024 * 1024)
        if environ.get("DEVENV_WATCH_BACKEND") in ("auto", "inotify", "watchfiles"):
            options.watch_backend = environ["DEVENV_WATCH_BACKEND"]
        return options


@dataclass
class _Rec:
    """The engine's view of one unit."""

    name: str
    service: Service
    replica: int
    unit: Unit | None = None
    state: UnitState = S.PENDING
    detail: str = ""
    exit_code: int | None = None
    pid: int | None = None
    started_at: float | None = None
    restarts: int = 0
    crashes: int = 0
    health: str | None = None
    want: Literal["run", "stop", "idle"] = "idle"
    ever_started: bool = False
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reloading: bool = False
    restarting: bool = False
    reload_stopping: bool = False  # the old instance is going; new changes join this reload
    reload_changes: set[str] = field(default_factory=set)
    last_change: float = 0.0
    stop_requested: bool = False  # stopped on purpose; a reload must not bring it back
    attempts: int = 0  # launches tried, successful or not
    guarded: int | None = None  # process group registered with the orphan guard
    guarded_container: str | None = None  # container registered with the orphan guard
    reload_pending: list[str] | None = None
    cpu: float | None = None
    memory: int | None = None


class Engine:
    """The real engine. See the module docstring for the state machine."""

    def __init__(self, stack: Stack, options: EngineOptions | None = None) -> None:
        self.stack = stack
        self.options = options or EngineOptions()
        self.state_dir = self.options.state_dir or stack.project_dir / ".devenv"
        self.run_id = _secrets.token_hex(6)
        self._subscribers: list[Callable[[Event], None]] = []
        self._line_subscribers: list[Callable[[Event], None]] = []
        self._batch_subscribers: list[BatchCallback] = []
        self._logs = LogStore(
            self.options.log_ring_size,
            self.state_dir / "logs" if self.options.log_files else None,
            self.options.log_file_cap,
        )
        self._recs: dict[str, _Rec] = {}
        self._by_service: dict[str, list[_Rec]] = {}
        for service in stack.services.values():
            count = max(1, service.local.replicas if service.local else service.replicas)
            recs = []
            for n in range(1, count + 1):
                name = f"{service.name}-{n}" if count > 1 else service.name
                rec = _Rec(name=name, service=service, replica=n)
                self._recs[name] = rec
                recs.append(rec)
            self._by_service[service.name] = recs
        self._changed: asyncio.Event | None = None
        self._ctx: UnitContext | None = None
        self._guard: Any = None
        self._watcher: Any = None
        self._watched: frozenset[str] = frozenset()
        self._containers_ready: asyncio.Future[None] | None = None
        self._status_handle: asyncio.Handle | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False
        self._closed = False

    # --- EngineAPI: read side --------------------------------------------------

    @property
    def project_name(self) -> str:
        return self.stack.name

    @property
    def docker_host(self) -> str | None:
        if not any(not s.is_process for s in self.stack.services.values()):
            return None
        try:
            from devenv.runtime import container
        except ImportError:
            return None
        host: str | None = container.docker_host()
        return host

    def subscribe(self, callback: Callable[[Event], None], *, lines: bool = True) -> Unsubscribe:
        """Every event from now on. With `lines=False`, no LogLine events (use
        `subscribe_log_batches` for output at full speed)."""
        self._subscribers.append(callback)
        if lines:
            self._line_subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)
            with contextlib.suppress(ValueError):
                self._line_subscribers.remove(callback)

        return unsubscribe

    def subscribe_log_batches(self, callback: BatchCallback) -> Unsubscribe:
        """(unit, service, stream, timestamp, lines) for every batch of output."""
        self._batch_subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._batch_subscribers.remove(callback)

        return unsubscribe

    def units(self) -> Sequence[UnitInfo]:
        return [self._info(rec) for rec in self._recs.values()]

    def unit_names(self) -> list[str]:
        return list(self._recs)

    def state_of(self, unit: str) -> UnitState:
        return self._recs[unit].state

    def logs(self, unit: str | None = None) -> Sequence[LogRecord]:
        if unit is not None:
            return self._logs.records(unit)
        return self._logs.all_records(self._recs)

    def secrets(self) -> Sequence[str]:
        found: set[str] = set()
        for service in self.stack.services.values():
            env: dict[str, str | None] = dict(service.environment)
            if service.local:
                env.update(service.local.environment)
            for key, value in env.items():
                if value and len(value) >= 3 and is_secret_name(key):
                    found.add(value)
        return sorted(found)

    def _info(self, rec: _Rec) -> UnitInfo:
        service = rec.service
        unit = rec.unit
        ports: tuple[int, ...] = unit.host_ports if unit else ()
        if not ports and service.local:
            ports = tuple(p + rec.replica - 1 for p in service.local.ports)
        command = (unit.command_text if unit else "") or (
            service.local.run if service.local else (service.image or "")
        )
        return UnitInfo(
            name=rec.name,
            service=service.name,
            kind=service.kind,
            state=rec.state,
            detail=rec.detail,
            health=rec.health,
            ports=ports,
            pid=rec.pid,
            started_at=rec.started_at,
            restarts=rec.restarts,
            exit_code=rec.exit_code,
            command=command,
            cwd=str(service.local.cwd) if service.local else service.working_dir,
            depends_on=tuple(service.depends_on),
            environment=tuple(sorted((unit.environment if unit else {}).items())),
            replica=rec.replica,
            cpu_percent=rec.cpu,
            memory_bytes=rec.memory,
        )

    # --- EngineAPI: commands -----------------------------------------------------

    async def start(self, services: Sequence[str] = ()) -> None:
        selection = self.stack.select(services)  # SelectionError for unknown names
        self._setup()
        chosen = [r for name in selection.services for r in self._by_service.get(name, [])]
        for rec in chosen:
            if rec.want == "run" and (rec.task is not None and not rec.task.done()):
                continue
            if rec.state in RUNNING_STATES:
                continue
            rec.want = "run"
            rec.stop_requested = False
            rec.crashes = 0
            self._set(rec, S.PENDING)
            rec.task = self._spawn(self._lifecycle(rec, check_deps=True), f"unit-{rec.name}")
        self._update_watcher()
        await self._wait_launched(chosen)

    async def stop(self, units: Sequence[str] = ()) -> None:
        self._check_names(units)
        targets = self._with_dependents(units)
        await self._stop_in_order(targets, force=False)

    async def restart(self, units: Sequence[str] = ()) -> None:
        self._check_names(units)
        names = list(units) or list(self._recs)
        self._setup()
        await asyncio.gather(*(self._restart(self._recs[n]) for n in names))
        await self._restart_dependents({self._recs[n].service.name for n in names})

    async def _restart_dependents(self, services: set[str]) -> None:
        """Compose's `depends_on: {x: {restart: true}}`: when x was restarted on
        purpose (command or reload), restart the services that asked for it."""
        todo = [
            rec
            for rec in self._recs.values()
            if rec.service.name not in services
            and rec.ever_started
            and not rec.stop_requested
            and any(
                name in services and dep.restart for name, dep in rec.service.depends_on.items()
            )
        ]
        if todo:
            await asyncio.gather(*(self._restart(r) for r in todo))
            await self._restart_dependents({r.service.name for r in todo} | services)

    async def shutdown(self, force: bool = False) -> None:
        if self._closed:
            if force:  # a graceful shutdown is under way: cut it short
                await asyncio.gather(*(self._kill_now(r) for r in self._recs.values()))
            return
        self._closed = True
        if self._watcher is not None:
            await self._watcher.close()
            self._watcher = None
        if self._stats_task is not None:
            self._stats_task.cancel()
        if force:
            await asyncio.gather(*(self._stop_rec(r, force=True) for r in self._recs.values()))
        else:
            await self._stop_in_order(list(self._recs.values()), force=False)
        for task in list(self._background):
            task.cancel()
        self._logs.flush()
        self._logs.close()
        if self._guard is not None:
            self._guard.close()
            self._guard = None
        if self._started and self.options.write_state:
            self._write_status()
            remove_pid(self.state_dir)
        self._started = False  # a later start() sets everything up again
        self._watched = frozenset()

    async def _kill_now(self, rec: _Rec) -> None:
        unit = rec.unit
        if unit is not None and unit.running:
            with contextlib.suppress(Exception):
                await unit.stop(force=True)

    def request_stats(self, enabled: bool) -> None:
        if enabled and (self._stats_task is None or self._stats_task.done()):
            self._stats_task = self._spawn(self._sample_stats(), "stats")
        elif not enabled and self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None

    # --- setup -----------------------------------------------------------------

    def _setup(self) -> None:
        if self._started:
            return
        self._started = True
        self._closed = False
        self._changed = asyncio.Event()
        self._ctx = UnitContext(
            stack=self.stack,
            on_log=self._on_log,
            on_progress=self._on_progress,
            state_dir=self.state_dir,
            on_log_batch=self._on_log_batch,
            run_id=self.run_id,
        )
        if self.options.write_state:
            write_pid(self.state_dir)
        if self.options.watchdog and self.stack.services:
            from devenv.engine.watchdog import Guard

            self._guard = Guard(self.run_id)
            self._guard.start()

    def _check_names(self, units: Sequence[str]) -> None:
        from devenv.config.model import unknown_service

        for name in units:
            if name not in self._recs:
                raise unknown_service(name, self._recs)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task %s failed", task.get_name(), exc_info=task.exception())

    # --- state and events ---------------------------------------------------------

    def _emit(self, event: Event) -> None:
        targets = self._line_subscribers if isinstance(event, LogLine) else self._subscribers
        for callback in list(targets):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed")

    def _set(
        self,
        rec: _Rec,
        state: UnitState,
        detail: str = "",
        *,
        exit_code: int | None = None,
    ) -> None:
        if rec.state == state and rec.detail == detail and exit_code is None:
            return
        rec.state = state
        rec.detail = detail
        if exit_code is not None:
            rec.exit_code = exit_code
        if state in (S.STOPPED, S.COMPLETED, S.CRASHED, S.EXITED, S.FAILED):
            rec.pid = None
            rec.cpu = rec.memory = None
        self._emit(
            StateChanged(
                unit=rec.name,
                service=rec.service.name,
                state=state,
                detail=detail,
                exit_code=rec.exit_code if exit_code is None else exit_code,
                pid=rec.pid,
            )
        )
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()
        self._schedule_status()

    async def _next_change(self) -> None:
        assert self._changed is not None
        await self._changed.wait()

    def _devenv_line(self, rec: _Rec, text: str) -> None:
        self._on_log_batch(rec.name, "devenv", [text])

    def _on_log(self, unit: str, stream: Stream, line: str) -> None:
        self._on_log_batch(unit, stream, [line])

    def _on_log_batch(self, unit: str, stream: Stream, lines: list[str]) -> None:
        ts = time.time()
        self._logs.add(unit, stream, lines, ts)
        rec = self._recs.get(unit)
        service = rec.service.name if rec else unit
        for batch_callback in self._batch_subscribers:
            try:
                batch_callback(unit, service, stream, ts, lines)
            except Exception:
                log.exception("log subscriber failed")
        if self._line_subscribers:
            for line in lines:
                self._emit(LogLine(LogRecord(unit, stream, line, ts), service))
        if self._logs.log_dir is not None and self._flush_handle is None and self._started:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.options.log_flush_interval, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._logs.flush()

    def _on_progress(self, progress: Progress) -> None:
        self._emit(progress)

    def _schedule_status(self) -> None:
        if not self.options.write_state or not self._started or self._status_handle is not None:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            self._status_handle = loop.call_later(0.05, self._write_status)

    def _write_status(self) -> None:
        self._status_handle = None
        units = []
        for rec in self._recs.values():
            info = self._info(rec)
            units.append(
                {
                    "name": info.name,
                    "service": info.service,
                    "kind": info.kind,
                    "state": str(info.state),
                    "detail": info.detail,
                    "pid": info.pid,
                    "ports": list(info.ports),
                    "restarts": info.restarts,
                    "exit_code": info.exit_code,
                    "started_at": info.started_at,
                }
            )
        data = {
            "pid": os.getpid(),
            "project": self.stack.name,
            "project_dir": str(self.stack.project_dir),
            "updated": time.time(),
            "running": not self._closed,
            "units": units,
        }
        try:
            write_status(self.state_dir, data)
        except OSError as error:
            log.warning("cannot write status: %s", error)

    # --- the life of one unit ---------------------------------------------------

    def _make_unit(self, rec: _Rec) -> Unit:
        assert self._ctx is not None
        if rec.unit is not None:
            return rec.unit
        factory = self.options.unit_factory
        if factory is not None:
            rec.unit = factory(rec.service, rec.replica, self._ctx)
        elif rec.service.is_process:
            from devenv.runtime.process import ProcessUnit

            rec.unit = ProcessUnit(rec.service, rec.replica, self._ctx)
        else:
            try:
                from devenv.runtime.container import (
                    ContainerUnit,
                )
            except ImportError as error:
                raise DevenvError(
                    "container support not available", hint=str(error), service=rec.service.name
                ) from None
            rec.unit = ContainerUnit(rec.service, rec.replica, self._ctx)
        return rec.unit

    async def _prepare_containers(self) -> None:
        if self._containers_ready is None:
            self._containers_ready = asyncio.get_running_loop().create_future()
            try:
                from devenv.runtime.container import (
                    prepare_project,
                )

                assert self._ctx is not None
                await prepare_project(self._ctx)
            except ImportError as error:
                failure = DevenvError("container support not available", hint=str(error))
                self._containers_ready.set_exception(failure)
            except BaseException as error:
                self._containers_ready.set_exception(error)
            else:
                self._containers_ready.set_result(None)
        await asyncio.shield(self._containers_ready)

    async def _lifecycle(self, rec: _Rec, *, check_deps: bool) -> None:
        while rec.want == "run":
            if check_deps:
                await self._wait_dependencies(rec)
            check_deps = False
            if not await self._launch(rec):
                return
            began = time.monotonic()
            code = await self._run_until_exit(rec)
            self._release(rec)
            if rec.want != "run":
                return
            if time.monotonic() - began >= self.options.backoff_reset:
                rec.crashes = 0
            again = self._should_restart(rec, code)
            if not again:
                rec.want = "idle"  # ended for good: dependents can tell before we return
            if code == 0:
                self._set(rec, S.COMPLETED, "exit 0", exit_code=0)
            else:
                self._set(rec, S.CRASHED, _describe_exit(code), exit_code=code)
            if not again:
                return
            rec.crashes += 1
            delay = min(
                self.options.backoff_cap, self.options.backoff_base * 2 ** (rec.crashes - 1)
            )
            why = _describe_exit(code)
            self._set(rec, S.BACKOFF, f"{why}; restarting in {delay:.1f}s (#{rec.crashes})")
            self._devenv_line(rec, f"{why}; restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            rec.restarts += 1

    def _restart_policy(self, service: Service) -> str:
        local = service.local
        if local is not None and local.restart != "no":
            return local.restart
        return service.restart or "no"

    def _should_restart(self, rec: _Rec, code: int) -> bool:
        policy = self._restart_policy(rec.service)
        if policy in ("always", "unless-stopped"):
            return True
        return policy == "on-failure" and code != 0

    async def _wait_dependencies(self, rec: _Rec) -> None:
        deps = [
            (name, dep)
            for name, dep in rec.service.depends_on.items()
            if name in self._by_service and name != rec.service.name
        ]
        while True:
            blockers = [
                reason
                for name, dep in deps
                if (reason := self._unmet(name, dep.condition)) is not None
                and not (not dep.required and self._failed_for_good(name))
            ]
            if not blockers:
                return
            self._set(rec, S.WAITING, "; ".join(blockers))
            await self._next_change()

    def _failed_for_good(self, service: str) -> bool:
        """Could not be launched: an optional (`required: false`) dependency in this
        state is skipped, as Compose does."""
        return any(r.state == S.FAILED for r in self._by_service[service])

    def _unmet(self, service: str, condition: Condition) -> str | None:
        """None when the condition holds; otherwise what is being waited for."""
        recs = self._by_service[service]
        if condition == Condition.STARTED:
            want = "started"
            ok = all(r.ever_started and r.state != S.FAILED for r in recs)
        elif condition == Condition.HEALTHY:
            want = "healthy"
            ok = all(r.state == S.READY for r in recs)
        else:
            want = "completed successfully"
            ok = all(r.state == S.COMPLETED for r in recs)
        if ok:
            return None
        for r in recs:
            if r.state == S.FAILED:
                return f"{r.name} failed: {r.detail}"
            if r.state in (S.CRASHED, S.EXITED) and r.want != "run":
                return f"{r.name} {r.state} ({r.detail})"
            if condition == Condition.COMPLETED and r.state in (S.CRASHED, S.EXITED):
                return f"{r.name} exited with {r.exit_code}"
            if r.state == S.STOPPED:
                return f"{r.name} is stopped"
        states = ", ".join(sorted({str(r.state) for r in recs}))
        return f"{service} to be {want} (now {states})"

    async def _launch(self, rec: _Rec) -> bool:
        async with rec.lock:
            if rec.want != "run":
                return False
            try:
                unit = self._make_unit(rec)
                if unit.kind == "container" and self.options.unit_factory is None:
                    await self._prepare_containers()
                await unit.start()
            except asyncio.CancelledError:
                raise
            except DevenvError as error:
                rec.attempts += 1
                self._fail(rec, error.message, str(error))
                return False
            except Exception as error:  # an unexpected failure stays visible on the unit
                log.exception("starting %s", rec.name)
                rec.attempts += 1
                self._fail(rec, f"{type(error).__name__}: {error}", None)
                return False
            rec.attempts += 1
            rec.ever_started = True
            rec.started_at = time.time()
            rec.exit_code = None
            rec.pid = unit.pid
            rec.health = None
            if unit.kind == "process" and unit.pid is not None and self._guard is not None:
                self._guard.add(unit.pid)
                rec.guarded = unit.pid
            if unit.container_id is not None and self._guard is not None:
                self._guard.add_container(unit.container_id, self.docker_host or "")
                rec.guarded_container = unit.container_id
            self._set(rec, S.STARTING, f"pid {unit.pid}" if unit.pid else "")
            return True

    def _fail(self, rec: _Rec, detail: str, full: str | None) -> None:
        rec.want = "idle"
        self._set(rec, S.FAILED, detail)
        self._devenv_line(rec, f"failed to start: {full or detail}")

    def _release(self, rec: _Rec) -> None:
        """The unit's process is gone: the guard no longer needs to watch it."""
        if self._guard is not None:
            if rec.guarded is not None:
                self._guard.remove(rec.guarded)
            if rec.guarded_container is not None:
                self._guard.remove_container(rec.guarded_container)
        rec.guarded = rec.guarded_container = None

    async def _run_until_exit(self, rec: _Rec) -> int:
        assert rec.unit is not None
        probe = asyncio.create_task(self._probe(rec), name=f"probe-{rec.name}")
        try:
            return await rec.unit.wait_exit()
        finally:
            probe.cancel()
            # bounded: a probe must never keep a stop waiting
            await asyncio.wait({probe}, timeout=2.0)

    async def _probe(self, rec: _Rec) -> None:
        unit = rec.unit
        assert unit is not None
        timing = unit.probe_timing
        if timing is None:
            self._set(rec, S.READY, "started")
            return
        await asyncio.sleep(timing.start_period)
        failures = 0
        last_ok: bool | None = None
        retries = timing.retries or 3
        me = asyncio.current_task()
        while True:
            # asyncio.wait_for (3.11) can swallow a cancellation that races with
            # its result, somewhere below; never go round again once cancelled.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            try:
                async with asyncio.timeout(timing.timeout + 1.0):
                    ok, detail = await unit.check_ready()
            except TimeoutError:
                ok, detail = False, f"check timed out after {timing.timeout:g}s"
            except Exception as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
            if not unit.running:
                return
            if ok != last_ok:
                self._emit(ProbeResult(rec.name, rec.service.name, ok, detail))
                last_ok = ok
            if ok:
                failures = 0
                if rec.state in (S.STARTING, S.UNHEALTHY):
                    rec.health = "healthy"
                    self._set(rec, S.READY, detail)
                if not timing.health:
                    return
            else:
                failures += 1
                if rec.state == S.STARTING:
                    rec.health = "starting"
                    if timing.retries is not None and failures >= retries:
                        rec.health = "unhealthy"
                        self._set(rec, S.UNHEALTHY, detail)
                    else:
                        self._set(rec, S.STARTING, detail)
                elif rec.state == S.READY and failures >= retries:
                    rec.health = "unhealthy"
                    self._set(rec, S.UNHEALTHY, detail)
            interval = timing.interval
            if rec.state == S.READY:
                interval = max(interval, self.options.health_interval)
            hint = unit.ready_hint
            if hint is None or hint.is_set():
                await asyncio.sleep(interval)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await hint.wait()

    # --- stopping and restarting ------------------------------------------------

    def _with_dependents(self, units: Sequence[str]) -> list[_Rec]:
        if not units:
            return list(self._recs.values())
        chosen = {self._recs[n].name for n in units}
        stopped_services = {
            s for s, recs in self._by_service.items() if all(r.name in chosen for r in recs)
        }
        changed = True
        while changed:
            changed = False
            for name, recs in self._by_service.items():
                if name in stopped_services:
                    continue
                if any(d in stopped_services for d in self.stack.services[name].depends_on):
                    stopped_services.add(name)
                    chosen.update(r.name for r in recs)
                    changed = True
        return [r for r in self._recs.values() if r.name in chosen]

    def _layer_of(self) -> dict[str, int]:
        layers: dict[str, int] = {}
        try:
            order = self.stack.start_order()
        except DevenvError:
            order = [list(self.stack.services)]
        for index, layer in enumerate(order):
            for name in layer:
                layers[name] = index
        return layers

    async def _stop_in_order(self, recs: list[_Rec], *, force: bool) -> None:
        for rec in recs:
            rec.stop_requested = True
        layers = self._layer_of()
        by_layer: dict[int, list[_Rec]] = {}
        for rec in recs:
            by_layer.setdefault(layers.get(rec.service.name, 0), []).append(rec)
        for rec in recs:  # nothing waiting or backing off may start meanwhile
            rec.want = "stop"
        for index in sorted(by_layer, reverse=True):
            await asyncio.gather(*(self._stop_rec(r, force=force) for r in by_layer[index]))

    async def _stop_rec(self, rec: _Rec, *, force: bool, final: bool = True) -> None:
        rec.want = "stop"
        task = rec.task
        async with rec.lock:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            rec.task = None
            unit = rec.unit
            if unit is not None and (unit.running or rec.state in RUNNING_STATES):
                self._set(rec, S.STOPPING, "forced" if force else "")
                try:
                    await self._unit_stop(rec, unit, force)
                except Exception as error:
                    log.exception("stopping %s", rec.name)
                    self._devenv_line(rec, f"stop failed: {error}")
                self._release(rec)
                if final:
                    self._set(rec, S.STOPPED, "")
            elif final and rec.state in (S.PENDING, S.WAITING, S.BACKOFF, S.STOPPING):
                self._set(rec, S.STOPPED, "")

    async def _unit_stop(self, rec: _Rec, unit: Unit, force: bool) -> None:
        grace = self.options.stop_grace
        if grace is not None and hasattr(unit, "grace"):
            unit.grace = grace
        await unit.stop(force=force)

    async def _restart(self, rec: _Rec) -> None:
        """Stop if running, then launch again at once (dependencies already held)."""
        rec.stop_requested = False
        rec.restarting = True
        try:
            await self._stop_rec(rec, force=False, final=False)
            await self._relaunch(rec)
        finally:
            rec.restarting = False

    async def _relaunch(self, rec: _Rec) -> None:
        if self._closed or rec.stop_requested:
            return
        rec.want = "run"
        rec.crashes = 0
        if rec.ever_started:
            rec.restarts += 1
        before = rec.attempts
        rec.task = self._spawn(
            self._lifecycle(rec, check_deps=not rec.ever_started), f"unit-{rec.name}"
        )
        # The restart is over once the new instance is launched (or failed).
        while rec.want == "run" and rec.attempts == before and rec.state != S.WAITING:
            await self._next_change()

    # --- hot reload ----------------------------------------------------------------

    def _update_watcher(self) -> None:
        if not self.options.watch:
            return
        specs = self._watch_specs()
        names = frozenset(s.unit for s in specs)
        if not specs or names == self._watched:
            return
        self._watched = names
        from devenv.engine.watcher import Watcher

        old = self._watcher
        self._watcher = Watcher(
            specs,
            self._on_changes,
            project_dir=self.stack.project_dir,
            quiet=0.0,  # the quiet window is applied per unit by _reload
            step_ms=self.options.watch_step_ms,
            max_group_ms=self.options.watch_max_group_ms,
            backend=self.options.watch_backend,
        )
        if old is not None:
            self._spawn(old.close(), "watcher-close")
        self._watcher.start()
        for unit, path in self._watcher.missing:
            self._devenv_line(self._recs[unit], f"watch path {path} does not exist")

    def _watch_specs(self) -> list[Any]:
        from devenv.engine.watcher import WatchSpec

        specs = []
        for rec in self._recs.values():
            local = rec.service.local
            if rec.want == "run" and local is not None and local.watch:
                specs.append(WatchSpec(rec.name, local.watch, local.ignore))
        return specs

    async def watcher_ready(self) -> None:
        """Wait until file changes are being watched (for tests and benchmarks)."""
        if self._watcher is not None:
            await self._watcher.ready.wait()

    def _on_changes(self, routed: dict[str, list[str]]) -> None:
        for unit, changes in routed.items():
            rec = self._recs.get(unit)
            if rec is None:
                continue
            if rec.reloading and rec.reload_stopping:  # not relaunched yet: same reload
                rec.reload_changes.update(changes)
                rec.last_change = time.monotonic()
                continue
            if rec.reloading:  # one more restart once this one is done, however many changes
                rec.reload_pending = sorted({*(rec.reload_pending or ()), *changes})
                continue
            if rec.want == "stop" or rec.state in (S.PENDING, S.WAITING):
                continue
            self._spawn(self._reload(rec, changes), f"reload-{unit}")

    async def _reload(self, rec: _Rec, changes: list[str]) -> None:
        """Stop the old instance at once, launch the new one when no change has come
        for `watch_quiet` seconds: a burst is one restart, and the quiet window
        overlaps the stop instead of adding to it."""
        rec.reloading = True
        try:
            pending: list[str] | None = changes
            while pending is not None and not (self._closed or rec.stop_requested):
                rec.reload_pending = None
                rec.reload_stopping = True
                rec.reload_changes = set(pending)
                rec.last_change = time.monotonic()
                self._emit(Reloaded(rec.name, rec.service.name, tuple(pending[:5])))
                await self._stop_rec(rec, force=False, final=False)
                quiet = self.options.watch_quiet
                while (left := rec.last_change + quiet - time.monotonic()) > 0:
                    await asyncio.sleep(left)
                rec.reload_stopping = False
                changed = sorted(rec.reload_changes)
                more = f" (+{len(changed) - 5} more)" if len(changed) > 5 else ""
                self._devenv_line(rec, f"reloading: {', '.join(changed[:5])}{more} changed")
                await self._relaunch(rec)
                await self._restart_dependents({rec.service.name})
                pending = rec.reload_pending
        finally:
            rec.reloading = False
            rec.reload_stopping = False
            rec.reload_pending = None

    # --- waiting for start() -----------------------------------------------------

    async def _wait_launched(self, recs: list[_Rec]) -> None:
        def settled(rec: _Rec) -> bool:
            if rec.want != "run" or rec.state in (S.FAILED, *RUNNING_STATES):
                return True
            if rec.state in (S.COMPLETED, S.CRASHED, S.BACKOFF, S.EXITED):
                return True
            return rec.state == S.WAITING and self._blocked(rec)

        while not all(settled(r) for r in recs):
            await self._next_change()

    def _blocked(self, rec: _Rec) -> bool:
        """Waiting on something that will not happen by itself."""
        for name, dep in rec.service.depends_on.items():
            if name not in self._by_service:
                continue
            for r in self._by_service[name]:
                if r.state in (S.FAILED, S.STOPPED):
                    return True
                ended = r.state in (S.CRASHED, S.EXITED, S.COMPLETED) and r.want != "run"
                if ended and (dep.condition != Condition.COMPLETED or r.state != S.COMPLETED):
                    return True
                if r.state == S.WAITING and r is not rec and self._blocked(r):
                    return True
        return False

    def settled(self) -> bool:
        """Nothing runs, nothing will start by itself, and no file change can restart
        anything: what the headless runner waits for before exiting on its own."""
        for rec in self._recs.values():
            if rec.reloading or rec.restarting:  # stopped only to start again
                return False
            if rec.want == "stop" or (rec.state == S.PENDING and rec.task is None):
                continue
            if rec.state in RUNNING_STATES or rec.state in (S.BACKOFF, S.PENDING, S.STOPPING):
                return False
            if rec.state == S.WAITING and not self._blocked(rec):
                return False
            if rec.service.local is not None and rec.service.local.watch and self.options.watch:
                return False
        return True

    def failed_units(self, services: Sequence[str] = ()) -> list[str]:
        """Units of these services (all when empty) that could not be started."""
        wanted = set(services) or set(self._by_service)
        return [
            r.name for r in self._recs.values() if r.service.name in wanted and r.state == S.FAILED
        ]

    # --- stats ------------------------------------------------------------------------

    async def _sample_stats(self) -> None:
        import psutil

        # Reading a known pid's /proc files is cheap; finding its descendants is a
        # scan of all of /proc. So families are cached and rescanned only every
        # few samples (or when a unit's pid changes), which keeps sampling ten
        # idle services far below a percent of a core.
        families: dict[int, list[psutil.Process]] = {}
        samples = 0
        while True:
            rescan = samples % STATS_RESCAN_EVERY == 0
            samples += 1
            live: set[int] = set()
            await self._sample_containers()
            for rec in self._recs.values():
                if rec.pid is None or rec.service.kind != "process":
                    continue
                live.add(rec.pid)
                try:
                    family = families.get(rec.pid)
                    if family is None or rescan:
                        leader = family[0] if family else psutil.Process(rec.pid)
                        known = {p.pid: p for p in family or ()}
                        family = [leader] + [
                            known.get(child.pid, child) for child in leader.children(recursive=True)
                        ]
                        families[rec.pid] = family
                    cpu = memory = 0.0
                    for proc in family:
                        with contextlib.suppress(psutil.Error):  # a child may be gone
                            cpu += proc.cpu_percent(None)
                            memory += proc.memory_info().rss
                except psutil.Error:
                    families.pop(rec.pid, None)
                    continue
                rec.cpu, rec.memory = cpu, int(memory)
                self._emit(Stats(rec.name, rec.service.name, cpu, int(memory)))
            for pid in set(families) - live:
                del families[pid]
            await asyncio.sleep(self.options.stats_interval)

    async def _sample_containers(self) -> None:
        """Units without a pid of their own (containers) measure themselves."""
        recs = [r for r in self._recs.values() if r.unit is not None and r.pid is None]
        if not recs:
            return
        samples = await asyncio.gather(*(r.unit.sample_usage() for r in recs if r.unit))
        for rec, usage in zip(recs, samples, strict=True):
            if usage is None:
                continue
            rec.cpu, rec.memory = usage
            self._emit(Stats(rec.name, rec.service.name, *usage))


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _conforms(engine: Engine) -> EngineAPI:
    """mypy checks here that Engine implements the front ends' Protocol."""
    return engine
