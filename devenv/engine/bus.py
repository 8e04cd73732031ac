"""The event bus: who is subscribed to what, and handing each event to them.

Output travels as `LogBatch`es (one per pipe read) to batch subscribers; a
subscriber that asked for lines gets one `LogLine` per line as well. A failing
subscriber is logged and skipped: it can never break the engine or the others.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from devenv.events import Event, LogBatch, LogLine, LogRecord

log = logging.getLogger("devenv.engine")

Unsubscribe = Callable[[], None]


class EventBus:
    def __init__(self) -> None:
        self._events: list[Callable[[Event], None]] = []
        self._lines: list[Callable[[Event], None]] = []
        self._batches: list[Callable[[LogBatch], None]] = []

    def subscribe(self, callback: Callable[[Event], None], *, lines: bool = True) -> Unsubscribe:
        self._events.append(callback)
        if lines:
            self._lines.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._events.remove(callback)
            with contextlib.suppress(ValueError):
                self._lines.remove(callback)

        return unsubscribe

    def subscribe_log_batches(self, callback: Callable[[LogBatch], None]) -> Unsubscribe:
        self._batches.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._batches.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for callback in list(self._events):
            _call(callback, event)

    def emit_batch(self, batch: LogBatch) -> None:
        for callback in list(self._batches):
            _call(callback, batch)
        if self._lines:
            subscribers = list(self._lines)
            for line in batch.lines:
                event = LogLine(LogRecord(batch.unit, batch.stream, line, batch.ts), batch.service)
                for callback in subscribers:
                    _call(callback, event)


def _call(callback: Callable[[LogBatch], None] | Callable[[Event], None], event: object) -> None:
    try:
        callback(event)  # type: ignore[arg-type]
    except Exception:
        log.exception("event subscriber failed")
