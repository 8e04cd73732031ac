"""The unit interface: one running instance of a service, process or container.

The engine owns the state machine (dependencies, restarts, probes' effect on
state) and calls these methods; a unit only knows how to bring its own thing
up and down, what its output is, and whether it is ready or healthy.

Contract notes (additive changes by the engine work, all with defaults so
existing units keep working):
- `UnitContext.on_log_batch`: optional; a unit may hand over several lines of
  one stream at once (the fast path); `on_log` per line stays valid.
- `UnitContext.run_id`: a token unique to this devenv run, for units that mark
  their processes so nothing can escape cleanup.
- `Unit.probe_timing`: how often the engine calls `check_ready`; None means
  "ready as soon as started". The default polls every 0.5 s.
- `Unit.ready_hint`: optional event that wakes the engine's check early.
- `Unit.prepare(on_phase)`: what can be done before launching while an older
  instance still serves (pull or build an image); cancellable at any point.
- `Unit.stopped_outside`: after `wait_exit`, whether someone else stopped it
  (a container stopped by hand); the engine then applies no restart policy.
- `Unit.revival`: for a unit someone else can start again (a container), a
  future that completes when that happens; the engine then follows it again.
"""

from __future__ import annotations

import abc
import asyncio
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devenv.config.model import Kind, Service, Stack
from devenv.events import Progress, Stream

Phase = Literal["pull", "build"]


def _no_kinds() -> Mapping[str, Kind]:
    return {}


def describe_exit(code: int) -> str:
    """An exit code as `Unit.wait_exit` gives it, in words ("exit 2", "killed by SIGKILL")."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


@dataclass
class UnitContext:
    """What the engine hands a unit: the stack, where to send output, where to write."""

    stack: Stack
    on_log: Callable[[str, Stream, str], None]  # (unit name, stream, line without newline)
    on_progress: Callable[[Progress], None]
    state_dir: Path  # <project>/.devenv
    # (unit name, stream, lines without newlines): several lines in one call
    on_log_batch: Callable[[str, Stream, list[str]], None] | None = None
    run_id: str = ""  # unique per devenv run; marks processes for the orphan sweep
    # How each service runs right now (the addresses in an environment follow it);
    # empty: every service as its own default kind.
    kinds: Callable[[], Mapping[str, Kind]] = _no_kinds


@dataclass(frozen=True)
class ProbeTiming:
    """When the engine checks readiness: first after `start_period`, then every
    `interval` until ready, then every `health_interval` (None: no checks once
    ready, a readiness gate only); each check may take `timeout`; `retries`
    failures in a row make a ready unit unhealthy (None: 3)."""

    interval: float = 0.5
    timeout: float = 5.0
    start_period: float = 0.0
    retries: int | None = None
    health_interval: float | None = 10.0


class Unit(abc.ABC):
    """One instance of a service. `name` is the service name, or `<service>-<n>`
    for replicas (n from 1)."""

    kind: Literal["process", "container"]
    container_id: str | None = None  # set by container units once created

    def __init__(self, service: Service, replica: int, ctx: UnitContext) -> None:
        self.service = service
        self.replica = replica
        self.ctx = ctx
        self.name = service.unit_name(replica, self.kind)

    async def prepare(self, on_phase: Callable[[Phase], None]) -> None:
        """Get ready to launch without disturbing a running instance (pull or build
        an image), calling `on_phase` when a long step begins. Cancellable.
        Raises a DevenvError when it cannot be done."""
        return None

    @abc.abstractmethod
    async def start(self) -> None:
        """Launch. Returns when the process/container is running. Raises a
        DevenvError (port taken, image missing, …) when it cannot be launched."""

    @abc.abstractmethod
    async def wait_exit(self) -> int:
        """Wait until the unit ends on its own or is stopped; its exit code
        (negative: killed by that signal)."""

    @abc.abstractmethod
    async def stop(self, force: bool = False) -> None:
        """Stop gracefully (stop_signal, then SIGKILL after stop_grace_period), or
        at once with force. Nothing of it may be left running afterwards."""

    @abc.abstractmethod
    async def check_ready(self) -> tuple[bool, str]:
        """One readiness/health check: (ok, detail). The engine decides how often."""

    @property
    @abc.abstractmethod
    def running(self) -> bool: ...

    @property
    def probe_timing(self) -> ProbeTiming | None:
        """None: the unit is ready once started and `check_ready` is never called."""
        return ProbeTiming()

    @property
    def stopped_outside(self) -> bool:
        """After `wait_exit` returned: someone other than devenv stopped it."""
        return False

    @property
    def revival(self) -> asyncio.Future[None] | None:
        """Completes when someone other than devenv starts the stopped unit again;
        None when that cannot happen (a process)."""
        return None

    @property
    def ready_hint(self) -> asyncio.Event | None:
        """Set by the unit when a check is worth running now (say, its output just
        matched a readiness pattern); the engine then checks before `interval`."""
        return None

    async def sample_usage(self) -> tuple[float, int] | None:
        """(CPU in % of one core since the previous call, memory in bytes), or None
        when it cannot be measured. Processes are measured by the engine from their
        pid; a unit with no pid of its own (a container) answers here."""
        return None

    @property
    def pid(self) -> int | None:
        return None

    @property
    def host_ports(self) -> tuple[int, ...]:
        return ()

    @property
    def command_text(self) -> str:
        return ""

    @property
    def environment(self) -> dict[str, str]:
        return {}
