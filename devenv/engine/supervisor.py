"""The engine: a facade over one runner per unit and a few composed parts.

`Engine` implements `devenv.engine.api.EngineAPI`. It owns the set of runners
(`devenv.engine.runner`: each the single owner of its unit's state, taking
commands from a queue), and wires them to:
- the event bus (`bus`), the log store (`logs`) and the status file;
- the dependency gate (`gate`: pure functions over the runners' snapshots);
- the reloader (`reloader`: file changes in, RELOAD commands out);
- the stats sampler (`stats`), the orphan guard (`watchdog`).
Commands from front ends become commands to runners; order across units
(dependents stop first, dependencies follow restarts) is decided here.

It is built without an event loop and does all its work on the loop that
calls `start()`. Nothing polls while idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from devenv.config.model import (
    Condition,
    Kind,
    Service,
    Stack,
    WatchRule,
    frozen_map,
    unknown_service,
)
from devenv.config.stack.environment import ServiceEnvironment, service_environment
from devenv.engine.api import EngineAPI, Rewrite, UnitInfo, Unsubscribe, WaitResult
from devenv.engine.builder import Builder
from devenv.engine.bus import EventBus
from devenv.engine.execs import Execs
from devenv.engine.gate import DependencyGate, Snapshots, UnitSnapshot
from devenv.engine.live_config import ConfigWatcher, StackDiff, diff_stacks, watched_files
from devenv.engine.lock import SessionLock
from devenv.engine.logs import LogStore
from devenv.engine.mailbox import Op
from devenv.engine.options import EngineOptions
from devenv.engine.reloader import Reloader, UnitChange
from devenv.engine.runner import UnitRunner
from devenv.engine.statefile import remove_pid, write_pid, write_status
from devenv.engine.stats import StatsSampler
from devenv.errors import DevenvError
from devenv.events import (
    DockerState,
    EngineStatus,
    Event,
    LogBatch,
    LogRecord,
    Notice,
    ProbeResult,
    Reloaded,
    StateChanged,
    StatusChanged,
    Stream,
    UnitState,
    filter_records,
)
from devenv.runtime import children
from devenv.runtime.base import Unit, UnitContext
from devenv.runtime.handover import Handover
from devenv.secrets import is_secret_name

__all__ = ["Engine", "EngineOptions"]

log = logging.getLogger("devenv.engine")
S = UnitState


def docker_host_of(stack: Stack) -> str | None:
    """The Docker Engine the stack's containers run on; None without containers."""
    if not any(s.kind == "container" for s in stack.services.values()):
        return None
    try:
        from devenv.runtime import container
    except ImportError:
        return None
    host: str | None = container.docker_host()
    return host


