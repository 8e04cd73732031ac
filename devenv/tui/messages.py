"""Messages from the engine bridge to the app."""

from __future__ import annotations

from textual.message import Message


class UnitsChanged(Message):
    """Some unit's state, health, stats or progress changed: redraw the rows.

    Coalesced: a burst of state changes leads to one redraw from `engine.units()`."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, UnitsChanged)


class LogsArrived(Message):
    """New log lines wait in the app's pending buffer. Posted at most once per frame;
    the handler drains every pending line, so lines are never coalesced away."""
