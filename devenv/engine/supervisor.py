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
import os
import re
from collections.abc import Callable, Sequence

from devenv.config.model import unknown_service
from devenv.engine.api import EngineAPI, Kind, UnitInfo, Unsubscribe, WaitResult
from devenv.engine.core import BatchCallback
from devenv.engine.lifecycle import docker_host_of
from devenv.engine.options import EngineOptions
from devenv.engine.records import RUNNING_STATES, S
from devenv.engine.reload import HotReload
from devenv.engine.statefile import remove_pid
from devenv.engine.stats import StatsSampling
from devenv.errors import DevenvError
from devenv.events import DockerState, EngineStatus, Event, LogRecord, UnitState
from devenv.secrets import is_secret_name

__all__ = ["Engine", "EngineOptions"]


class Engine(HotReload, StatsSampling):
    """The real engine. See the module docstring for the state machine; the parts
    it is built from live in the neighbouring modules, this class is what front
    ends call."""

    # --- EngineAPI: read side --------------------------------------------------

    @property
    def project_name(self) -> str:
        return self.stack.name

    @property
    def docker_host(self) -> str | None:
        return docker_host_of(self.stack)

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

    def status(self) -> EngineStatus:
        docker: DockerState = "unused" if self.docker_host is None else "connected"
        return EngineStatus(
            project=self.stack.name, pid=os.getpid(), docker=docker, stopping=self._closed
        )

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]:
        if unit is None:
            records = self._logs.all_records(self._recs)
        elif unit in self._recs:
            records = self._logs.records(unit)
        else:
            names = [r.name for r in self._by_service.get(unit, [])]
            if not names:
                raise unknown_service(unit, [*self._by_service, *self._recs])
            records = self._logs.all_records(names)
        if since is not None:
            records = [r for r in records if r.ts >= since]
        if grep:
            pattern = re.compile(grep)
            records = [r for r in records if pattern.search(r.text)]
        if limit is not None:
            records = records[-limit:] if limit > 0 else []
        return records

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

    async def wait(self, units: Sequence[str] = (), timeout: float | None = None) -> WaitResult:
        self._check_names(units)
        recs = [self._recs[n] for n in units] if units else list(self._recs.values())

        def verdict() -> WaitResult | None:
            for rec in recs:
                if rec.state in (S.FAILED, S.CRASHED, S.STOPPED) or (
                    rec.state == S.WAITING and self._blocked(rec)
                ):
                    return WaitResult("failed", rec.name, f"{rec.state}: {rec.detail}")
            if all(r.state in (S.READY, S.COMPLETED) for r in recs):
                return WaitResult("ready")
            return None

        try:
            async with asyncio.timeout(timeout):
                while (result := verdict()) is None:
                    await self._next_change()
                return result
        except TimeoutError:
            late = next(r for r in recs if r.state not in (S.READY, S.COMPLETED))
            return WaitResult("timeout", late.name, f"{late.state}: {late.detail}")

    async def set_mode(self, service: str, mode: Kind) -> None:
        raise DevenvError(f"cannot switch {service} to {mode} yet", service=service)

    def request_stats(self, enabled: bool) -> None:
        if enabled and (self._stats_task is None or self._stats_task.done()):
            self._stats_task = self._spawn(self._sample_stats(), "stats")
        elif not enabled and self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None

    async def watcher_ready(self) -> None:
        """Wait until file changes are being watched (for tests and benchmarks)."""
        if self._watcher is not None:
            await self._watcher.ready.wait()

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


def _conforms(engine: Engine) -> EngineAPI:
    """mypy checks here that Engine implements the front ends' Protocol."""
    return engine
