"""Messages from the engine bridge to the app, and from the app's keys to the engine."""

from __future__ import annotations

from typing import Literal

from textual.message import Message

from devenv.engine.api import Kind

CommandName = Literal["start", "stop", "restart", "set_mode"]


class UnitsChanged(Message):
    """Some unit's state, health, stats or progress changed: redraw the rows.

    Coalesced: a burst of state changes leads to one redraw from `engine.units()`."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, UnitsChanged)


class EngineCommand(Message):
    """A command the UI sends to the engine. Every key and palette entry that acts
    on services posts one; the app runs them all in one place, so a failure is
    reported (and kept in the notices) the same way whatever asked for it."""

    def __init__(self, command: CommandName, targets: tuple[str, ...], mode: Kind | None = None):
        super().__init__()
        self.command = command
        self.targets = targets  # unit or service names (for set_mode: the service)
        self.mode = mode

    def __repr__(self) -> str:
        mode = f", {self.mode!r}" if self.mode else ""
        return f"EngineCommand({self.command!r}, {self.targets!r}{mode})"
