"""The log pane: what it shows, what waits to be drawn, and how it is titled.

It owns everything about the logs that used to be spread over the app: its
source (one unit, a service's replicas, or everything), the lines waiting for
the next frame and the per-frame flush, the follow state and its "N new lines"
status, the title with its flags (filter, search, wrap, timestamps, secrets
shown), the search/filter prompt, and what was cleared per source.

It subscribes to nothing. The app holds the one subscription to the engine (and
drops it on quit or detach) and feeds every batch here with `feed`; the pane
keeps the lines its source wants. History comes from a `LogReader` (the engine:
`EngineAPI.logs` is the only method it needs), read when the source changes.
That keeps the pane a widget with no engine lifecycle in it: it can be tested
with a list of records, and a second pane would need no second subscription.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label

from devenv.engine.api import UnitInfo
from devenv.events import LogBatch, LogRecord
from devenv.tui.format import SecretMasker
from devenv.tui.logview import Chunk, Entry, LogView, Meta

PromptKind = Literal["search", "filter"]


class LogReader(Protocol):
    """Where past lines come from (satisfied by `EngineAPI`)."""

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]: ...


@dataclass(frozen=True)
class LogSource:
    """What the log pane shows: one unit, one service's replicas, or everything."""

    unit: str | None = None
    service: str | None = None

    @property
    def is_all(self) -> bool:
        return self.unit is None and self.service is None

    def wants(self, unit: str, service: str) -> bool:
        if self.unit is not None:
            return unit == self.unit
        if self.service is not None:
            return service == self.service
        return True

    @property
    def label(self) -> str:
        return self.unit or (f"{self.service} (all replicas)" if self.service else "all services")


class LogsArrived(Message, bubble=False):
    """New lines wait in the pane's buffer. Posted at most once per frame; the
    handler drains every waiting line, so lines are never coalesced away. For the
    pane alone: under a flood it comes 30 times a second."""