class _Changes:
    """Wakes whoever waits for "some unit changed"."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()


class Engine:
    """The real engine; see the module docstring."""

    def __init__(
        self,
        stack: Stack,
        options: EngineOptions | None = None,
        kinds: Mapping[str, Kind] | None = None,
    ) -> None:
        self.stack = stack
        # How each service runs (`devenv start --local/--container`, x-devenv.mode,
        # then a flip with set_mode); owned here, read by units for addresses.
        self._kinds: dict[str, Kind] = {
            name: (kinds or {}).get(name, service.kind) for name, service in stack.services.items()
        }
        self._environments: dict[tuple[str, Kind], ServiceEnvironment | None] = {}
        self.options = options or EngineOptions()
        self.state_dir = self.options.state_dir or stack.project_dir / ".devenv"
        self.run_id = os.urandom(6).hex()
        self.bus = EventBus()
        self._logs = LogStore(
            self.options.log_ring_size,
            self.state_dir / "logs" if self.options.log_files else None,
            self.options.log_file_cap,
            ring_bytes=self.options.log_ring_bytes,
            file_count=self.options.log_file_count,
            on_notice=self._log_file_notice,
            retry_interval=self.options.log_retry_interval,
        )
        self._changes = _Changes()
        self.gate = DependencyGate(self._snapshots, lambda: self.stack.services, self._next_change)
        self._runners: dict[str, UnitRunner] = {}
        self._by_service: dict[str, list[UnitRunner]] = {}
        for service in stack.services.values():
            self._make_runners(service)
        self._reloader = Reloader(
            self._on_changes,
            project_dir=stack.project_dir,
            step_ms=self.options.watch_step_ms,
            max_group_ms=self.options.watch_max_group_ms,
            backend=self.options.watch_backend,
            on_missing=lambda unit, path: self.devenv_line(
                unit, f"watch path {path} does not exist"
            ),
        )
        self._sampler = StatsSampler(self._measurable, self.bus.emit, self.options.stats_interval)
        self._ctx: UnitContext | None = None
        self._guard: Any = None
        self._guarded: dict[str, tuple[int | None, str | None]] = {}
        self._containers_ready: asyncio.Future[None] | None = None
        self._unfollow: Callable[[], None] | None = None  # ends following Docker's events
        self._status = EngineStatus(project=stack.name, pid=os.getpid())
        self._status_handle: asyncio.Handle | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._follows: dict[str, asyncio.Task[None]] = {}
        self._builders: dict[str, Builder] = {}
        self._config: ConfigWatcher | None = None
        self._execs = Execs(self.devenv_line, self._on_log_batch, self._build_environment)
        self._wanted: set[str] = set()  # units asked to run (and not asked to stop since)
        self._started = False
        self._closing = False
        self._closed = False
        self._lock = SessionLock(self.state_dir)
        self._reaper: Any = None

    # --- EngineAPI: read side --------------------------------------------------------

    @property
    def project_name(self) -> str:
        return self.stack.name

    @property
    def docker_host(self) -> str | None:
        return docker_host_of(self.stack)

    def status(self) -> EngineStatus:
        return self._status

    def subscribe(self, callback: Callable[[Event], None], *, lines: bool = True) -> Unsubscribe:
        return self.bus.subscribe(callback, lines=lines)

    def subscribe_log_batches(self, callback: Callable[[LogBatch], None]) -> Unsubscribe:
        return self.bus.subscribe_log_batches(callback)

    def units(self) -> Sequence[UnitInfo]:
        infos: list[UnitInfo] = []
        for service in self.stack.services.values():
            runners = self._by_service.get(service.name, [])
            if not runners:
                infos.append(self._scaled_to_zero(service))
            infos.extend(self._info(r) for r in runners)
        return infos

    def unit_names(self) -> list[str]:
        return list(self._runners)

    def state_of(self, unit: str) -> UnitState:
        return self._runners[unit].state

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]:
        if unit is None:
            records = self._logs.all_records(self._runners)
        elif unit in self._runners:
            records = self._logs.records(unit)
        else:
            records = self._logs.all_records([r.name for r in self._resolve([unit])])
        return filter_records(records, since=since, grep=grep, limit=limit)

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

    # --- EngineAPI: commands -----------------------------------------------------------

    async def start(self, services: Sequence[str] = ()) -> None:
        selection = self.stack.select(services)  # SelectionError for unknown names
        if self._closed:  # started again after a shutdown: a new session
            self._closing = self._closed = self._started = False
            self._containers_ready = None
            self._set_status(stopping=False)
        if self._closing:
            raise DevenvError("the session is stopping", hint="start it again once it has")
        await self._preflight(selection)
        self._setup()
        named = set(services) or set(self.stack.services)
        waits = []
        for name in selection.services:
            for runner in self._by_service.get(name, []):
                self._wanted.add(runner.name)
                if name not in named and (runner.state == S.COMPLETED or not runner.idle):
                    continue  # a dependency that is there (or done) already
                waits.append(runner.send(Op.START))
        self._update_watch()
        await asyncio.gather(*waits)

    async def _preflight(self, selection: Stack) -> None:
        """Before any of them starts: every host port the services about to start
        will take is free (naming who holds it), no two of them share one, and
        every address in their environments can be rewritten."""
        if self.options.unit_factory is not None:
            return  # units of the embedder's own: nothing real to check
        starting = {
            name: service
            for name, service in selection.services.items()
            if not any(r.alive for r in self._by_service.get(name, []))
        }
        if not starting:
            return
        for service in starting.values():
            service_environment(self.stack, service, self._kinds)  # ConfigError
        from devenv.runtime.ports import preflight_ports

        partial = dataclasses.replace(selection, services=frozen_map(starting))
        await asyncio.to_thread(preflight_ports, partial, dict(self._kinds))

    async def stop(self, units: Sequence[str] = ()) -> None:
        targets = self._with_dependents(self._resolve(units)) if units else self.all_runners()
        self._wanted -= {r.name for r in targets}
        for layer in self._layers(targets, reverse=True):
            await asyncio.gather(*(r.send(Op.STOP) for r in layer))
        self._update_watch()

    async def restart(self, units: Sequence[str] = ()) -> None:
        targets = self._resolve(units) if units else self.all_runners()
        if self._closing:
            return
        self._setup()
        self._wanted.update(r.name for r in targets)
        await asyncio.gather(*(r.send(Op.RESTART) for r in targets))
        self._update_watch()
        # Dependents that follow a restart are part of it.
        follows = {self._follows.get(r.service.name) for r in targets} - {None}
        await asyncio.gather(*follows, return_exceptions=True)  # type: ignore[arg-type]

    async def wait(self, units: Sequence[str] = (), timeout: float | None = None) -> WaitResult:
        targets = self._resolve(units) if units else [r for r in self.all_runners() if r.launches]
        if not targets:
            targets = self.all_runners()
        try:
            async with asyncio.timeout(timeout):
                while (result := self._verdict(targets)) is None:
                    await self._next_change()
                return result
        except TimeoutError:
            late = next(r for r in targets if r.state not in (S.READY, S.COMPLETED))
            detail = f": {late.detail}" if late.detail else ""
            return WaitResult("timeout", late.name, f"{late.state}{detail}")

    async def set_mode(self, service: str, mode: Kind) -> None:
        """Flip a service between local process and container: the running kind
        stops gracefully (both usually publish the same port), the other starts
        and becomes ready, then the dependents that address it, or that asked to
        follow its restarts, restart with the addresses that follow."""
        known = self.stack.service(service)  # SelectionError for an unknown name
        if mode not in known.kinds:
            raise DevenvError(
                f"cannot run {'locally' if mode == 'process' else 'as a container'}: "
                + ("it has no x-devenv.run" if mode == "process" else "it has no image or build"),
                service=service,
                hint="add x-devenv: {run: ...}"
                if mode == "process"
                else "add image: or build: to the service",
            )
        if self._kinds.get(service) == mode or self._closing:
            return
        self._setup()
        old = self._by_service.get(service, [])
        wanted = any(r.name in self._wanted for r in old)
        before = dict(self._kinds)
        word = "a local process" if mode == "process" else "a container"
        self.bus.emit(Notice(f"{service}: switching to {word}"))
        try:  # while the running kind serves: the other one's image, or build steps
            await self._get_ready(known, mode)
        except DevenvError as error:
            self.bus.emit(Notice(f"{service} stays as it runs: {error.message}", "error"))
            raise
        await asyncio.gather(*(r.send(Op.QUIT) for r in old))
        self._drop_runners(service)
        self._kinds[service] = mode
        self._environments.clear()
        runners = self._make_runners(known)
        if wanted:
            self._wanted.update(r.name for r in runners)
            await asyncio.gather(*(r.send(Op.START) for r in runners))
            result = await self.wait([r.name for r in runners])
            if result.outcome != "ready":
                self.bus.emit(Notice(f"{service} as {word}: {result.reason}", "error"))
                self._update_watch()
                return
        self._update_watch()
        await asyncio.gather(*(r.send(Op.RESTART) for r in self._followers(service, before)))
        self.bus.emit(Notice(f"{service} runs as {word}"))

    async def _get_ready(self, service: Service, kind: Kind) -> None:
        """What the other kind needs before it can start, done ahead: a container's
        image pulled or built, a local process's build steps run."""
        if kind == "container":
            unit = self.make_unit(service, 1, "container")
            await unit.prepare(lambda _phase: None)
        elif (builder := self.builder(service)) is not None:
            result = await builder.build(frozenset(), 0.0)
            if not result.ok:
                raise DevenvError(f"build failed: {result.detail}", service=service.name)

    def _followers(self, service: str, before: Mapping[str, Kind]) -> list[UnitRunner]:
        """Running units to restart after `service` changed how it runs: those whose
        environment addresses it differently now, and its `restart: true` dependents."""
        chosen: list[UnitRunner] = []
        for name, other in self.stack.services.items():
            if name == service:
                continue
            dep = other.depends_on.get(service)
            follows = dep is not None and dep.restart
            if not follows:
                kind = self._kinds.get(name, other.kind)
                was = self._environment(other, kind, before)
                now = self._environment(other, kind, self._kinds)
                follows = was is not None and now is not None and was.environment != now.environment
            if follows:
                chosen.extend(
                    r for r in self._by_service.get(name, []) if r.alive and r.name in self._wanted
                )
        return chosen

    def _environment(
        self, service: Service, kind: Kind, kinds: Mapping[str, Kind]
    ) -> ServiceEnvironment | None:
        """A service's configured environment as it runs (None when it cannot be
        resolved: the error shows when it starts)."""
        try:
            return service_environment(self.stack, service, {**kinds, service.name: kind})
        except DevenvError:
            return None

    async def shutdown(self, force: bool = False) -> None:
        runners = self.all_runners()
        if self._closing:
            if force:  # a graceful shutdown is under way: cut it short
                await asyncio.gather(*(r.send(Op.KILL) for r in runners))
            return
        self._closing = True
        self._set_status(stopping=True)
        await self._reloader.close()
        if self._config is not None:
            await self._config.close()
            self._config = None
        self._sampler.stop()
        for runner in runners:  # nothing preparing may launch from now on
            runner.send(Op.HALT)
        if force:
            await asyncio.gather(*(r.send(Op.KILL) for r in runners))
        else:
            for layer in self._layers(runners, reverse=True):
                await asyncio.gather(*(r.send(Op.QUIT) for r in layer))
        await asyncio.gather(*(r.finished() for r in runners))
        for task in list(self._tasks):
            task.cancel()
        self._execs.close()
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        self._logs.flush()
        self._logs.close()
        if self._guard is not None:
            await self._guard.aclose()
            self._guard = None
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None
        if self._started and self.options.write_state:
            self._write_status()
            remove_pid(self.state_dir)
        self._lock.release()
        self._closed = True

    def request_stats(self, enabled: bool) -> None:
        self._sampler.enable(enabled and not self._closing)

    # --- for the headless runner, tests and benchmarks ------------------------------------

    async def watcher_ready(self) -> None:
        """Wait until file changes are being watched."""
        await self._reloader.ready()

    @property
    def watch_backend(self) -> str:
        """How files are watched ("inotify", "watchfiles"), "" when nothing is."""
        return self._reloader.backend

    def settled(self) -> bool:
        """Nothing runs, nothing will start by itself, and no file change can restart
        anything: what the headless runner waits for before exiting on its own."""
        for runner in self._runners.values():
            if runner.state == S.WAITING and self.gate.check(runner.service)[1]:
                continue  # waiting on something that will not happen by itself
            if not runner.idle:
                return False
            if runner.state != S.STOPPED and self._watch_rules(runner):
                return False
        return True

    def failed_units(self, services: Sequence[str] = ()) -> list[str]:
        """Units of these services (all when empty) that could not be started."""
        wanted = set(services) or set(self._by_service)
        return [
            r.name
            for r in self._runners.values()
            if r.service.name in wanted and r.state == S.FAILED
        ]

    def all_runners(self) -> list[UnitRunner]:
        return list(self._runners.values())

    # --- RunnerHost: what runners ask of the engine ----------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing

    def published(self, runner: UnitRunner, event: StateChanged) -> None:
        if event.state in (S.STOPPED, S.CRASHED, S.COMPLETED, S.FAILED):
            self._sampler.forget(runner.name)
        self.bus.emit(event)
        self._changes.notify()
        self._schedule_status()

    def emit(self, event: ProbeResult | Reloaded) -> None:
        self.bus.emit(event)

    def devenv_line(self, unit: str, text: str) -> None:
        self._on_log_batch(unit, "devenv", [text])

    def make_unit(
        self, service: Service, replica: int, kind: Kind, handover: Handover | None = None
    ) -> Unit:
        assert self._ctx is not None
        factory = self.options.unit_factory
        if factory is not None:
            return factory(service, replica, self._ctx)
        if kind == "process":
            from devenv.runtime.process import ProcessUnit

            return ProcessUnit(service, replica, self._ctx, handover=handover)
        try:
            from devenv.runtime.container import ContainerUnit
        except ImportError as error:
            raise DevenvError(
                "container support not available", hint=str(error), service=service.name
            ) from None
        return ContainerUnit(service, replica, self._ctx)

    async def prepare_runtime(self, kind: Kind) -> None:
        if kind != "container" or self.options.unit_factory is not None:
            return
        if self._containers_ready is None:
            self._containers_ready = asyncio.get_running_loop().create_future()
            try:
                from devenv.runtime.container import follow_project, prepare_project

                assert self._ctx is not None
                await prepare_project(self._ctx)
                if self._unfollow is None:
                    self._unfollow = follow_project(self._ctx, self._docker_changed)
            except ImportError as error:
                failure = DevenvError("container support not available", hint=str(error))
                self._containers_ready.set_exception(failure)
            except BaseException as error:
                self._containers_ready.set_exception(error)
                self._containers_ready = None  # the next start tries again
                raise
            else:
                self._containers_ready.set_result(None)
        await asyncio.shield(self._containers_ready)

    def guard(self, unit: Unit, alive: bool) -> None:
        guard = self._guard
        if guard is None:
            return
        registered = self._guarded.pop(unit.name, None)
        if registered is not None:
            pid, container = registered
            if pid is not None:
                guard.remove(pid)
            if container is not None:
                guard.remove_container(container)
        if not alive:
            return
        pid = unit.pid if unit.kind == "process" else None
        container = unit.container_id
        if pid is not None:
            guard.add(pid)
        if container is not None:
            guard.add_container(container, self.docker_host or "")
        self._guarded[unit.name] = (pid, container)

    def builder(self, service: Service) -> Builder | None:
        local = service.local
        if local is None or not local.build:
            return None
        builder = self._builders.get(service.name)
        if builder is None or builder.service != service:
            builder = Builder(
                service,
                self.stack.project_dir,
                lambda stream, lines: self._service_output(service.name, stream, lines),
                lambda: self._build_environment(service),
            )
            self._builders[service.name] = builder
        return builder

    def _service_output(self, service: str, stream: Stream, lines: list[str]) -> None:
        """Output of the service as a whole (its build): in each of its units' logs."""
        for runner in self._by_service.get(service, []):
            self._on_log_batch(runner.name, stream, lines)

    def _build_environment(self, service: Service) -> dict[str, str]:
        from devenv.runtime.process import build_env

        return build_env(
            service,
            dict(self.stack.variables),
            unit=service.name,
            replica=1,
            ports=service.ports_for(1),
            instance=f"{self.run_id}/{service.name}-build/",
        )

    def replaced(self, runner: UnitRunner) -> None:
        service = runner.service.name
        running = self._follows.get(service)
        if running is None or running.done():
            task = self._spawn(self._follow(service), f"follow-{service}")
            self._follows[service] = task

    # --- setup --------------------------------------------------------------------------

    def claim(self) -> None:
        """Take the project's session lock now (SessionLocked when another session
        holds it): a front end does this before it opens, not once it runs."""
        if self.options.write_state:
            self._lock.acquire()

    def _log_file_notice(self, unit: str, text: str, level: str) -> None:
        """A unit's log file cannot be written (or can again): said once each way."""
        self.bus.emit(Notice(text, "warning" if level == "warning" else "info", unit))

    def _setup(self) -> None:
        if self._started:
            return
        if self.options.write_state:
            self._lock.acquire()  # SessionLocked: another session holds the project
        self._started = True
        children.use_pidfds()  # a launch then costs no thread (see devenv/runtime/children.py)
        self._ctx = UnitContext(
            stack=self.stack,
            on_log=lambda unit, stream, line: self._on_log_batch(unit, stream, [line]),
            on_progress=self.bus.emit,
            state_dir=self.state_dir,
            on_log_batch=self._on_log_batch,
            run_id=self.run_id,
            kinds=lambda: self._kinds,
        )
        if self.options.write_state:
            write_pid(self.state_dir)
        if self.options.watchdog and self.stack.services:
            from devenv.engine.watchdog import Guard

            self._guard = Guard(self.run_id)
            self._guard.start()
        if self.options.subreaper and self._reaper is None:
            from devenv.runtime import orphans

            # orphans of services (a double fork, a setsid) come to devenv, which
            # can then find and stop them, and reaps them
            if orphans.become_subreaper():
                self._reaper = orphans.Reaper()
                self._reaper.start()
        if self.docker_host is not None:
            self._set_status(docker="connected")
        reload_stack = self.options.reload_stack
        if reload_stack is not None and self.options.watch:
            self._config = ConfigWatcher(
                reload_stack,
                self._config_loaded,
                project_dir=self.stack.project_dir,
                backend=self.options.watch_backend,
            )
            self._config.watch(watched_files(self.stack))

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task %s failed", task.get_name(), exc_info=task.exception())

    # --- units, names, order ---------------------------------------------------------------

    def _resolve(self, names: Iterable[str]) -> list[UnitRunner]:
        """Runners of these unit or service names, in display order."""
        wanted: set[str] = set()
        for name in names:
            if name in self._runners:
                wanted.add(name)
            elif name in self._by_service:
                wanted.update(r.name for r in self._by_service[name])
            else:
                raise unknown_service(name, {*self._by_service, *self._runners})
        return [r for r in self._runners.values() if r.name in wanted]

    def _with_dependents(self, runners: list[UnitRunner]) -> list[UnitRunner]:
        """These runners plus every unit of the services that depend on a service
        all of whose units are among them."""
        chosen = {r.name for r in runners}
        gone = {s for s, rs in self._by_service.items() if rs and all(r.name in chosen for r in rs)}
        changed = True
        while changed:
            changed = False
            for name, service in self.stack.services.items():
                if name not in gone and any(d in gone for d in service.depends_on):
                    gone.add(name)
                    chosen.update(r.name for r in self._by_service.get(name, []))
                    changed = True
        return [r for r in self._runners.values() if r.name in chosen]

    def _layers(self, runners: list[UnitRunner], *, reverse: bool) -> list[list[UnitRunner]]:
        index: dict[str, int] = {}
        try:
            order = self.stack.start_order()
        except DevenvError:
            order = [list(self.stack.services)]
        for number, layer in enumerate(order):
            for name in layer:
                index[name] = number
        by_layer: dict[int, list[UnitRunner]] = {}
        for runner in runners:
            by_layer.setdefault(index.get(runner.service.name, 0), []).append(runner)
        return [by_layer[i] for i in sorted(by_layer, reverse=reverse)]

    def _snapshots(self) -> Snapshots:
        return {s: [r.snapshot() for r in rs] for s, rs in self._by_service.items()}

    async def _next_change(self) -> None:
        await self._changes.wait()

    def _verdict(self, runners: list[UnitRunner]) -> WaitResult | None:
        for runner in runners:
            snap: UnitSnapshot = runner.snapshot()
            reason = f"{snap.state}: {snap.detail}" if snap.detail else str(snap.state)
            if snap.state == S.FAILED or (snap.idle and snap.state in (S.CRASHED, S.STOPPED)):
                return WaitResult("failed", snap.name, reason)
            if snap.state == S.WAITING and self.gate.check(runner.service)[1]:
                return WaitResult("failed", snap.name, reason)
        if all(r.state in (S.READY, S.COMPLETED) for r in runners):
            return WaitResult("ready")
        return None

    async def _follow(self, service: str) -> None:
        """Compose's `depends_on: {x: {restart: true}}`: once x is back after a restart
        asked for (a command, a reload), restart its dependents that asked for it; a
        one-shot task that ran again restarts the services that waited for it to
        complete."""
        runners = self._by_service.get(service, [])
        while not all(r.state in (S.READY, S.COMPLETED) for r in runners):
            if any(r.idle and r.state not in (S.READY, S.COMPLETED) for r in runners):
                return  # it did not come back: its dependents keep waiting as they are
            await self._next_change()
        completed = all(r.state == S.COMPLETED for r in runners)
        todo = [
            runner
            for name, dependent in self.stack.services.items()
            if (dep := dependent.depends_on.get(service)) is not None
            and (dep.restart or (completed and dep.condition == Condition.COMPLETED))
            for runner in self._by_service.get(name, [])
            if runner.launches and not runner.idle
        ]
        await asyncio.gather(*(runner.send(Op.RESTART) for runner in todo))

    # --- hot reload ----------------------------------------------------------------------

    def _watch_rules(self, runner: UnitRunner) -> list[WatchRule]:
        """What the unit watches: its rules (x-devenv.watch, develop.watch) and the
        paths its build steps run on."""
        local = runner.service.local
        if runner.kind != "process" or local is None or not self.options.watch:
            return []
        rules = list(local.watch_rules) or [
            WatchRule(path, "rebuild", local.ignore) for path in local.watch
        ]
        watched = {rule.path for rule in rules}
        for step in local.build:
            rules.extend(WatchRule(path, "rebuild") for path in step.when if path not in watched)
        return rules

    def _update_watch(self) -> None:
        if self._closing or not self.options.watch:
            return
        rules = {
            runner.name: unit_rules
            for runner in self._runners.values()
            if runner.name in self._wanted
            if (unit_rules := self._watch_rules(runner))
        }
        self._reloader.update(rules)

    def _on_changes(self, changes: list[UnitChange]) -> None:
        if self._closing:
            return
        for change in changes:
            runner = self._runners.get(change.unit)
            if runner is None:
                continue
            if change.restart:
                runner.send(
                    Op.RELOAD, changes=frozenset(change.restart), at=change.at, build=change.build
                )
            for rule, files in change.execs:
                self._execs.run(runner.name, runner.service, rule, files)

    # --- output --------------------------------------------------------------------------

    def _on_log_batch(self, unit: str, stream: Stream, lines: list[str]) -> None:
        ts = time.time()
        self._logs.add(unit, stream, lines, ts)
        runner = self._runners.get(unit)
        service = runner.service.name if runner else unit
        self.bus.emit_batch(LogBatch(unit, service, stream, ts, lines))
        if self._logs.log_dir is not None and self._flush_handle is None and self._started:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                self._flush_handle = loop.call_later(self.options.log_flush_interval, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._logs.flush()

    def _measurable(self) -> Iterable[tuple[str, str, UnitRunner]]:
        return ((r.name, r.service.name, r) for r in self._runners.values())

    # --- what a unit looks like to front ends ----------------------------------------------

    def _info(self, runner: UnitRunner) -> UnitInfo:
        service = runner.service
        unit = runner.unit
        ports: tuple[int, ...] = unit.host_ports if unit else ()
        if not ports and runner.kind == "process":
            ports = service.ports_for(runner.replica)
        command = (unit.command_text if unit else "") or (
            service.local.run if service.local and runner.kind == "process" else service.image or ""
        )
        usage = self._sampler.usage(runner.name) if runner.alive else None
        return UnitInfo(
            name=runner.name,
            service=service.name,
            kind=runner.kind,
            state=runner.state,
            detail=runner.detail,
            health=runner.health if runner.alive else None,
            ports=ports,
            pid=runner.pid,
            started_at=runner.started_at if runner.alive else None,
            restarts=runner.restarts,
            exit_code=runner.exit_code,
            command=command,
            cwd=str(service.local.cwd) if service.local else service.working_dir,
            depends_on=tuple(service.depends_on),
            environment=tuple(sorted((unit.environment if unit else {}).items())),
            replica=runner.replica,
            cpu_percent=usage[0] if usage else None,
            memory_bytes=usage[1] if usage else None,
            reloads=runner.reloads,
            modes=service.kinds,
            build=runner.build,
            rewrites=self._rewrites(service, runner.kind),
        )

    def _rewrites(self, service: Service, kind: Kind) -> tuple[Rewrite, ...]:
        key = (service.name, kind)
        if key not in self._environments:
            self._environments[key] = self._environment(service, kind, self._kinds)
        found = self._environments[key]
        return found.rewrites if found is not None else ()

    def _scaled_to_zero(self, service: Service) -> UnitInfo:
        return UnitInfo(
            name=service.name,
            service=service.name,
            kind=service.kind,
            state=S.STOPPED,
            detail="scaled to zero (replicas: 0)",
            replica=0,
            depends_on=tuple(service.depends_on),
            modes=service.kinds,
        )

    # --- live configuration -------------------------------------------------------------

    async def config_ready(self) -> None:
        """Until edits to the stack's files are being watched (tests)."""
        if self._config is not None:
            await self._config.ready()

    def _config_loaded(self, stack: Stack | None, error: DevenvError | None) -> None:
        if self._closing:
            return
        if error is not None or stack is None:
            text = str(error)
            self._set_status(config_error=text)
            self.bus.emit(Notice(f"{text}\n  the running stack is kept", "error"))
            return
        if self._status.config_error is not None:
            self._set_status(config_error="")
            self.bus.emit(Notice("the configuration loads again"))
        diff = diff_stacks(self.stack, stack)
        self.stack = stack
        self._environments.clear()
        if self._config is not None:
            self._config.watch(watched_files(stack))
        if not diff:
            return
        self.bus.emit(Notice(f"configuration changed: {diff.summary()}"))
        self._spawn(self._apply(diff), "config-apply")

    async def _apply(self, diff: StackDiff) -> None:
        """Restart what changed, start what was added, stop what was removed."""
        gone = [r for name in diff.removed for r in self._by_service.get(name, [])]
        for runner in gone:
            self._wanted.discard(runner.name)
        await asyncio.gather(*(r.send(Op.QUIT) for r in gone))
        for name in diff.removed:
            self._drop_runners(name)
        starts = []
        for name in (*diff.added, *diff.changed):
            service = self.stack.services[name]
            old = self._by_service.get(name, [])
            was_wanted = any(r.name in self._wanted for r in old) or name in diff.added
            if old and len(old) == service.replica_count(old[0].kind):
                for runner in old:
                    if runner.name in self._wanted:
                        starts.append(runner.send(Op.RESTART, service=service))
                    else:  # not running: a fresh runner that knows the new definition
                        await runner.send(Op.QUIT)
                        fresh = UnitRunner(self, service, runner.replica, runner.kind)
                        self._swap_runner(runner, fresh)
                continue
            await asyncio.gather(*(r.send(Op.QUIT) for r in old))
            self._drop_runners(name)
            for runner in self._make_runners(service):
                if was_wanted:
                    self._wanted.add(runner.name)
                    starts.append(runner.send(Op.START))
        self._update_watch()
        await asyncio.gather(*starts)

    def _swap_runner(self, old: UnitRunner, new: UnitRunner) -> None:
        self._runners[old.name] = new
        runners = self._by_service[old.service.name]
        runners[runners.index(old)] = new

    def _drop_runners(self, service: str) -> None:
        for runner in self._by_service.pop(service, []):
            self._runners.pop(runner.name, None)
            self._wanted.discard(runner.name)

    def _make_runners(self, service: Service) -> list[UnitRunner]:
        kind = self._kinds.setdefault(service.name, service.kind)
        count = service.replica_count(kind)
        runners = [UnitRunner(self, service, n, kind) for n in range(1, count + 1)]
        self._by_service[service.name] = runners
        order = {name: i for i, name in enumerate(self.stack.services)}
        merged = {**self._runners, **{r.name: r for r in runners}}
        self._runners = dict(
            sorted(
                merged.items(),
                key=lambda item: (order.get(item[1].service.name, 0), item[1].replica),
            )
        )
        return runners

    # --- session status and the status file ------------------------------------------------

    def _docker_changed(self, state: DockerState, detail: str) -> None:
        if state == "connecting":
            return
        was = self._status.docker
        self._set_status(docker=state, docker_detail=detail)
        if state == "unreachable" and was != "unreachable":
            self.bus.emit(Notice(f"Docker unreachable ({detail}); retrying", "warning"))
        elif state == "connected" and was == "unreachable":
            self.bus.emit(Notice("Docker is back: following the containers again"))

    def _set_status(
        self,
        *,
        docker: DockerState | None = None,
        docker_detail: str | None = None,
        stopping: bool | None = None,
        config_error: str | None = None,  # "" clears it
    ) -> None:
        old = self._status
        new = EngineStatus(
            project=old.project,
            pid=old.pid,
            docker=old.docker if docker is None else docker,
            docker_detail=old.docker_detail if docker_detail is None else docker_detail,
            config_error=(old.config_error if config_error is None else config_error or None),
            stopping=old.stopping if stopping is None else stopping,
        )
        if new != old:
            self._status = new
            self.bus.emit(StatusChanged(new))
            self._schedule_status()

    def _schedule_status(self) -> None:
        if not self.options.write_state or not self._started or self._status_handle is not None:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            self._status_handle = loop.call_later(0.05, self._write_status)

    def _write_status(self) -> None:
        self._status_handle = None
        units = []
        for info in self.units():
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
                    "reloads": info.reloads,
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


def _conforms(engine: Engine) -> EngineAPI:
    """mypy checks here that Engine implements the front ends' Protocol."""
    return engine
