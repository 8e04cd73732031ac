"""A service run as a local process (`x-devenv.run`).

Command: `run` is split shell-style (shlex) into argv and executed directly;
with `shell: true` it is given to `/bin/sh -c` as written.

Environment, later entries winning:
  1. devenv's own process environment;
  2. the project's `.env` (`Stack.variables`; as in Compose, a variable set in
     the shell keeps the shell's value);
  3. `PYTHONUNBUFFERED=1`, so Python services do not hold their logs back;
  4. the service's Compose `environment` and `env_file` (already merged by config),
     with the addresses of other services rewritten to where they run
     (devenv.config.stack.addresses: `db:5432` -> `127.0.0.1:<published port>`);
  5. `x-devenv.env_file` files, in order;
  6. `x-devenv.environment`;
  7. devenv's own variables: `DEVENV_SERVICE`, `DEVENV_UNIT`, `DEVENV_REPLICA`
     (1..N), `DEVENV_PORT` (the first port, replica offset applied) and
     `DEVENV_INSTANCE` (a marker for cleanup); `PORT` is set to the first port
     unless an earlier layer set it.

Replicas: instance n (from 1) gets every `x-devenv.ports` entry plus n-1, so
`ports: [3000]` with `replicas: 3` uses 3000, 3001 and 3002. A replicated
command should read its port from `$PORT`/`$DEVENV_PORT`.

Process tree: each run is the leader of its own session and process group,
and, where devenv can make one, the only process of a new cgroup it joins
before it can fork (devenv/runtime/cgroups.py), so every process it ever starts
is known exactly. Without a cgroup, the unit's processes are its process group,
every process carrying this run's `DEVENV_INSTANCE` marker, their descendants,
and (when devenv is a child subreaper, devenv/runtime/orphans.py) orphans
re-parented to devenv that carry no other unit's marker, taken by the last
unit to stop.

Stopping sends the stop signal (`stop_signal`, default SIGTERM) to every one
of those processes (the group and the escapees), waits up to
`stop_grace_period` (default 5 s) for all of them to be gone, then SIGKILLs
what is left. When the leader exits by itself, what it left behind gets the
stop signal and at most a second before it is killed. A stop never escalates
early: a second stop waits for the first; only `force` kills at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import re
import shlex
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from devenv.config.model import Kind, Service, Stack
from devenv.config.stack.environment import service_environment
from devenv.errors import DevenvError
from devenv.events import Stream
from devenv.runtime import cgroups, orphans, probes, reap
from devenv.runtime.base import ProbeTiming, Unit, UnitContext
from devenv.runtime.handover import Handover, listen_fds_argv, move_fds
from devenv.runtime.lines import LineSplitter
from devenv.runtime.ports import check_ports_free

_LAUNCHES = itertools.count(1)
_RECENT: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)  # (when, leader)
ALONE = 0.5  # seconds around a launch in which no other one may have made its orphans


def _alone_since(run: _Run) -> bool:
    """No other launch of this devenv near this one's (its orphans are its own)."""
    return not any(abs(at - run.launched) < ALONE and pid != run.pid for at, pid in _RECENT)


DEFAULT_GRACE = 5.0
KILL_WAIT = 10.0  # after SIGKILL, how long to wait for the exit to be reported
LEFTOVER_GRACE = 1.0  # what a leader that exited by itself left: at most this long
JOIN_TIME = 1.0  # a leader not in its cgroup this long after the launch never joined
POLL = 0.02  # seconds between looks at what is left of a unit while it stops
_STREAMS: dict[int, Stream] = {1: "stdout", 2: "stderr"}


def parse_signal(name: str | None) -> int:
    """`SIGTERM`, `TERM`, `15` -> the signal number; default SIGTERM."""
    if not name:
        return signal.SIGTERM
    text = name.strip().upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise DevenvError(f"unknown stop_signal {name!r}", key="stop_signal") from None


def build_argv(service: Service) -> list[str]:
    local = service.local
    assert local is not None
    if local.shell:
        return ["/bin/sh", "-c", local.run]
    try:
        argv = shlex.split(local.run)
    except ValueError as error:
        raise DevenvError(
            f"cannot split the command: {error}",
            hint="fix the quoting, or set shell: true",
            service=service.name,
            key="x-devenv.run",
        ) from None
    if not argv:
        raise DevenvError("empty command", service=service.name, key="x-devenv.run")
    return argv


