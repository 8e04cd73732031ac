"""One runner per unit: the single owner of that unit's state.

A runner is one asyncio task that takes commands from its mailbox (see
`devenv.engine.mailbox` for how they coalesce) and applies them one at a time,
moving its unit through the transitions of `devenv.engine.machine`. Nothing
else writes a unit's state: the engine and its parts send commands and read
snapshots.

While the runner is busy, it keeps an eye on its mailbox:
- bringing a unit up (waiting on dependencies, pulling or building, launching)
  is cancelled by STOP, HALT, QUIT and KILL; a START or RESTART joins it;
- stopping an instance gracefully is never cut short by another stop or
  restart (they wait their turn); only KILL escalates it to a kill;
- preparing a restart while the old instance still serves (its dependencies,
  its build steps) is cancelled by a stop, and begins again on a new change.

When an instance ends on its own, the restart policy decides: back off and
start again, or stay down. A container stopped by someone else stays down,
and is followed again when someone starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from devenv.config.model import Kind, Service
from devenv.engine.builder import Builder, BuildResult
from devenv.engine.gate import DependencyGate, UnitSnapshot
from devenv.engine.machine import Trigger, can_fire, next_state
from devenv.engine.mailbox import Command, Mailbox, Op
from devenv.engine.options import EngineOptions
from devenv.engine.prober import Prober, Verdict
from devenv.errors import DevenvError
from devenv.events import (
    ACTIVE_STATES,
    PREPARING_STATES,
    ProbeResult,
    Reloaded,
    StateChanged,
    UnitState,
)
from devenv.runtime.base import Phase, Unit, describe_exit
from devenv.runtime.handover import Handover

log = logging.getLogger("devenv.engine")
S = UnitState
HANDOVER_PROBE = 0.002  # seconds between readiness checks of a handover's new instance
T = TypeVar("T")


class RunnerHost(Protocol):
    """What the engine gives its runners."""

    options: EngineOptions
    gate: DependencyGate

    @property
    def closing(self) -> bool:
        """The session is ending: nothing may be launched any more."""
        ...

    def published(self, runner: UnitRunner, event: StateChanged) -> None:
        """A runner's state changed (the event is to be published)."""
        ...

    def emit(self, event: ProbeResult | Reloaded) -> None:
        """Publish an event about this unit that is not a state change."""
        ...

    def devenv_line(self, unit: str, text: str) -> None:
        """A line of devenv's own in the unit's log."""
        ...

    def make_unit(
        self, service: Service, replica: int, kind: Kind, handover: Handover | None = None
    ) -> Unit: ...

    async def prepare_runtime(self, kind: Kind) -> None:
        """What every unit of this kind needs first (a container: the project's
        networks and volumes)."""
        ...

    def guard(self, unit: Unit, alive: bool) -> None:
        """Register (or forget) a launched instance with the orphan guard."""
        ...

    def replaced(self, runner: UnitRunner) -> None:
        """A new instance was launched in place of one that was asked to go
        (a restart or a reload): its dependents may have to follow."""
        ...

    def builder(self, service: Service) -> Builder | None:
        """The service's build steps (`x-devenv.build`), shared by its replicas."""
        ...


class _Watch(enum.Enum):
    """How a busy runner treats commands that arrive (see the module docstring)."""

    BRING_UP = "bring-up"
    TAKE_DOWN = "take-down"
    PREPARE = "prepare"


_CANCELS = {
    _Watch.BRING_UP: {Op.STOP, Op.HALT, Op.QUIT, Op.KILL},
    _Watch.TAKE_DOWN: set(),
    _Watch.PREPARE: {Op.STOP, Op.HALT, Op.QUIT, Op.KILL},
}
# (a RELOAD joins only while what it changed is still to be read: `_reload_joins`)
_JOINS = {
    _Watch.BRING_UP: {Op.START, Op.RESTART, Op.RELOAD},
    _Watch.TAKE_DOWN: set(),
    _Watch.PREPARE: {Op.START, Op.RESTART, Op.RELOAD},
}


class _Interrupted(Exception):
    """What the runner was doing was cancelled by a command now in its mailbox."""


