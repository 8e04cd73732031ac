"""The engine's shared state and the one way it changes: every unit's record,
state transitions and the events they emit, log routing, the status file and
the engine's own background tasks. The other parts of the engine build on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets as _secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from devenv.config.model import Stack
from devenv.engine.api import UnitInfo
from devenv.engine.logs import LogStore
from devenv.engine.options import EngineOptions
from devenv.engine.records import S, _Rec
from devenv.engine.statefile import write_pid, write_status
from devenv.events import (
    Event,
    LogBatch,
    LogLine,
    LogRecord,
    Progress,
    StateChanged,
    Stream,
    UnitState,
)
from devenv.runtime.base import UnitContext

log = logging.getLogger("devenv.engine")

BatchCallback = Callable[[LogBatch], None]


class EngineCore:
    """State shared by every part of the engine, and the bookkeeping on it."""

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
        if state in (S.STOPPED, S.COMPLETED, S.CRASHED, S.FAILED):
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
        batch = LogBatch(unit, service, stream, ts, lines)
        for batch_callback in self._batch_subscribers:
            try:
                batch_callback(batch)
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
