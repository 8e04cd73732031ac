"""What a front end may ask of an engine: commands in, events out.

The TUI and the headless CLI are written against this Protocol only, so a fake
engine (tests) or a remote one can stand in for the real supervisor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from devenv.events import Event, LogRecord, UnitState

Unsubscribe = Callable[[], None]


@dataclass(frozen=True)
class UnitInfo:
    """A snapshot of one unit, for drawing a row."""

    name: str  # "api" or "api-2"
    service: str
    kind: Literal["process", "container"]
    state: UnitState
    detail: str = ""
    health: str | None = None  # "healthy", "unhealthy", "starting", or None (no check)
    ports: tuple[int, ...] = ()  # host ports, for links
    pid: int | None = None
    started_at: float | None = None  # epoch seconds of the current run
    restarts: int = 0
    exit_code: int | None = None
    command: str = ""  # what runs: the argv or the image
    cwd: str | None = None
    depends_on: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()  # resolved, unmasked: the UI masks
    replica: int = 1
    cpu_percent: float | None = None
    memory_bytes: int | None = None


class EngineAPI(Protocol):
    """The engine as seen by front ends. All coroutines run on the engine's loop."""

    @property
    def project_name(self) -> str: ...

    @property
    def docker_host(self) -> str | None:
        """Where containers run ("unix:///var/run/docker.sock"), None when not needed."""
        ...

    def subscribe(self, callback: Callable[[Event], None]) -> Unsubscribe:
        """Call `callback` for every event from now on, on the engine's loop."""
        ...

    def units(self) -> Sequence[UnitInfo]:
        """All units in display order (the stack's file order, replicas together)."""
        ...

    def logs(self, unit: str | None = None) -> Sequence[LogRecord]:
        """The ring buffer of one unit, or of all units interleaved by time."""
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

    async def restart(self, units: Sequence[str] = ()) -> None: ...

    async def shutdown(self, force: bool = False) -> None:
        """Stop everything in reverse dependency order; with force, kill at once."""
        ...

    def request_stats(self, enabled: bool) -> None:
        """Turn CPU/memory sampling (Stats events) on or off; off by default."""
        ...