class LogPane(Vertical):
    """Title bar, log view and prompt, with the state behind them."""

    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
    }
    LogPane #logs-bar {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    LogPane #logs-title {
        width: 1fr;
    }
    LogPane #logs-status {
        width: auto;
    }
    LogPane LogView {
        height: 1fr;
    }
    LogPane #prompt {
        dock: bottom;
        border: tall $accent;
        height: 3;
    }
    LogPane #prompt.hidden {
        display: none;
    }
    """

    class SourceChanged(Message):
        """The pane now shows another source (its history was loaded)."""

        def __init__(self, source: LogSource) -> None:
            super().__init__()
            self.source = source

    def __init__(
        self,
        reader: LogReader,
        *,
        max_lines: int = 20_000,
        frame_interval: float = 1 / 30,
        cursor_blink: bool = True,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.reader = reader
        self.max_lines = max_lines
        self.frame_interval = frame_interval
        self._cursor_blink = cursor_blink
        self._source = LogSource()
        self._pending: deque[Chunk] = deque()
        self._pending_lines = 0
        self._flush_scheduled = False
        self._last_flush = 0.0
        self._cleared: dict[LogSource, float] = {}
        self._units: Sequence[UnitInfo] = ()
        self._service_of: dict[str, str] = {}
        self._prompt_kind: PromptKind = "search"
        self._reveal = False
        self._title = ""
        self.view = LogView(max_lines=max_lines, id="logs")

    def compose(self) -> ComposeResult:
        with Horizontal(id="logs-bar"):
            yield Label(id="logs-title")
            yield Label("[dim]following[/]", id="logs-status")
        yield self.view
        yield Input(id="prompt", classes="hidden")

    def on_mount(self) -> None:
        self.prompt.cursor_blink = self._cursor_blink
        self._update_title()

    @property
    def prompt(self) -> Input:
        return self.query_one("#prompt", Input)

    @property
    def source(self) -> LogSource:
        return self._source

    @property
    def prompt_open(self) -> bool:
        return self.prompt.has_class("-shown")

    # ---- feeding ---------------------------------------------------------------

    def feed(self, batch: LogBatch) -> None:
        """Take a batch of output (from the app's one subscription); kept if the
        current source wants it, drawn at the next frame."""
        if self._source.wants(batch.unit, batch.service):
            self._buffer((Meta(batch.unit, batch.service, batch.stream, batch.ts), batch.lines))

    def feed_record(self, record: LogRecord, service: str) -> None:
        """One line (an engine that sends `LogLine` events instead of batches)."""
        if self._source.wants(record.unit, service):
            self._buffer((Meta(record.unit, service, record.stream, record.ts), [record.text]))

    def _buffer(self, chunk: Chunk) -> None:
        self._pending.append(chunk)
        self._pending_lines += len(chunk[1])
        # Bounded like the view: if the UI falls behind, the oldest waiting lines
        # go (they remain in the engine's ring buffer).
        while self._pending_lines > self.max_lines and len(self._pending) > 1:
            self._pending_lines -= len(self._pending.popleft()[1])
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        wait = self._last_flush + self.frame_interval - time.monotonic()
        if wait <= 0:
            self.post_message(LogsArrived())
        else:
            asyncio.get_running_loop().call_later(wait, self.post_message, LogsArrived())

    def on_logs_arrived(self, _message: LogsArrived) -> None:
        self._flush_scheduled = False
        self._last_flush = time.monotonic()
        chunks = list(self._pending)
        self._pending.clear()
        self._pending_lines = 0
        self.view.append_chunks(chunks)

    # ---- source ----------------------------------------------------------------

    def set_units(self, units: Sequence[UnitInfo]) -> None:
        """The units as they are now: which service each belongs to (for replica
        groups) and how wide the name prefix must be."""
        self._units = units
        self._service_of = {u.name: u.service for u in units}
        self.view.prefix_width = max((len(u.name) for u in units), default=8)

    def show(self, source: LogSource) -> None:
        """Show another source: its history from the reader, then live lines."""
        if source == self._source:
            return
        self._source = source
        self.reload()
        self.post_message(self.SourceChanged(source))

    def reload(self) -> None:
        source = self._source
        self._pending.clear()
        self._pending_lines = 0
        service_of = self._service_of
        records: Iterable[LogRecord]
        if source.unit is not None or not self._units:
            records = self.reader.logs(source.unit)
        else:
            # Merged here from per-unit buffers rather than `logs(None)`, so only the
            # wanted units are read at all (and a replica group costs no filtering).
            wanted = [u.name for u in self._units if source.wants(u.name, u.service)]
            records = heapq.merge(*(self.reader.logs(n) for n in wanted), key=_ts)
        cleared = self._cleared.get(source, 0.0)
        entries = [
            Entry.of(r, service_of.get(r.unit, r.unit))
            for r in records
            if r.ts > cleared and source.wants(r.unit, service_of.get(r.unit, r.unit))
        ]
        view = self.view
        view.show_prefix = source.unit is None
        view.set_lines(entries)
        self._update_title()

    def clear(self) -> None:
        # Remembered per source, so coming back to it does not bring the lines back
        # from the engine's buffer.
        self._cleared[self._source] = time.time()
        self._pending.clear()
        self._pending_lines = 0
        self.view.clear()

    # ---- display settings ------------------------------------------------------

    def set_secrets(self, masker: SecretMasker, *, reveal: bool) -> None:
        self._reveal = reveal
        self.view.configure(masker=SecretMasker() if reveal else masker)
        self._update_title()

    def toggle_wrap(self) -> None:
        self.view.configure(wrap=not self.view.wrap)
        self._update_title()

    def toggle_timestamps(self) -> None:
        self.view.configure(timestamps=not self.view.timestamps)
        self._update_title()

    @property
    def title(self) -> str:
        """The title bar's text (markup), for tests."""
        return self._title

    def _update_title(self) -> None:
        view = self.view
        flags = [
            name
            for name, on_ in (
                ("wrap", view.wrap),
                ("timestamps", view.timestamps),
                ("secrets shown", self._reveal),
            )
            if on_
        ]
        title = f"[b]logs[/b] · {self._source.label}"
        if view.filter:
            title += f" · filter [b]{view.filter}[/b]"
        if view.search:
            title += f" · search [b]{view.search}[/b]"
        if flags:
            title += " · " + ", ".join(flags)
        if title != self._title and self.is_mounted:
            self._title = title
            # Its width is fixed (1fr): no reflow of the screen for a new title, which
            # is what a key like `t` costs under a flood.
            self.query_one("#logs-title", Label).update(title, layout=False)

    @on(LogView.FollowChanged)
    def _follow_changed(self, event: LogView.FollowChanged) -> None:
        label = self.query_one("#logs-status", Label)
        if event.follow:
            label.update("[dim]following[/]")
        elif event.unseen:
            lines = "line" if event.unseen == 1 else "lines"
            label.update(f"[b $text-warning]‖ {event.unseen} new {lines}[/] [dim]End to follow[/]")
        else:
            label.update("[$text-warning]‖ paused[/] [dim]End to follow[/]")

    # ---- search and filter -----------------------------------------------------

    def open_prompt(self, kind: PromptKind) -> None:
        self._prompt_kind = kind
        prompt = self.prompt
        prompt.placeholder = (
            "search the logs (enter: find, esc: cancel)"
            if kind == "search"
            else "show only lines containing… (empty: no filter)"
        )
        prompt.value = self.view.search if kind == "search" else self.view.filter
        prompt.add_class("-shown")
        prompt.remove_class("hidden")
        prompt.focus()

    def close_prompt(self) -> None:
        self.prompt.add_class("hidden")
        self.prompt.remove_class("-shown")
        self.view.focus()

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        view = self.view
        if self._prompt_kind == "search":
            view.configure(search=event.value, match=None)
            if event.value and not view.find(True):
                self.notify(f"no match for {event.value!r}", severity="warning", timeout=3)
        else:
            view.configure(filter=event.value)
        self.close_prompt()
        self._update_title()

    def find(self, forward: bool) -> None:
        view = self.view
        if not view.search:
            self.open_prompt("search")
        elif not view.find(forward):
            self.notify(f"no match for {view.search!r}", severity="warning", timeout=3)

    def back(self) -> bool:
        """Esc: close the prompt, else clear the search. False if there was neither."""
        if self.prompt_open:
            self.close_prompt()
            return True
        if self.view.search:
            self.view.configure(search="", match=None)
            self._update_title()
            return True
        return False


def _ts(record: LogRecord) -> float:
    return record.ts
