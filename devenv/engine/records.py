"""The engine's bookkeeping for one unit, and which states count as running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from devenv.config.model import Service
from devenv.events import UnitState
from devenv.runtime.base import Unit

S = UnitState
RUNNING_STATES = frozenset({S.STARTING, S.READY, S.UNHEALTHY})


@dataclass
class _Rec:
    """The engine's view of one unit."""

    name: str
    service: Service
    replica: int
    unit: Unit | None = None
    state: UnitState = S.PENDING
    detail: str = ""
    exit_code: int | None = None
    pid: int | None = None
    started_at: float | None = None
    restarts: int = 0
    crashes: int = 0
    health: str | None = None
    want: Literal["run", "stop", "idle"] = "idle"
    ever_started: bool = False
    task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reloading: bool = False
    restarting: bool = False
    reload_stopping: bool = False  # the old instance is going; new changes join this reload
    reload_changes: set[str] = field(default_factory=set)
    last_change: float = 0.0
    stop_requested: bool = False  # stopped on purpose; a reload must not bring it back
    attempts: int = 0  # launches tried, successful or not
    guarded: int | None = None  # process group registered with the orphan guard
    guarded_container: str | None = None  # container registered with the orphan guard
    reload_pending: list[str] | None = None
    cpu: float | None = None
    memory: int | None = None
