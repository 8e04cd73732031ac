"""The vocabulary shared by the engine, the runtimes and every front end.

Plain data only: unit states and the events the engine publishes. Front ends
import this module and `devenv.engine.api`, never Docker or subprocess code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class UnitState(StrEnum):
    """The states a unit (one process or one container) is shown in."""

    PENDING = "pending"  # selected, not yet looked at
    WAITING = "waiting"  # on a dependency; `detail` names which and why
    STARTING = "starting"  # launched (or pulling/building), not yet ready
    READY = "ready"  # probe or healthcheck passed (or started, with none)
    UNHEALTHY = "unhealthy"  # was ready, a probe or healthcheck now fails
    STOPPING = "stopping"
    STOPPED = "stopped"  # stopped on purpose
    EXITED = "exited"  # ended on its own; `exit_code` says how
    CRASHED = "crashed"  # ended with a non-zero code or a signal
    BACKOFF = "backoff"  # crash loop: restarting after a delay; `detail` says when
    COMPLETED = "completed"  # a one-shot task that exited 0
    FAILED = "failed"  # could not be started; `detail` gives the reason

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


ACTIVE_STATES = frozenset({UnitState.STARTING, UnitState.READY, UnitState.UNHEALTHY})
FINAL_STATES = frozenset(
    {
        UnitState.STOPPED,
        UnitState.EXITED,
        UnitState.CRASHED,
        UnitState.COMPLETED,
        UnitState.FAILED,
    }
)

Stream = Literal["stdout", "stderr", "devenv"]


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One line of a unit's output. `text` has no trailing newline; ANSI kept."""

    unit: str
    stream: Stream
    text: str
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class StateChanged:
    unit: str  # "api", or "api-2" for a replica
    service: str  # "api"
    state: UnitState
    detail: str = ""  # waiting on what, why it failed, when the next restart is
    exit_code: int | None = None
    pid: int | None = None
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class LogLine:
    record: LogRecord
    service: str


@dataclass(frozen=True, slots=True)
class Reloaded:
    """A watched file changed and the unit is being restarted because of it."""

    unit: str
    service: str
    changes: tuple[str, ...]  # paths relative to the project dir, at most a few


@dataclass(frozen=True, slots=True)
class ProbeResult:
    unit: str
    service: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    """Image pull or build progress, for a bar in the UI or lines headless."""

    unit: str
    service: str
    action: Literal["pull", "build"]
    status: str
    current: int | None = None  # bytes done, when known
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """Sampled resource use of a unit."""

    unit: str
    service: str
    cpu_percent: float
    memory_bytes: int


Event = StateChanged | LogLine | Reloaded | ProbeResult | Progress | Stats
