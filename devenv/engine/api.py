"""What a front end may ask of an engine: commands in, events out.

The TUI, the headless printer, the control socket and the MCP server are written
against this Protocol only, so a fake engine (tests) or a remote one (a session
reached through its control socket) stands in for the real supervisor. Every
optional capability is part of the contract: front ends never probe with
`getattr`.

Names given to commands are service names (all of a service's replicas) or unit
names (`api-2`); an unknown name raises `SelectionError` naming the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from devenv.config.model import Kind as Kind  # re-exported: part of the contract
from devenv.config.model import Rewrite as Rewrite
from devenv.events import EngineStatus, Event, LogBatch, LogRecord, UnitState

Unsubscribe = Callable[[], None]


@dataclass(frozen=True)
class UnitInfo:
    """A snapshot of one unit, for drawing a row."""

    name: str  # "api" or "api-2"
    service: str
    kind: Kind  # how it runs now
    state: UnitState
    detail: str = ""
    health: str | None = None  # "healthy", "unhealthy", "starting", or None (no check)
    ports: tuple[int, ...] = ()  # host ports, for links
    pid: int | None = None
    started_at: float | None = None  # epoch seconds of the current run
    restarts: int = 0  # restarts after crashes (restart policy)
    exit_code: int | None = None
    command: str = ""  # what runs: the argv or the image
    cwd: str | None = None
    depends_on: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()  # resolved, unmasked: the UI masks
    replica: int = 1  # 0: a service scaled to zero (no instance)
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    reloads: int = 0  # restarts asked for: file changes, restart commands
    modes: tuple[Kind, ...] = ()  # the ways the service can run; two: it can switch
    build: str | None = None  # "building", "build failed: …" while an instance serves on
    rewrites: tuple[Rewrite, ...] = ()


@dataclass(frozen=True)
class WaitResult:
    """How `EngineAPI.wait` ended."""

    outcome: Literal["ready", "failed", "timeout"]
    unit: str | None = None  # the unit that failed, or one still not ready at the timeout
    reason: str = ""


class EngineAPI(Protocol):
    """The engine as seen by front ends. All coroutines run on the engine's loop
    (or, for a remote engine, on the caller's), and callbacks are called there."""

    @property
    def project_name(self) -> str: ...

    @property
    def docker_host(self) -> str | None:
        """Where containers run ("unix:///var/run/docker.sock"), None when not needed."""
        ...

    def status(self) -> EngineStatus:
        """The session as a whole: Docker's connection, a refused config edit."""
        ...

    def subscribe(self, callback: Callable[[Event], None], *, lines: bool = True) -> Unsubscribe:
        """Call `callback` for every event from now on. With `lines=False`, no
        `LogLine` events (take output from `subscribe_log_batches` instead).
        `LogBatch` is never sent here."""
        ...

    def subscribe_log_batches(self, callback: Callable[[LogBatch], None]) -> Unsubscribe:
        """Call `callback` with every batch of output from now on (the fast path)."""
        ...

    def units(self) -> Sequence[UnitInfo]:
        """All units in display order (the stack's file order, replicas together)."""
        ...

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]:
        """The ring buffer of one unit (a unit or service name), or of all units
        interleaved by time; only records at or after `since` (epoch seconds),
        matching the regular expression `grep`, the last `limit` of them."""
        ...

    def secrets(self) -> Sequence[str]:
        """Values the UI should mask wherever they appear (from secret-looking names)."""
        ...

    async def start(self, services: Sequence[str] = ()) -> None:
        """Start these services and their dependencies (all when empty). Returns once
        every unit has been launched or has failed; readiness is reported by events."""
        ...

    async def stop(self, units: Sequence[str] = ()) -> None:
        """Stop these units (all when empty), dependents first."""
        ...

    async def restart(self, units: Sequence[str] = ()) -> None:
        """Restart these units (all when empty). Returns once each new instance is
        launched (or failed)."""
        ...

    async def wait(self, units: Sequence[str] = (), timeout: float | None = None) -> WaitResult:
        """Wait until these units (all selected when empty) are ready (or completed,
        for one-shot tasks); ends early when one fails."""
        ...

    async def set_mode(self, service: str, mode: Kind) -> None:
        """Run `service` as a local process or as a container from now on: the other
        kind is started and ready before the old one stops. Raises DevenvError when
        the service has no definition for that kind (`UnitInfo.modes`)."""
        ...

    async def shutdown(self, force: bool = False) -> None:
        """Stop everything in reverse dependency order; with force, kill at once."""
        ...

    def request_stats(self, enabled: bool) -> None:
        """Turn CPU/memory sampling (Stats events) on or off; off by default."""
        ...