def build_env(
    service: Service,
    variables: dict[str, str] | None,
    *,
    unit: str,
    replica: int,
    ports: tuple[int, ...],
    instance: str,
    base: dict[str, str] | None = None,
    stack: Stack | None = None,
    kinds: Mapping[str, Kind] | None = None,
) -> dict[str, str]:
    """The environment of one run; the merge order is in the module docstring.
    `stack` is what the addresses in the Compose environment are rewritten
    against, each service running as `kinds` says (default: its own kind);
    without it, only `service`."""
    local = service.local
    assert local is not None
    env = dict(os.environ if base is None else base)
    for key, value in (variables or {}).items():
        if base is None and key in os.environ:
            continue  # Compose: the shell wins over .env
        env[key] = value
    env["PYTHONUNBUFFERED"] = "1"
    if stack is None:
        stack = Stack(
            name="",
            project_dir=local.cwd,
            files=(),
            services={service.name: service},
            variables=variables or {},
        )
    # Layers 4-6: the Compose environment (addresses rewritten), x-devenv.env_file,
    # x-devenv.environment.
    env.update(service_environment(stack, service, kinds or {}).environment)
    env["DEVENV_SERVICE"] = service.name
    env["DEVENV_UNIT"] = unit
    env["DEVENV_REPLICA"] = str(replica)
    if ports:
        env["DEVENV_PORT"] = str(ports[0])
        env.setdefault("PORT", str(ports[0]))
    env[reap.MARKER] = instance
    return env


class _Pipes(asyncio.SubprocessProtocol):
    """Delivers pipe chunks straight to the unit: no StreamReader, no per-line await."""

    def __init__(self, run: _Run) -> None:
        self.run = run

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        self.run.data(fd, bytes(data))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.run.pipe_closed(fd)

    def process_exited(self) -> None:
        self.run.exited()


class _Run:
    """One launch of the process: its transport, output splitters and exit."""

    def __init__(self, unit: ProcessUnit, instance: str) -> None:
        self.unit = unit
        self.instance = instance
        loop = asyncio.get_running_loop()
        self.exit: asyncio.Future[None] = loop.create_future()
        self.closed = loop.create_future()
        self.open_pipes = 2
        self.splitters = {1: LineSplitter(), 2: LineSplitter()}
        self.transport: asyncio.SubprocessTransport | None = None
        self.pid: int | None = None
        self.cgroup: cgroups.UnitCgroup | None = None
        self.joining: asyncio.Future[bool] | None = None  # the move into the cgroup
        self.joined = False  # the leader was seen in its cgroup: it is exact
        self.launched = time.monotonic()
        self.kill_now = asyncio.Event()  # a forced stop cuts a grace period short

    def data(self, fd: int, data: bytes) -> None:
        lines = self.splitters[fd].feed(data)
        if lines:
            self.unit._deliver(_STREAMS[fd], lines)

    def pipe_closed(self, fd: int) -> None:
        rest = self.splitters[fd].flush()
        if rest:
            self.unit._deliver(_STREAMS[fd], rest)
        self.open_pipes -= 1
        if self.open_pipes <= 0 and not self.closed.done():
            self.closed.set_result(None)

    def exited(self) -> None:
        # The code is read later, from the transport: this may run before
        # subprocess_exec has even returned the transport to us.
        if not self.exit.done():
            self.exit.set_result(None)

    def returncode(self) -> int:
        code = self.transport.get_returncode() if self.transport else None
        return -1 if code is None else code


