"""A line-based log view: keeps plain records, renders only the visible lines.

Modelled on toolong's LogLines: a ScrollView whose `render_line` turns one
record into a Strip on demand (cached), so a flood costs a list append per line
and a few dozen renders per frame, whatever the volume. RichLog, which renders
every write through Rich, cannot keep up with tens of thousands of lines a second.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from devenv.events import LogRecord, Stream
from devenv.tui.format import SecretMasker, prefix_colour
from devenv.tui.keys import bindings

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
CONTROL = re.compile("[\x00-\x08\x0b-\x1a\x1c-\x1f]")


def plain(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


@dataclass(slots=True)
class Entry:
    """One log line as the view keeps it: flat, so a flood costs one small object
    per line (not frozen: a frozen dataclass's __init__ is several times slower)."""

    unit: str
    service: str
    stream: Stream
    text: str
    ts: float

    @classmethod
    def of(cls, record: LogRecord, service: str) -> Entry:
        return cls(record.unit, service, record.stream, record.text, record.ts)


@dataclass(slots=True)
class Meta:
    """Where lines came from. One Meta is shared by every line of an output batch,
    so a flood costs two list extends per batch, not an object per line."""

    unit: str
    service: str
    stream: Stream
    ts: float


Chunk = tuple[Meta, list[str]]


class LogView(ScrollView, can_focus=True):
    """Shows one source's log (or all interleaved), bounded to `max_lines`."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        overflow-y: auto;
        overflow-x: auto;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS = bindings("logview")

    class FollowChanged(Message):
        """Follow mode or the count of unseen lines changed (coalesced)."""

        def __init__(self, follow: bool, unseen: int) -> None:
            super().__init__()
            self.follow = follow
            self.unseen = unseen

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogView.FollowChanged)

    follow: reactive[bool] = reactive(True, init=False)
    unseen: reactive[int] = reactive(0, init=False)

    def __init__(
        self,
        max_lines: int = 20_000,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._clock = clock
        # Parallel lists: the text of each line and its (shared) Meta.
        self._texts: list[str] = []
        self._metas: list[Meta] = []
        self._base = 0  # absolute index of _texts[0]; grows as old lines are dropped
        # (absolute line, wrap segment) per displayed row; None when every line shows
        # on exactly one row (no filter, no wrap), which is the fast path under floods.
        self._rows: list[tuple[int, int]] | None = None
        self._width = 0
        self._cache: LRUCache[int, Strip] = LRUCache(2048)
        self.show_prefix = True
        self.prefix_width = 8
        self.timestamps = False
        self.wrap = False
        self.search = ""
        self.filter = ""
        self.match: int | None = None  # absolute index of the current search match
        self.masker = SecretMasker()
        self._base_style: Style | None = None

    # ---- content -------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self._texts)

    @property
    def row_count(self) -> int:
        return len(self._rows) if self._rows is not None else len(self._texts)

    def displayed_texts(self) -> list[str]:
        """The plain text of every displayed line (masked as shown), for tests."""
        indices = (
            sorted({a for a, _ in self._rows})
            if self._rows is not None
            else range(self._base, self._base + len(self._texts))
        )
        return [self._plain(self._texts[a - self._base]) for a in indices]

    def set_lines(self, entries: Iterable[Entry]) -> None:
        kept = list(entries)[-self.max_lines :]
        self._texts = [e.text for e in kept]
        self._metas = [Meta(e.unit, e.service, e.stream, e.ts) for e in kept]
        self._base = 0
        self.match = None
        self.unseen = 0
        self.follow = True
        self._rebuild()
        # Before the first layout the view has no height to scroll by.
        self.call_after_refresh(self._keep_following)

    def clear(self) -> None:
        self.set_lines(())

    def append(self, entries: Sequence[Entry]) -> None:
        self.append_chunks([(Meta(e.unit, e.service, e.stream, e.ts), [e.text]) for e in entries])

    def append_chunks(self, chunks: Sequence[Chunk]) -> None:
        """Add batches of lines; one layout and scroll update for all of them."""
        if not any(lines for _, lines in chunks):
            return
        at_end = self.follow
        start = self._base + len(self._texts)
        added = 0
        shown = 0
        widest = self._width
        texts, metas = self._texts, self._metas
        for meta, lines in chunks:
            texts.extend(lines)
            metas.extend([meta] * len(lines))
            added += len(lines)
            longest = max(map(len, lines), default=0)
            if longest > widest:
                widest = longest
        self._width = widest
        if self._rows is not None:
            before = len(self._rows)
            self._rows.extend(self._rows_for(start, metas[-added:], texts[-added:]))
            shown = sum(1 for _, seg in self._rows[before:] if seg == 0)
        else:
            shown = added
        excess = len(texts) - self.max_lines
        # Trim in chunks so a flood does not shift the lists on every batch.
        if excess > 0 and (excess >= self.max_lines // 10 or added >= excess):
            self._trim(excess)
        self._update_virtual_size()
        if at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif shown:
            self.unseen += shown
        self.refresh()

    def _trim(self, excess: int) -> None:
        del self._texts[:excess]
        del self._metas[:excess]
        self._base += excess
        if self._rows is not None:
            cut = bisect_left(self._rows, (self._base, -1))
            del self._rows[:cut]
            if cut and not self.follow:
                self.scroll_to(y=max(0, self.scroll_y - cut), animate=False, immediate=True)
        elif not self.follow:
            self.scroll_to(y=max(0, self.scroll_y - excess), animate=False, immediate=True)
        self._cache.clear()
        if self.match is not None and self.match < self._base:
            self.match = None

    # ---- settings ------------------------------------------------------------

    def configure(self, **changes: object) -> None:
        """Change display settings (timestamps, wrap, search, filter, masker, …)."""
        for key, value in changes.items():
            setattr(self, key, value)
        self._rebuild()

    def _rebuild(self) -> None:
        self._cache.clear()
        if self.filter or self.wrap:
            self._rows = self._rows_for(self._base, self._metas, self._texts)
        else:
            self._rows = None
        self._width = max(map(len, self._texts), default=0)
        self._update_virtual_size()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _rows_for(
        self, start: int, metas: Sequence[Meta], texts: Sequence[str]
    ) -> list[tuple[int, int]]:
        rows: list[tuple[int, int]] = []
        width = max(10, self.scrollable_content_region.width or self.size.width or 80)
        extra = self._decoration_width()
        for offset, (meta, text) in enumerate(zip(metas, texts, strict=True)):
            if self.filter and not self._matches(meta, text, self.filter):
                continue
            if self.wrap:
                length = extra + cell_len(plain(text))
                segments = max(1, -(-length // width))
                rows.extend((start + offset, s) for s in range(segments))
            else:
                rows.append((start + offset, 0))
        return rows

    def _update_virtual_size(self) -> None:
        width = 0 if self.wrap else self._width + self._decoration_width()
        size = Size(width, self.row_count)
        if size == self.virtual_size:
            return
        if not self.is_mounted:
            self.virtual_size = size
            return
        # `virtual_size` is a layout reactive: assigning it reflows the whole screen
        # and repaints every widget, which under a flood happened on every frame.
        # Only the scrollbars depend on it. Textual's own resize path does this
        # (`_size_updated(layout=False)`): store it without the reflow and update
        # the scrollbars, which reflow only when one appears or goes.
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap:
            self._rebuild()
        self._keep_following()

    def _keep_following(self) -> None:
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _decoration_width(self) -> int:
        return (self.prefix_width + 3 if self.show_prefix else 0) + (13 if self.timestamps else 0)

    def _plain(self, text: str) -> str:
        return self.masker.mask(CONTROL.sub("", plain(text)))

    def _matches(self, meta: Meta, text: str, term: str) -> bool:
        return term.lower() in self._plain(text).lower() or (
            self.show_prefix and term.lower() in meta.unit.lower()
        )

    # ---- follow and search ---------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = new_value >= self.max_scroll_y
        if at_end and not self.follow:
            self.follow = True
        elif not at_end and new_value < old_value and self.follow:
            self.follow = False

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.unseen = 0
        self.post_message(self.FollowChanged(self.follow, self.unseen))

    def watch_unseen(self) -> None:
        self.post_message(self.FollowChanged(self.follow, self.unseen))

    def action_follow(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def find(self, forward: bool = True) -> bool:
        """Move to the next (or previous) line containing the search term."""
        if not self.search or not self._texts:
            return False
        term = self.search.lower()
        rows = self._display_indices()
        if not rows:
            return False
        if self.match is None or self.match < self._base:
            current = len(rows) if forward is False else -1
            if forward and not self.follow:
                current = bisect_left(rows, self._row_to_abs(int(self.scroll_y))) - 1
        else:
            current = bisect_left(rows, self.match)
        n = len(rows)
        for step in range(1, n + 1):
            i = (current + step) % n if forward else (current - step) % n
            absolute = rows[i]
            if term in self._plain(self._texts[absolute - self._base]).lower():
                self.match = absolute
                self._cache.clear()
                self.follow = False
                row = self._abs_to_row(absolute)
                self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
                self.refresh()
                return True
        return False

    def _display_indices(self) -> list[int]:
        if self._rows is None:
            return list(range(self._base, self._base + len(self._texts)))
        seen: list[int] = []
        for a, seg in self._rows:
            if seg == 0:
                seen.append(a)
        return seen

    def _abs_to_row(self, absolute: int) -> int:
        if self._rows is None:
            return absolute - self._base
        return bisect_left(self._rows, (absolute, 0))

    def _row_to_abs(self, row: int) -> int:
        if self._rows is None:
            return self._base + row
        return self._rows[min(row, len(self._rows) - 1)][0] if self._rows else self._base

    # ---- rendering -----------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._base_style = None

    @property
    def _style(self) -> Style:
        # `rich_style` walks the DOM on every call; lines are rendered by the hundred.
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        rich_style = self._style
        if row >= self.row_count:
            return Strip.blank(width, rich_style)
        if self._rows is None:
            absolute, segment = self._base + row, 0
        else:
            absolute, segment = self._rows[row]
        strip = self._cache.get(absolute)
        if strip is None:
            index = absolute - self._base
            strip = self._render_entry(self._metas[index], self._texts[index], absolute)
            self._cache[absolute] = strip
        if self.wrap:
            start = segment * width
            return strip.crop_extend(start, start + width, rich_style)
        return strip.crop_extend(scroll_x, scroll_x + width, rich_style)

    def _render_entry(self, meta: Meta, text: str, absolute: int) -> Strip:
        record = meta
        line = Text(no_wrap=True, end="")
        if self.timestamps:
            stamp = time.strftime("%H:%M:%S", time.localtime(record.ts))
            line.append(f"{stamp}.{int(record.ts * 1000) % 1000:03d} ", style="dim")
        if self.show_prefix:
            line.append(
                f"{record.unit:<{self.prefix_width}.{self.prefix_width}}",
                style=Style(color=prefix_colour(meta.service), bold=True),
            )
            line.append(" │ ", style="dim")
        body_text = CONTROL.sub("", self.masker.mask(text).expandtabs())
        body = Text.from_ansi(body_text, no_wrap=True, end="")
        if record.stream == "devenv":
            body.stylize("italic")
            body.stylize(self.app.current_theme.primary or "blue")
        elif record.stream == "stderr" and not body.spans:
            body.stylize(Style(color=self.app.current_theme.warning or "yellow"))
        offset = len(line)
        line.append_text(body)
        if self.search:
            style = (
                Style(reverse=True, bold=True)
                if absolute == self.match
                else Style(bgcolor=self.app.current_theme.accent or "yellow", color="black")
            )
            line.highlight_regex(re.compile(re.escape(self.search), re.IGNORECASE), style)
            del offset
        line.stylize_before(self._style)
        segments = list(line.render(self.app.console))
        return Strip(segments, line.cell_len)
