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

Process tree: each run is the leader of its own session and process group.
Stopping sends the stop signal (`stop_signal`, default SIGTERM) to the whole
group, waits `stop_grace_period` (default 5 s), then SIGKILLs the group; any
process that left the group but still carries this run's `DEVENV_INSTANCE` is
killed too, so nothing survives a stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import time
from collections.abc import Callable
from typing import Literal

from devenv.config.model import Service, Stack
from devenv.config.stack.environment import service_environment
from devenv.errors import DevenvError
from devenv.events import Stream
from devenv.runtime import probes, reap
from devenv.runtime.base import ProbeTiming, Unit, UnitContext
from devenv.runtime.lines import LineSplitter
from devenv.runtime.ports import check_ports_free

DEFAULT_GRACE = 5.0
KILL_WAIT = 10.0  # after SIGKILL, how long to wait for the exit to be reported
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
) -> dict[str, str]:
    """The environment of one run; the merge order is in the module docstring.
    `stack` is what the addresses in the Compose environment are rewritten
    against (each service in its default kind); without it, only `service`."""
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
    env.update(service_environment(stack, service, {}).environment)
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

    def __init__(self, service: Service, replica: int, ctx: UnitContext) -> None:
        super().__init__(service, replica, ctx)
        local = service.local
        if local is None:
            raise ValueError(f"service {service.name} has no x-devenv.run")
        self.local = local
        self.argv = build_argv(service)
        self.ports = service.ports_for(replica)
        self.stop_signal = parse_signal(service.stop_signal)
        grace = service.stop_grace_period
        self.grace = DEFAULT_GRACE if grace is None else grace
        self._run: _Run | None = None
        self._generation = 0
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
        return self.ports

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
        check_ports_free(self.ports, self.service.name)
        self._generation += 1
        instance = f"{self.ctx.run_id}/{self.name}/{self._generation}/"
        self._env = build_env(
            self.service,
            dict(self.ctx.stack.variables),
            unit=self.name,
            replica=self.replica,
            ports=self.ports,
            instance=instance,
            stack=self.ctx.stack,
        )
        self._log_matched = False
        if self._log_pattern is not None:
            self._hint = asyncio.Event()
        run = _Run(self, instance)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _Pipes(run),
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=self._env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise DevenvError(
                f"command not found: {self.argv[0]}",
                hint="check x-devenv.run and PATH (or set shell: true for shell syntax)",
                service=self.service.name,
                key="x-devenv.run",
            ) from None
        except PermissionError:
            raise DevenvError(
                f"permission denied running {self.argv[0]}",
                service=self.service.name,
                key="x-devenv.run",
            ) from None
        run.transport = transport
        run.pid = transport.get_pid()
        self._run = run
        self.started_at = time.time()
        if transport.get_returncode() is not None:
            run.exited()

    async def wait_exit(self) -> int:
        run = self._run
        if run is None:
            return 0
        await asyncio.shield(run.exit)
        code = run.returncode()
        # Whatever the leader left behind goes with it.
        await self._ensure_cleanup(run, time.monotonic() + min(self.grace, 1.0), False)
        return code

    async def stop(self, force: bool = False) -> None:
        run = self._run
        if run is None:
            return
        deadline = time.monotonic() + (0.0 if force else self.grace)
        if not run.exit.done() and run.pid is not None:
            reap.signal_group(run.pid, signal.SIGKILL if force else self.stop_signal)
            if not force:
                try:
                    async with asyncio.timeout(self.grace):
                        await asyncio.shield(run.exit)
                except TimeoutError:
                    self._log_devenv(
                        f"did not stop within {self.grace:g}s of "
                        f"{signal.Signals(self.stop_signal).name}; killing"
                    )
            if not run.exit.done():
                reap.signal_group(run.pid, signal.SIGKILL)
                try:  # SIGKILL cannot be ignored; only a process stuck in the kernel
                    async with asyncio.timeout(KILL_WAIT):
                        await asyncio.shield(run.exit)
                except TimeoutError:
                    self._log_devenv(f"pid {run.pid} did not die of SIGKILL in {KILL_WAIT:g}s")
        await self._ensure_cleanup(run, deadline, True)

    def _ensure_cleanup(self, run: _Run, deadline: float, stopping: bool) -> asyncio.Task[None]:
        task = self._cleanup
        if task is None or task.done():
            task = asyncio.ensure_future(self._sweep(run, deadline, stopping))
            self._cleanup = task
        return task

    async def _sweep(self, run: _Run, deadline: float, stopping: bool) -> None:
        """After the leader is gone: let the rest of the group finish until the
        deadline, then kill it and any escapee carrying this run's marker."""
        pgid = run.pid
        if pgid is not None:
            if not stopping and reap.signal_group(pgid, 0):
                reap.signal_group(pgid, self.stop_signal)
            while reap.signal_group(pgid, 0) and time.monotonic() < deadline:
                if not reap.live_processes(run.instance, pgid):
                    break
                await asyncio.sleep(0.02)
        for _ in range(3):
            pids = reap.live_processes(run.instance, pgid)
            if not pids:
                break
            if pgid is not None:
                reap.signal_group(pgid, signal.SIGKILL)
            reap.kill_pids(pids)
            await asyncio.sleep(0.01)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(run.closed)
        if run.transport is not None:
            run.transport.close()

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
        if ready.kind == "tcp":
            host, port = probes.parse_hostport(ready.target)
            if port in self.local.ports:  # a replica listens on its own offset port
                port += self.replica - 1
            return await probes.tcp_probe(host, port, timeout)
        if ready.kind == "http":
            url = probes.with_port_offset(ready.target, self.local.ports, self.replica - 1)
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