class ProcessUnit(Unit):
    kind: Literal["process", "container"] = "process"

    def __init__(
        self,
        service: Service,
        replica: int,
        ctx: UnitContext,
        *,
        handover: Handover | None = None,
    ) -> None:
        super().__init__(service, replica, ctx)
        local = service.local
        if local is None:
            raise ValueError(f"service {service.name} has no x-devenv.run")
        self.local = local
        self.argv = build_argv(service)
        self.public_ports = service.ports_for(replica)
        # With a handover, devenv holds the public ports: this instance listens on
        # its own (relayed) or inherits the listening socket (fd 3).
        self.handover = handover
        self.ports = handover.instance_ports() if handover else self.public_ports
        self.stop_signal = parse_signal(service.stop_signal)
        grace = service.stop_grace_period
        self.grace = DEFAULT_GRACE if grace is None else grace
        self._run: _Run | None = None
        self._env: dict[str, str] = {}
        self._cleanup: asyncio.Task[None] | None = None
        ready = local.ready
        self._log_pattern = re.compile(ready.target) if ready and ready.kind == "log" else None
        self._log_matched = False
        self._hint: asyncio.Event | None = None
        self.started_at: float | None = None

    # --- what the engine reads ---------------------------------------------

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.exit.done()

    @property
    def pid(self) -> int | None:
        return self._run.pid if self._run else None

    @property
    def host_ports(self) -> tuple[int, ...]:
        return self.public_ports

    @property
    def command_text(self) -> str:
        return self.local.run

    @property
    def environment(self) -> dict[str, str]:
        """What devenv adds to its own environment for this service (what a user
        configured, plus devenv's variables); the inherited rest is left out."""
        if self._env:
            return {k: v for k, v in self._env.items() if os.environ.get(k) != v}
        try:
            return build_env(
                self.service,
                dict(self.ctx.stack.variables),
                unit=self.name,
                replica=self.replica,
                ports=self.ports,
                instance="",
                base={},
                stack=self.ctx.stack,
                kinds=self.ctx.kinds(),
            )
        except DevenvError:
            return {}

    @property
    def ready_hint(self) -> asyncio.Event | None:
        return self._hint

    @property
    def probe_timing(self) -> ProbeTiming | None:
        ready = self.local.ready
        if ready is not None:
            return ProbeTiming(
                ready.interval,
                ready.timeout,
                ready.start_period,
                ready.retries,
                ready.health_interval or None,
            )
        if self.ports:
            return ProbeTiming(interval=0.02, timeout=1.0, health_interval=None)
        return None

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        if self.running:
            return
        if self._cleanup is not None:
            await self._cleanup
        cwd = self.local.cwd
        if not cwd.is_dir():
            raise DevenvError(
                f"working directory {cwd} does not exist",
                service=self.service.name,
                key="x-devenv.cwd",
            )
        if self.handover is None or self.handover.mode != "socket":
            check_ports_free(self.ports, self.service.name)
        # Unique per launch across every unit object of this run: two instances of
        # one unit side by side (a handover) must never sweep each other.
        launch = next(_LAUNCHES)
        instance = f"{self.ctx.run_id}/{self.name}/{launch}/"
        self._env = build_env(
            self.service,
            dict(self.ctx.stack.variables),
            unit=self.name,
            replica=self.replica,
            ports=self.ports,
            instance=instance,
            stack=self.ctx.stack,
            kinds=self.ctx.kinds(),
        )
        self._log_matched = False
        if self._log_pattern is not None:
            self._hint = asyncio.Event()
        run = _Run(self, instance)
        argv = self.argv
        fds = self.handover.fds if self.handover is not None else ()
        inherit: dict[str, Any] = {}
        if fds:  # x-devenv.handover: socket: the listening sockets as fd 3, …
            argv = listen_fds_argv(argv, len(fds))
            targets = tuple(range(3, 3 + len(fds)))
            inherit = {"pass_fds": (*fds, *targets), "preexec_fn": move_fds(fds)}
        run_groups = cgroups.for_run(self.ctx.run_id)
        if run_groups is not None:
            run.cgroup = run_groups.unit(self.name, launch)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _Pipes(run),
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=self._env,
                start_new_session=True,
                **inherit,
            )
        except FileNotFoundError:
            self._drop_cgroup(run)
            raise self._not_found() from None
        except PermissionError:
            self._drop_cgroup(run)
            raise self._not_permitted() from None
        except BaseException:
            self._drop_cgroup(run)
            raise
        run.transport = transport
        run.pid = transport.get_pid()
        _RECENT.append((run.launched, run.pid))
        if run.cgroup is not None:
            # Joined beside the launch, not before it: the kernel's move can take
            # ~10 ms, which a wrapper that joins first added to every launch (and
            # to every level of a dependency chain). What the program forks in
            # that instant is still its process group's, and an orphan devenv's.
            run.joining = loop.run_in_executor(None, self._join, run)
        orphans.register_run(run.pid, instance)
        self._run = run
        self.started_at = time.time()
        if transport.get_returncode() is not None:
            run.exited()

    def _not_found(self) -> DevenvError:
        return DevenvError(
            f"command not found: {self.argv[0]}",
            hint="check x-devenv.run and PATH (or set shell: true for shell syntax)",
            service=self.service.name,
            key="x-devenv.run",
        )

    def _not_permitted(self) -> DevenvError:
        return DevenvError(
            f"permission denied running {self.argv[0]}",
            service=self.service.name,
            key="x-devenv.run",
        )

    async def wait_exit(self) -> int:
        run = self._run
        if run is None:
            return 0
        await asyncio.shield(run.exit)
        code = run.returncode()
        # Whatever the leader left behind goes with it.
        await self._ensure_cleanup(run, min(self.grace, LEFTOVER_GRACE), stopping=False)
        return code

    async def stop(self, force: bool = False) -> None:
        run = self._run
        if run is None:
            return
        if force:
            run.kill_now.set()
        await self._ensure_cleanup(run, 0.0 if force else self.grace, stopping=True)

    def _ensure_cleanup(self, run: _Run, grace: float, *, stopping: bool) -> asyncio.Task[None]:
        """The one task that ends a run: a second stop (or the exit watcher)
        waits for the stop under way instead of starting another."""
        task = self._cleanup
        if task is None or task.done():
            task = asyncio.ensure_future(self._end(run, grace, stopping))
            self._cleanup = task
        return task

    async def _end(self, run: _Run, grace: float, stopping: bool) -> None:
        """Stop signal to every process of the run, up to `grace` for all of
        them to go, SIGKILL for the rest; then release what the run held."""
        try:
            await self._terminate(run, grace, stopping)
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await asyncio.shield(run.closed)
            if run.transport is not None:
                run.transport.close()
            if run.pid is not None:
                orphans.unregister_run(run.pid)
            self._drop_cgroup(run)

    async def _terminate(self, run: _Run, grace: float, stopping: bool) -> None:
        left = self._processes(run)
        if not left and run.exit.done():
            return
        if grace > 0 and not run.kill_now.is_set():
            self._signal(run, left, self.stop_signal)
            deadline = time.monotonic() + grace
            while (left or not run.exit.done()) and not run.kill_now.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await self._pause(run, min(remaining, POLL))
                left = self._processes(run)
            late = left or not run.exit.done()
            if late and stopping and not run.kill_now.is_set():
                what = "" if not run.exit.done() else f" ({_count(left)} it left)"
                self._log_devenv(
                    f"did not stop within {grace:g}s of "
                    f"{signal.Signals(self.stop_signal).name}{what}; killing"
                )
        for _ in range(50):  # SIGKILL cannot be ignored: this ends at once
            if not left and run.exit.done():
                break
            self._kill(run, left)
            await self._pause(run, POLL / 4)
            left = self._processes(run)
        if not run.exit.done():
            try:  # only a process stuck in the kernel does not die of SIGKILL
                async with asyncio.timeout(KILL_WAIT):
                    await asyncio.shield(run.exit)
            except TimeoutError:
                self._log_devenv(f"pid {run.pid} did not die of SIGKILL in {KILL_WAIT:g}s")

    async def _pause(self, run: _Run, seconds: float) -> None:
        """Sleep, waking early when the leader exits or a forced stop comes."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(run.kill_now.wait())]
        if not run.exit.done():
            waiters.append(asyncio.ensure_future(asyncio.shield(run.exit)))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    @staticmethod
    def _join(run: _Run) -> bool:
        """Move the leader into its cgroup, then what it forked before that landed:
        its group, its marked processes and their descendants, and an orphan that
        left both and cleared its environment (adopted by devenv, started after
        the leader) when no other launch could have made it. From then on the
        cgroup holds every process of the launch. In a thread: it blocks."""
        group = run.cgroup
        if group is None or run.pid is None or not group.add(run.pid):
            return False
        # This runs beside the launch's boot, so it reads as little as it can: a
        # subreaper's launches and their orphans are all below devenv (else an
        # orphan with the marker may be anywhere), and only what started since
        # the launch can be its (their environments are read for the marker).
        table = reap.subtree(os.getpid()) if orphans.is_subreaper() else None
        if table is None:
            table = reap.scan()
        leader = table.get(run.pid) or reap.stat(run.pid)
        if leader is not None:
            table = {pid: info for pid, info in table.items() if info.started >= leader.started}
        early = reap.unit_processes(table, pgid=run.pid, marker=run.instance)
        if leader is not None and _alone_since(run):
            early |= set(orphans.unclaimed(table, run.instance))
        members = set(group.pids())
        for pid in early - members:
            group.add(pid)
        return True

    def _processes(self, run: _Run) -> set[int]:
        """The run's live processes now, its leader included while it lives."""
        group = run.cgroup
        if group is None:
            return self._found_in_proc(run)
        members = set(group.pids())
        if run.joined or (run.pid is not None and run.pid in members):
            run.joined = True
            # and what left the group and cleared its environment before the
            # move landed (an orphan of devenv's): the last unit to stop takes it
            return members | self._orphans_for_last(run)
        leader = reap.stat(run.pid) if run.pid is not None else None
        alive = leader is not None and leader.alive
        if not alive and group.ever_used():
            run.joined = True  # the leader ran in it, and is gone
            return members
        # Not seen in its cgroup (yet: in the instant after the launch; or it
        # could not join): look at everything as well.
        if alive and time.monotonic() - run.launched > JOIN_TIME:
            cgroups.disable(group.backend)
            run.cgroup = None
            self._log_devenv(f"could not join cgroup {group.path}; finding processes in /proc")
            group.remove()
        return members | self._found_in_proc(run)

    def _found_in_proc(self, run: _Run) -> set[int]:
        """Without a cgroup: group, marker, descendants, and, for the last unit
        of this devenv to stop, the orphans no other unit claims."""
        table = reap.scan()
        extra = self._orphans_for_last(run, table)
        return reap.unit_processes(table, pgid=run.pid, marker=run.instance, extra=extra)

    @staticmethod
    def _orphans_for_last(run: _Run, table: reap.Table | None = None) -> set[int]:
        """Orphans no unit claims, when `run` is the last live unit of this devenv
        (with their descendants): nobody else can have started them."""
        if not orphans.is_subreaper() or not orphans.live_runs().keys() <= {run.pid}:
            return set()
        if table is None:  # devenv's own subtree holds every orphan it adopted
            table = reap.subtree(os.getpid())
            table = reap.scan() if table is None else table
        found = orphans.unclaimed(table, run.instance)
        return set(found) | reap.descendants(table, found)

    def _signal(self, run: _Run, pids: set[int], sig: int) -> None:
        """`sig` to the run's process group, and to each of `pids` outside it
        (once each: a second SIGINT means "now" to many programs)."""
        if run.pid is not None:
            reap.signal_group(run.pid, sig)
        for pid in pids:
            info = reap.stat(pid)
            if info is not None and info.pgid != run.pid:
                reap.kill_pids([pid], sig)

    def _kill(self, run: _Run, pids: set[int]) -> None:
        if run.cgroup is not None:
            run.cgroup.kill()
        if run.pid is not None:
            reap.signal_group(run.pid, signal.SIGKILL)
        reap.kill_pids(pids, signal.SIGKILL)

    def _drop_cgroup(self, run: _Run) -> None:
        group, run.cgroup = run.cgroup, None
        if group is not None:
            group.remove()

    # --- readiness ------------------------------------------------------------

    async def check_ready(self) -> tuple[bool, str]:
        if not self.running:
            return False, "not running"
        ready = self.local.ready
        timing = self.probe_timing
        timeout = timing.timeout if timing else 1.0
        if ready is None:
            if self.ports:
                return await probes.tcp_probe("127.0.0.1", self.ports[0], timeout)
            return True, "started"
        if ready.kind == "log":
            if self._log_matched:
                return True, f"log matched /{ready.target}/"
            return False, f"waiting for a line matching /{ready.target}/"
        # A port of the service's own in a probe is this instance's port: a replica
        # listens on its offset port, a handed-over instance on its own.
        ports = dict(zip(self.local.ports, self.ports, strict=False))
        if ready.kind == "tcp":
            host, port = probes.parse_hostport(ready.target)
            return await probes.tcp_probe(host, ports.get(port, port), timeout)
        if ready.kind == "http":
            url = probes.with_ports(ready.target, ports)
            return await probes.http_probe(url, ready.status, timeout)
        return await probes.cmd_probe(ready.target, self.local.cwd, self._env, timeout)

    # --- output -----------------------------------------------------------------

    def _deliver(self, stream: Stream, lines: list[str]) -> None:
        if self._log_pattern is not None and not self._log_matched:
            search = self._log_pattern.search
            self._log_matched = any(search(line) for line in lines)
            if self._log_matched and self._hint is not None:
                self._hint.set()
        batch = self.ctx.on_log_batch
        if batch is not None:
            batch(self.name, stream, lines)
        else:
            emit: Callable[[str, Stream, str], None] = self.ctx.on_log
            for line in lines:
                emit(self.name, stream, line)

    def _log_devenv(self, text: str) -> None:
        self._deliver("devenv", [text])


def _count(pids: set[int]) -> str:
    return "1 process" if len(pids) == 1 else f"{len(pids)} processes"