class UnitRunner:
    def __init__(
        self, host: RunnerHost, service: Service, replica: int, kind: Kind | None = None
    ) -> None:
        self.host = host
        self.service = service
        self.replica = replica
        self.kind: Kind = kind or service.kind
        self.name = service.unit_name(replica, self.kind)
        self.unit: Unit | None = None
        # The unit's state: written by this runner's own task only. A session holds
        # the whole stack; what was not asked to start shows as not started.
        self.state = S.STOPPED
        self.detail = "not started"
        self.exit_code: int | None = None
        self.health: str | None = None
        self.started_at: float | None = None
        self.launches = 0
        self.restarts = 0  # by the restart policy, after crashes
        self.reloads = 0  # asked for: file changes and restart commands
        self.idle = True  # nothing brings it up by itself
        self.build: str | None = None
        self._mailbox = Mailbox()
        self._task: asyncio.Task[None] | None = None
        self._alive = False
        self._exit: asyncio.Task[int] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._began = 0.0
        self._crashes = 0
        self._backoff_until: float | None = None
        self._forced = False
        self._escalation: asyncio.Future[None] | None = None
        self._launching = False  # inside unit.start(): a change now may be missed
        self._building = False  # build steps run: a change now restarts them
        self._reload_joins = True  # a change now is covered by the bring-up under way
        local = service.local
        # x-devenv.handover: devenv holds the unit's public ports across restarts
        self.handover: Handover | None = None
        if self.kind == "process" and local is not None and local.handover != "off":
            self.handover = Handover(local.handover, "127.0.0.1", service.ports_for(replica))

    # --- what others may do: send commands, read snapshots ---------------------------

    def send(
        self,
        op: Op,
        *,
        changes: frozenset[str] = frozenset(),
        at: float | None = None,
        build: bool = False,
        service: Service | None = None,
    ) -> asyncio.Future[None]:
        """Queue a command; the future completes once it has been applied. A
        RELOAD carries the changed files, when they changed (`at`, monotonic:
        every replica gets the same) and whether build steps are to run; a
        RESTART may carry a new definition of the service (a config edit)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._task is None or self._task.done():
            if op in (Op.STOP, Op.HALT, Op.QUIT, Op.KILL):
                waiter.set_result(None)  # nothing runs: nothing to stop
                return waiter
            self._task = asyncio.create_task(self._run(), name=f"runner-{self.name}")
        command = Command(op, changes, service, waiters=[waiter], build=build)
        if at is not None:
            command.at = at
        self._mailbox.put(command)
        return waiter

    @property
    def running(self) -> bool:
        """Its task is there to take commands."""
        return self._task is not None and not self._task.done()

    @property
    def pid(self) -> int | None:
        return self.unit.pid if self.unit is not None and self._alive else None

    @property
    def alive(self) -> bool:
        """An instance of it runs (launched, not yet ended or stopped)."""
        return self._alive

    @property
    def measurable(self) -> Unit | None:
        """The running instance, for CPU and memory figures."""
        return self.unit if self._alive else None

    def snapshot(self) -> UnitSnapshot:
        return UnitSnapshot(
            self.name,
            self.service.name,
            self.state,
            self.detail,
            self.exit_code,
            self.launches,
            self.idle,
        )

    async def finished(self) -> None:
        """Until the runner's task has ended (after QUIT or KILL)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    # --- the task -----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                command = await self._next()
                if command is not None and await self._apply(command):
                    return
        except Exception:  # a bug: stay visible, never leave an instance behind
            log.exception("runner %s failed", self.name)
            with contextlib.suppress(Exception):
                await self._kill_now()
            with contextlib.suppress(Exception):
                self._fire(Trigger.STOPPED, "internal error: see devenv's log")
            raise
        finally:
            left = self._mailbox.take()  # the runner is done: nobody waits in vain
            if left is not None:
                left.resolve()

    async def _next(self) -> Command | None:
        """The next command; meanwhile, what happens to the instance by itself."""
        if self._mailbox.peek() is not None:
            return self._mailbox.take()
        mail = asyncio.ensure_future(self._mailbox.wait())
        waits: set[asyncio.Future[Any]] = {mail}
        if self._alive and self._exit is not None:
            waits.add(self._exit)
        timer: asyncio.Future[None] | None = None
        if self._backoff_until is not None:
            timer = asyncio.ensure_future(
                asyncio.sleep(max(0.0, self._backoff_until - time.monotonic()))
            )
            waits.add(timer)
        revival = self.unit.revival if self.unit is not None and not self._alive else None
        if revival is not None and not self.host.closing:
            waits.add(revival)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (mail, timer):
                if future is not None and not future.done():
                    future.cancel()
        if self._mailbox.peek() is not None:
            return self._mailbox.take()
        if self._alive and self._exit is not None and self._exit.done():
            await self._on_exit()
        elif timer is not None and timer.done():
            self._backoff_until = None
            self.restarts += 1
            await self._bring_up(None, check_deps=False)
        elif revival is not None and revival.done():
            self._revived()
        return None

    async def _apply(self, command: Command) -> bool:
        """Apply one command; True when the runner is done (quit)."""
        op = command.op
        try:
            if op == Op.KILL:
                self._forced = True
                await self._kill_now()
                await self._close_handover()
                self._settle_down()
                return True
            if op == Op.QUIT:
                if self._alive:
                    await self._take_down(final=True)
                await self._close_handover()
                self._settle_down()
                return True
            if op in (Op.STOP, Op.HALT):
                if self._alive and op == Op.STOP:
                    await self._take_down(final=True)
                elif op == Op.STOP or self.state in PREPARING_STATES or self._backoff_until:
                    self._settle_down()
                return False
            if self.host.closing:
                return False
            if self._alive:
                if op != Op.START:
                    await self._replace(command)
                return False
            if op == Op.RELOAD and (self.state == S.STOPPED or self.state in PREPARING_STATES):
                return False  # stopped on purpose (or about to start anyway)
            if op == Op.START and not self.idle and self._backoff_until is not None:
                return False  # coming back by itself
            if command.service is not None:
                self._redefine(command.service)
            again = op in (Op.RESTART, Op.RELOAD) and self.launches > 0
            if again:
                self.reloads += 1
            if op == Op.RELOAD and command.changes:
                self._reloading_line(command.changes)
            await self._bring_up(command, check_deps=True)
            if again and self._alive:
                self.host.replaced(self)  # a one-shot task ran again, say
            return False
        finally:
            command.resolve()

    def _settle_down(self) -> None:
        """Nothing runs: stopped, unless it ended by itself (completed, crashed, failed)."""
        self._backoff_until = None
        self.idle = True
        if self.state not in (S.COMPLETED, S.CRASHED, S.FAILED, S.STOPPED):
            self._fire(Trigger.STOPPED, "")

    # --- bringing an instance up -------------------------------------------------------

    async def _bring_up(
        self, command: Command | None, *, check_deps: bool, build: bool = True
    ) -> None:
        self.idle = False
        self._backoff_until = None
        self._forced = False  # a kill belonged to the session before
        if check_deps and self.state != S.PENDING and can_fire(self.state, Trigger.SELECT):
            self._fire(Trigger.SELECT, "")
        try:
            work = self._launch(command, check_deps, build)
            await self._watching(work, _Watch.BRING_UP, command)
        except _Interrupted:
            return
        except DevenvError as error:
            self._failed(error.message, str(error))
        except Exception as error:  # unexpected: it stays visible on the unit
            log.exception("starting %s", self.name)
            self._failed(f"{type(error).__name__}: {error}", None)

    async def _launch(self, command: Command | None, check_deps: bool, build: bool) -> None:
        if check_deps:
            await self.host.gate.wait(self.service, self._waiting(command))
        if self.host.closing:
            raise _Interrupted
        builder = self._builder() if build else None
        will_build = builder is not None and (
            command is None or command.op != Op.RELOAD or command.build
        )
        # A change that arrives from here on is covered by this bring-up only if
        # what it changed is still to be read: by a build to come, or (with no
        # build steps) by the program when it starts.
        self._reload_joins = will_build or self._builder() is None
        if builder is not None and will_build:
            self._fire(Trigger.BUILD, "")
            result = await self._build(builder, command)
            if not result.ok:
                raise DevenvError(f"build failed: {result.detail}")
            self._reload_joins = False  # built: a newer change needs a newer build
        unit = self._unit()
        await self.host.prepare_runtime(self.kind)
        await unit.prepare(self._phase)
        if self.host.closing:
            raise _Interrupted
        await self._open_handover()
        self._launching = True
        self._reload_joins = False  # the program may have read the files already
        try:
            await unit.start()
        finally:
            self._launching = False
            self._reload_joins = True
        if self.handover is not None:
            self.handover.activate(getattr(unit, "ports", ()))
        self._launched(unit)

    def _waiting(self, command: Command | None) -> Callable[[str, bool], None]:
        def report(reason: str, blocked: bool) -> None:
            self._fire(Trigger.WAIT, reason)
            if blocked and command is not None:
                command.resolve()  # a START returns: this will not come by itself

        return report

    def _phase(self, phase: Phase) -> None:
        if self._alive:  # a restart prepares while the old instance serves
            self.build = "pulling" if phase == "pull" else "building"
            self._publish()
            return
        self._fire(Trigger.PULL if phase == "pull" else Trigger.BUILD, "")

    def _unit(self) -> Unit:
        if self.unit is None:
            self.unit = self._new_unit()
        return self.unit

    def _new_unit(self) -> Unit:
        return self.host.make_unit(self.service, self.replica, self.kind, self.handover)

    async def _open_handover(self) -> None:
        if self.handover is None or self.handover.is_open:
            return
        try:
            await self.handover.open()
        except OSError as error:
            ports = ", ".join(map(str, self.handover.public))
            raise DevenvError(
                f"cannot listen on {ports}: {error.strerror or error}",
                service=self.service.name,
                key="x-devenv.handover",
                hint="another program holds the port: stop it, or change x-devenv.ports",
            ) from None

    def _launched(self, unit: Unit) -> None:
        self._adopt(unit)
        self.health = None
        self._fire(Trigger.LAUNCH, f"pid {unit.pid}" if unit.pid else "")
        self._start_probe(unit)

    def _adopt(self, unit: Unit) -> None:
        """`unit` is the running instance from now on."""
        self._alive = True
        self.launches += 1
        self.exit_code = None
        self.build = None
        self.started_at = time.time()
        self._began = time.monotonic()
        self._exit = asyncio.ensure_future(unit.wait_exit())
        self.host.guard(unit, True)

    def _failed(self, detail: str, full: str | None) -> None:
        self.idle = True
        self._fire(Trigger.FAIL, detail)
        self.host.devenv_line(self.name, f"failed to start: {full or detail}")

    def _revived(self) -> None:
        """Started again by someone else (docker start): follow it."""
        unit = self.unit
        if unit is None:
            return
        self.idle = False
        self._alive = True
        self.exit_code = None
        self.health = None
        self.started_at = time.time()
        self._began = time.monotonic()
        self._exit = asyncio.ensure_future(unit.wait_exit())
        self.host.guard(unit, True)
        self.host.devenv_line(self.name, "started outside devenv: following it again")
        self._fire(Trigger.OUTSIDE_START, "started outside devenv")
        self._start_probe(unit)

    # --- probes -------------------------------------------------------------------------

    def _start_probe(self, unit: Unit, *, proven: bool = False) -> None:
        timing = unit.probe_timing
        if timing is None:
            self.health = None
            self._fire(Trigger.PROBE_OK, "started")
            return
        prober = Prober(unit, timing, self._on_verdict, self._on_result, proven=proven)
        self._probe = asyncio.create_task(prober.run(), name=f"probe-{self.name}")

    def _on_verdict(self, verdict: Verdict, detail: str) -> None:
        if not self._alive or self.state not in ACTIVE_STATES:
            return
        if verdict == "ready":
            self.health = "healthy"
            if self.state != S.READY:
                self._fire(Trigger.PROBE_OK, detail)
        elif verdict == "unhealthy":
            self.health = "unhealthy"
            self._fire(Trigger.PROBE_FAILED, detail)
        elif self.state == S.STARTING:
            self.health = "starting"
            self._set_detail(detail)

    def _on_result(self, ok: bool, detail: str) -> None:
        self.host.emit(ProbeResult(self.name, self.service.name, ok, detail))

    async def _stop_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            # bounded: a probe must never keep a stop waiting
            await asyncio.wait({probe}, timeout=2.0)

    # --- an instance that ended by itself -------------------------------------------------

    async def _on_exit(self) -> None:
        assert self._exit is not None and self.unit is not None
        code = self._exit.result()
        unit = self.unit
        self._alive = False
        await self._stop_probe()
        self.host.guard(unit, False)
        self.health = None
        self.exit_code = code
        if unit.stopped_outside:
            self.idle = True
            self.host.devenv_line(self.name, "stopped outside devenv")
            self._fire(Trigger.OUTSIDE_STOP, "outside devenv", exit_code=code)
            return
        if time.monotonic() - self._began >= self.host.options.backoff_reset:
            self._crashes = 0
        again = self._should_restart(code) and not self.host.closing
        why = describe_exit(code)
        self.idle = not again  # before it is published: "settled" reads it
        self._fire(Trigger.EXIT_OK if code == 0 else Trigger.EXIT_ERROR, why, exit_code=code)
        if not again:
            return
        self._crashes += 1
        options = self.host.options
        delay = min(options.backoff_cap, options.backoff_base * 2 ** (self._crashes - 1))
        self._backoff_until = time.monotonic() + delay
        self._fire(Trigger.BACKOFF, f"{why}; restarting in {delay:.1f}s (#{self._crashes})")
        self.host.devenv_line(self.name, f"{why}; restarting in {delay:.1f}s")

    def _should_restart(self, code: int) -> bool:
        local = self.service.local
        if self.kind == "process" and local is not None and local.restart != "no":
            policy: str = local.restart
        else:
            policy = self.service.restart or "no"
        if policy in ("always", "unless-stopped"):
            return True
        return policy == "on-failure" and code != 0

    # --- taking an instance down ----------------------------------------------------------

    async def _take_down(self, *, final: bool) -> None:
        """Stop the running instance gracefully (its stop signal, its grace period);
        only a KILL that arrives meanwhile cuts that short."""
        unit = self.unit
        assert unit is not None
        self._fire(Trigger.STOP, "forced" if self._forced else "")
        await self._stop_probe()
        try:
            await self._watching(self._stop_unit(unit), _Watch.TAKE_DOWN, None)
        except Exception as error:
            log.exception("stopping %s", self.name)
            self.host.devenv_line(self.name, f"stop failed: {error}")
        if self._exit is not None and not self._exit.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await asyncio.shield(self._exit)
        self._alive = False
        self.health = None
        self.host.guard(unit, False)
        if final:
            self.idle = True
            await self._close_handover()
            self._fire(Trigger.STOPPED, "")

    async def _close_handover(self) -> None:
        if self.handover is not None:
            await self.handover.close()

    async def _stop_unit(self, unit: Unit) -> None:
        grace = self.host.options.stop_grace
        if grace is not None and hasattr(unit, "grace"):
            unit.grace = grace
        await unit.stop(force=self._forced)

    async def _kill_now(self) -> None:
        unit = self.unit
        if unit is not None and (self._alive or unit.running):
            with contextlib.suppress(Exception):
                await unit.stop(force=True)
            self._alive = False
            self.host.guard(unit, False)

    # --- replacing a running instance (restart, reload) ------------------------------------

    async def _replace(self, command: Command) -> None:
        if command.op == Op.RELOAD:
            self._reloading_line(command.changes)
        target = command.service or self.service
        wants_build = command.op != Op.RELOAD or command.build
        builder = self._builder(target) if wants_build else None
        self._reload_joins = True  # nothing is built or launched yet
        try:
            built = await self._watching(
                self._prepare_replacement(command, builder), _Watch.PREPARE, command
            )
        except _Interrupted:
            self.build = None
            self._publish()
            return
        if not built:
            return  # the build failed: the running instance stays
        if self.handover is not None and command.service is None:
            await self._hand_over(command)
            return
        self.reloads += 1
        await self._take_down(final=False)
        if command.service is not None:
            self._redefine(command.service)
        if self._stop_pending():
            self._settle_down()
            return
        if command.op == Op.RELOAD and builder is None:
            await self._quiet_window(command)
        await self._bring_up(command, check_deps=False, build=False)
        if self._alive:
            self.host.replaced(self)

    async def _hand_over(self, command: Command) -> None:
        """x-devenv.handover: the new instance starts beside the old one, takes the
        new connections once it is ready, and the old one stops when its own are
        done (or after its grace period): no connection is refused meanwhile."""
        assert self.handover is not None and self.unit is not None
        # No quiet window: the old instance serves on, so the new one starts at
        # once (a reload costs its boot); changes during its boot make one more.
        new = self._new_unit()
        self._set_detail("starting the new instance; the old one serves")
        self._reload_joins = False  # a change now needs one more instance after this one
        try:
            ready = await self._watching(self._start_beside(new), _Watch.PREPARE, command)
        except _Interrupted:
            ready = False
        if not ready:
            with contextlib.suppress(Exception):
                await new.stop()
            self._set_detail("")
            return
        old, old_exit = self.unit, self._exit
        self.handover.activate(getattr(new, "ports", ()))  # new connections: at once
        await self._stop_probe()
        self.unit = new
        self.reloads += 1
        self.host.guard(old, False)
        self._adopt(new)
        self._set_detail(f"pid {new.pid}" if new.pid else "handed over")
        self._start_probe(new, proven=True)  # its readiness was just checked
        drained = await self.handover.drained(getattr(old, "ports", ()), self._grace(old))
        if not drained:
            self.host.devenv_line(self.name, "the old instance's connections outlived its grace")
        with contextlib.suppress(Exception):
            await self._stop_unit(old)
        if old_exit is not None and not old_exit.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await asyncio.shield(old_exit)
        self.host.replaced(self)

    async def _start_beside(self, new: Unit) -> bool:
        """Launch `new` and wait until it is ready (False: it ended first)."""
        self._launching = True
        try:
            await new.start()
        except DevenvError as error:
            self.host.devenv_line(self.name, f"the new instance did not start: {error}")
            return False
        finally:
            self._launching = False
        timing = new.probe_timing
        if timing is None:
            return True
        # the old instance serves meanwhile: check often, so the switch follows the
        # new one's readiness closely (a reload costs its boot, not a probe interval)
        timing = dataclasses.replace(timing, interval=min(timing.interval, HANDOVER_PROBE))
        ready = asyncio.Event()

        def verdict(state: Verdict, detail: str) -> None:
            if state == "ready":
                ready.set()

        async def probe() -> None:
            assert self.handover is not None
            await self.handover.listening(getattr(new, "ports", ()))
            await Prober(new, timing, verdict, lambda ok, d: None).run()

        prober = asyncio.ensure_future(probe())
        ended = asyncio.ensure_future(new.wait_exit())
        waiting = asyncio.ensure_future(ready.wait())
        try:
            await asyncio.wait({waiting, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (prober, waiting):
                task.cancel()
        if ready.is_set():
            ended.cancel()
            return True
        code = ended.result() if ended.done() else None
        self.host.devenv_line(
            self.name, f"the new instance ended before it was ready ({code}); the old one serves"
        )
        return False

    def _grace(self, unit: Unit) -> float:
        override = self.host.options.stop_grace
        return override if override is not None else float(getattr(unit, "grace", 5.0))

    async def _prepare_replacement(self, command: Command, builder: Builder | None) -> bool:
        """While the old instance still serves: wait for what the new one needs and
        build it. False when the build failed (the old instance then stays)."""
        target = command.service or self.service
        waits, _blocked = self.host.gate.check(target)
        if waits:
            self._set_detail(f"restart waits for {'; '.join(waits)}")
            await self.host.gate.wait(target, lambda reason, _b: None)
        if builder is None:
            return True
        if command.op == Op.RELOAD:  # build once the burst is over
            await self._quiet_window(command)
        self.build = "building"
        self._publish()
        result = await self._build(builder, command)
        self.build = None if result.ok else f"build failed: {result.detail}"
        self._publish()
        if not result.ok:
            self.host.devenv_line(self.name, "the running instance stays; the next change retries")
        return result.ok

    def _builder(self, service: Service | None = None) -> Builder | None:
        if self.kind != "process":
            return None
        return self.host.builder(service or self.service)

    def _redefine(self, service: Service) -> None:
        """A new definition (a config edit): the next instance is made from it."""
        self.service = service
        self.unit = None

    async def _build(self, builder: Builder, command: Command | None) -> BuildResult:
        stamp = command.at if command is not None and command.op == Op.RELOAD else 0.0
        changes = command.changes if command is not None else frozenset()
        self._building = True
        try:
            return await builder.build(changes, stamp)
        finally:
            self._building = False

    async def _quiet_window(self, command: Command) -> None:
        """A burst of changes is one restart (or one build): go on once no change
        has come for `watch_quiet` seconds."""
        quiet = self.host.options.watch_quiet
        while True:
            pending = self._mailbox.peek()
            if pending is not None and pending.op in (Op.RELOAD, Op.RESTART, Op.START):
                joined = self._mailbox.take()
                assert joined is not None
                command.absorb(joined)
            left = command.at + quiet - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(left)

    def _stop_pending(self) -> bool:
        pending = self._mailbox.peek()
        return pending is not None and pending.op in (Op.STOP, Op.HALT, Op.QUIT, Op.KILL)

    def _reloading_line(self, changes: frozenset[str]) -> None:
        names = sorted(changes)
        shown = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
        self.host.emit(Reloaded(self.name, self.service.name, tuple(names[:5])))
        self.host.devenv_line(self.name, f"reloading: {shown or 'files'} changed")

    # --- doing something while watching the mailbox ----------------------------------------

    async def _watching(
        self, work: Coroutine[Any, Any, T], how: _Watch, command: Command | None
    ) -> T:
        """Run `work`; commands that arrive meanwhile are left for later, joined to
        `command`, or cancel the work (`_Interrupted`), as `how` says."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                pending = self._mailbox.peek()
                if pending is not None and pending.op in _CANCELS[how]:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, _Interrupted):
                        await task
                    raise _Interrupted
                rebuild = self._building and pending is not None and pending.op == Op.RELOAD
                if rebuild:
                    joined = self._mailbox.take()
                    assert joined is not None
                    builder = self._builder()
                    if builder is not None:
                        builder.request(joined.changes, joined.at)
                    if command is not None:
                        command.absorb(joined)
                    joined.resolve()
                    continue
                late = pending is not None and pending.op == Op.RELOAD and not self._reload_joins
                if pending is not None and pending.op in _JOINS[how] and not late:
                    joined = self._mailbox.take()
                    assert joined is not None
                    if command is not None:
                        command.absorb(joined)
                    joined.resolve()
                    continue
                if pending is not None and pending.op == Op.KILL and not self._forced:
                    self._escalate()
                # Anything else waits its turn; a newer command may change that.
                arrival = asyncio.ensure_future(self._mailbox.arrival())
                try:
                    await asyncio.wait({task, arrival}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not arrival.done():
                        arrival.cancel()
                if task.done():
                    return task.result()
        except BaseException:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            raise

    def _escalate(self) -> None:
        """A KILL while a graceful stop is under way: kill now."""
        self._forced = True
        self._fire(Trigger.STOP, "forced")
        unit = self.unit
        if unit is not None:
            self._escalation = asyncio.ensure_future(unit.stop(force=True))

    # --- state ------------------------------------------------------------------------

    def _fire(self, trigger: Trigger, detail: str, *, exit_code: int | None = None) -> None:
        self.state = next_state(self.state, trigger)
        self.detail = detail
        if exit_code is not None:
            self.exit_code = exit_code
        self._publish()

    def _set_detail(self, detail: str) -> None:
        if detail != self.detail:
            self.detail = detail
            self._publish()

    def _publish(self) -> None:
        event = StateChanged(
            unit=self.name,
            service=self.service.name,
            state=self.state,
            detail=self.detail,
            exit_code=self.exit_code,
            pid=self.pid,
        )
        self.host.published(self, event)
