"""The vocabulary shared by the engine, the runtimes and every front end.

Plain data only: unit states, the session's status and the events the engine
publishes. Front ends import this module and `devenv.engine.api`, never Docker
or subprocess code. Every event is a frozen dataclass of plain values, so it
can be sent as JSON to a front end in another process (`devenv.control`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class UnitState(StrEnum):
    """The states a unit (one process or one container) is shown in."""

    PENDING = "pending"  # selected, not yet looked at
    WAITING = "waiting"  # on a dependency; `detail` names which and why
    PULLING = "pulling"  # its image is being pulled
    BUILDING = "building"  # its image (or `x-devenv.build`) is being built
    STARTING = "starting"  # launched, not yet ready
    READY = "ready"  # probe or healthcheck passed (or started, with none)
    UNHEALTHY = "unhealthy"  # was ready, a probe or healthcheck now fails
    STOPPING = "stopping"
    STOPPED = "stopped"  # stopped on purpose (by devenv, or outside it: `detail` says)
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
        UnitState.CRASHED,
        UnitState.COMPLETED,
        UnitState.FAILED,
    }
)
# On the way to running: shown with a spinner, and a quit cancels them.
PREPARING_STATES = frozenset(
    {UnitState.PENDING, UnitState.WAITING, UnitState.PULLING, UnitState.BUILDING}
)

Stream = Literal["stdout", "stderr", "devenv"]
DockerState = Literal["unused", "connecting", "connected", "unreachable"]


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One line of a unit's output. `text` has no trailing newline; ANSI kept."""

    unit: str
    stream: Stream
    text: str
    ts: float = field(default_factory=time.time)


def grep_pattern(grep: str | None) -> re.Pattern[str] | None:
    """The compiled `grep` of a logs query (None: no filter); a DevenvError
    saying so when it is not a regular expression."""
    if not grep:
        return None
    try:
        return re.compile(grep)
    except re.error as error:
        from devenv.errors import DevenvError

        raise DevenvError(f"--grep {grep!r} is not a regular expression: {error}") from None


def filter_records(
    records: Iterable[LogRecord],
    *,
    since: float | None = None,
    grep: str | None = None,
    limit: int | None = None,
) -> list[LogRecord]:
    """`EngineAPI.logs`' filters, for every engine that keeps records: those at
    or after `since` (epoch seconds), matching the regular expression `grep`,
    the last `limit` of them (0: none)."""
    kept = list(records)
    if since is not None:
        kept = [r for r in kept if r.ts >= since]
    pattern = grep_pattern(grep)
    if pattern is not None:
        kept = [r for r in kept if pattern.search(r.text)]
    if limit is not None:
        kept = kept[-limit:] if limit > 0 else []
    return kept


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """The session as a whole, beside its units: shown in the UI's header and by
    `devenv status`."""

    project: str = ""
    pid: int = 0  # the process the engine runs in
    docker: DockerState = "unused"
    docker_detail: str = ""  # why unreachable, or where it is
    config_error: str | None = None  # a live edit that did not load; the old stack runs
    stopping: bool = False  # a shutdown is under way


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
    """One line, for subscribers that asked for lines one at a time."""

    record: LogRecord
    service: str


@dataclass(frozen=True, slots=True)
class LogBatch:
    """Lines of one stream of one unit that arrived together (one pipe read): the
    fast path for front ends. `lines` must not be changed by receivers."""

    unit: str
    service: str
    stream: Stream
    ts: float
    lines: list[str]


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


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should read once, not a log line of a service: a log
    file that cannot be written, a configuration edit applied or refused."""

    text: str
    level: Literal["info", "warning", "error"] = "info"
    unit: str | None = None  # the unit it is about, if any
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The session's `EngineStatus` changed (Docker lost or back, a config error)."""

    status: EngineStatus


Event = (
    StateChanged
    | LogLine
    | LogBatch
    | Reloaded
    | ProbeResult
    | Progress
    | Stats
    | Notice
    | StatusChanged
)
