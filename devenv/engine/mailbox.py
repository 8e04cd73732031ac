"""Commands to a unit's runner, and how commands that pile up coalesce.

A runner applies one command at a time; what arrives meanwhile waits in its
mailbox, which holds at most one command: a newer one merges into it by
`merge`. The rules, strongest first:

- KILL (a second Ctrl-C) wins over everything;
- QUIT (the session ends) wins over everything else;
- STOP wins over RESTART, RELOAD and HALT, but a START sent after a STOP wins
  over it (stop, then start: the user toggled);
- HALT (the session is closing: give up starting, keep what runs until its
  QUIT) wins over starting ones;
- RESTART + RESTART is one restart; RELOAD + RELOAD is one reload with both
  sets of changed files; RESTART + RELOAD is a restart (that names the files).

Whoever sent a command can wait for it: the merged command keeps every
sender's future and the runner resolves them all once it has been applied.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import IntEnum

from devenv.config.model import Service


class Op(IntEnum):
    """What a runner is asked to do; the value orders them for `merge`."""

    START = 0
    RELOAD = 1  # watched files changed: build steps, then a restart
    RESTART = 2
    HALT = 3
    STOP = 4
    QUIT = 5
    KILL = 6


@dataclass
class Command:
    op: Op
    changes: frozenset[str] = frozenset()  # RELOAD: the files, relative to the project
    service: Service | None = None  # RESTART: a new definition of the service to run
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)  # when it (the latest merged) was sent
    build: bool = False  # RELOAD: run the build steps first (`rebuild`, x-devenv.watch)

    def absorb(self, other: Command) -> None:
        """`other` joins this command, which is under way: its senders wait for this one."""
        self.waiters.extend(other.waiters)
        other.waiters = []
        self.changes |= other.changes
        self.at = max(self.at, other.at)
        self.build = self.build or other.build

    def resolve(self) -> None:
        """The command has been applied (or merged into one that was)."""
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []


def merge(pending: Command | None, new: Command) -> Command:
    if pending is None:
        return new
    waiters = [*pending.waiters, *new.waiters]
    changes = pending.changes | new.changes
    service = new.service or pending.service
    # a START after a STOP is a toggle; otherwise the stronger command wins
    toggled = pending.op == Op.STOP and new.op == Op.START
    op = Op.START if toggled else max(pending.op, new.op)
    at = max(pending.at, new.at)
    return Command(op, changes, service, waiters, at, pending.build or new.build)


class Mailbox:
    """At most one pending command, merged; the runner is its only reader."""

    def __init__(self) -> None:
        self._pending: Command | None = None
        self._event = asyncio.Event()
        self._arrived = asyncio.Event()

    def put(self, command: Command) -> None:
        self._pending = merge(self._pending, command)
        self._event.set()
        self._arrived.set()
        self._arrived = asyncio.Event()

    def peek(self) -> Command | None:
        return self._pending

    def take(self) -> Command | None:
        command, self._pending = self._pending, None
        self._event.clear()
        return command

    async def wait(self) -> None:
        """Until a command is there (at once when one already is)."""
        await self._event.wait()

    async def arrival(self) -> None:
        """Until the next command is put (even if one is already waiting)."""
        await self._arrived.wait()
