"""The devenv terminal UI: services, logs and details, driven by engine events.

The app sees the engine only through `EngineAPI`; events arrive by `subscribe` on
the app's own asyncio loop (the engine is started from inside the app). State
events become one coalesced `UnitsChanged` message; log lines are buffered and
handed to the log view in one `LogsArrived` batch per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import threading
import time
import webbrowser
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Label, Static

from devenv.engine.api import EngineAPI, UnitInfo
from devenv.events import (
    Event,
    LogBatch,
    LogLine,
    LogRecord,
    Progress,
    Reloaded,
    StateChanged,
    Stats,
    UnitState,
)
from devenv.tui.format import CHANGING_STATES, SecretMasker
from devenv.tui.logview import Chunk, Entry, LogView, Meta
from devenv.tui.messages import LogsArrived, UnitsChanged
from devenv.tui.progress import ProgressRow
from devenv.tui.screens import DetailsScreen, HelpScreen, QuitScreen
from devenv.tui.services import GROUP_PREFIX, RowModel, ServicesTable

Opener = Callable[[str], object]


@dataclass(frozen=True)
class Options:
    """Knobs the tests turn to make the app deterministic and fast."""

    clock: Callable[[], float] = time.time
    opener: Opener = webbrowser.open
    spinner: bool = True  # animate changing states (off in snapshots)
    spinner_interval: float = 0.1
    uptime_interval: float = 1.0  # at most 1 Hz, and only while something runs
    # Log batches: at most one per 1/30 s. Keys still redraw at Textual's 60 fps;
    # under a 50k lines/s flood this halves the UI's rendering work (~18 % of a core).
    frame_interval: float = 1 / 30
    max_log_lines: int = 20_000
    theme: str | None = None
    stats: bool = True  # ask the engine for CPU/memory samples
    cursor_blink: bool = True
    # Process-wide GC tuning, for the CLI only: under a log flood, full collections
    # over Textual's object graph stalled frames for 100+ ms.
    tune_gc: bool = False
    # A session in another process (`devenv attach`): the app does not start the
    # engine, and quitting detaches, leaving the session running.
    attached: bool = False


@dataclass
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


class DevenvApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "devenv"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q,ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("j", "select(1)", "Down", show=False),
        Binding("k", "select(-1)", "Up", show=False),
        Binding("r", "restart", "Restart"),
        Binding("s", "stop_start", "Stop/Start"),
        Binding("R", "restart_all", "Restart all", show=False),
        Binding("a", "all_logs", "All logs"),
        Binding("slash", "prompt('search')", "Search"),
        Binding("n", "find(True)", "Next match", show=False),
        Binding("N", "find(False)", "Prev match", show=False),
        Binding("f", "prompt('filter')", "Filter"),
        Binding("w", "wrap", "Wrap", show=False),
        Binding("t", "timestamps", "Times", show=False),
        Binding("c", "clear_logs", "Clear", show=False),
        Binding("o", "open_port", "Open", show=False),
        Binding("d", "details", "Details"),
        Binding("v", "reveal", "Reveal", show=False),
        Binding("space", "expand", "Expand", show=False),
        Binding("escape", "go_back", "Back", show=False),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, engine: EngineAPI, services: Sequence[str], options: Options) -> None:
        super().__init__()
        self.engine = engine
        self.services = tuple(services)
        self.options = options
        if options.theme:
            self.theme = options.theme
        self.source = LogSource()
        self.reveal = False
        self.units: list[UnitInfo] = []
        self.stats: dict[str, tuple[float, int]] = {}
        self.progress: dict[str, Progress] = {}
        self.engine_stopped = False
        self.start_error: str | None = None
        self._pending: deque[Chunk] = deque()
        self._pending_lines = 0
        self._flush_scheduled = False
        self._last_flush = 0.0
        self._quitting = False
        self._forced = False
        self._prompt_kind = "search"
        self._spinner_timer: Timer | None = None
        self._uptime_timer: Timer | None = None
        self._spinner_frame = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._thread = threading.get_ident()
        self._masker = SecretMasker()
        self._last_row_key: str | None = None
        self._header = ""
        self._cleared: dict[str, float] = {}

    # ---- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Vertical(id="progress")
        yield ServicesTable(id="services")
        with Horizontal(id="logs-bar"):
            yield Label(id="logs-title")
            yield Label("[dim]following[/]", id="logs-status")
        yield LogView(max_lines=self.options.max_log_lines, id="logs")
        yield Input(id="prompt", classes="hidden")
        yield Footer()

    @property
    def table(self) -> ServicesTable:
        return self.query_one(ServicesTable)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def prompt(self) -> Input:
        return self.query_one("#prompt", Input)

    def on_mount(self) -> None:
        self.prompt.cursor_blink = self.options.cursor_blink
        self._thread = threading.get_ident()
        self._masker = SecretMasker(self.engine.secrets())
        self.log_view.configure(masker=self._masker)
        self.table.set_width(self.size.width)
        self._subscribe()
        if self.options.stats:
            self.engine.request_stats(True)
        self._refresh_units()
        self._load_logs()
        self.table.focus()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._refresh_units())
        self._start_engine()

    def on_app_blur(self) -> None:
        # Nobody is looking (the terminal lost focus): sampling CPU and memory of
        # every unit is most of what an idle devenv costs, so pause it.
        if self.options.stats:
            self.engine.request_stats(False)

    def on_app_focus(self) -> None:
        if self.options.stats:
            self.engine.request_stats(True)

    @work(exit_on_error=False, group="engine")
    async def _start_engine(self) -> None:
        try:
            if not self.options.attached:
                await self.engine.start(self.services)
        except Exception as error:  # shown, not fatal: the user may fix and restart
            self.start_error = str(error)
            self.notify(str(error), title="start failed", severity="error", timeout=30)
        if self.options.tune_gc:
            # Everything alive now (widgets, styles, the stack) lives as long as the
            # app: keep it out of collections (a full one then takes ~25 ms, not
            # 120 ms), and collect less often, still often enough that cyclic
            # garbage stays bounded in a session of hours.
            gc.freeze()
            gc.set_threshold(10_000, 20, 20)
        # The unit list may only be known once started (replicas, selection).
        self._masker = SecretMasker(self.engine.secrets())
        self.log_view.configure(masker=self._masker if not self.reveal else SecretMasker())
        self.post_message(UnitsChanged())

    # ---- engine events -------------------------------------------------------

    def _subscribe(self) -> None:
        # Output comes a batch at a time (far cheaper under a flood than one
        # LogLine event per line); every other event one by one.
        off_events = self.engine.subscribe(self._on_engine_event, lines=False)
        off_batches = self.engine.subscribe_log_batches(self._on_log_batch)

        def unsubscribe() -> None:
            off_events()
            off_batches()

        self._unsubscribe = unsubscribe

    def _on_log_batch(self, batch: LogBatch) -> None:
        if threading.get_ident() != self._thread:
            self.call_from_thread(self._on_log_batch, batch)
            return
        if self.source.wants(batch.unit, batch.service):
            self._buffer((Meta(batch.unit, batch.service, batch.stream, batch.ts), batch.lines))

    def _on_engine_event(self, event: Event) -> None:
        if threading.get_ident() != self._thread:  # an engine on another loop
            self.call_from_thread(self._on_engine_event, event)
            return
        if isinstance(event, LogLine):
            record = event.record
            if self.source.wants(record.unit, event.service):
                self._buffer(
                    (Meta(record.unit, event.service, record.stream, record.ts), [record.text])
                )
            return
        if isinstance(event, Stats):
            self.stats[event.unit] = (event.cpu_percent, event.memory_bytes)
        elif isinstance(event, Progress):
            self.progress[event.unit] = event
        elif isinstance(event, StateChanged) and event.state is not UnitState.STARTING:
            self.progress.pop(event.unit, None)
        elif isinstance(event, Reloaded):
            changed = ", ".join(event.changes[:3]) or "files changed"
            self.notify(f"{event.unit}: reloading ({changed})", timeout=3)
        self.post_message(UnitsChanged())

    def _buffer(self, chunk: Chunk) -> None:
        self._pending.append(chunk)
        self._pending_lines += len(chunk[1])
        # Bounded like the view: if the UI falls behind, the oldest waiting lines
        # go (they remain in the engine's ring buffer).
        while self._pending_lines > self.options.max_log_lines and len(self._pending) > 1:
            self._pending_lines -= len(self._pending.popleft()[1])
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        wait = self._last_flush + self.options.frame_interval - time.monotonic()
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
        self.log_view.append_chunks(chunks)

    def on_units_changed(self, _message: UnitsChanged) -> None:
        self._refresh_units()

    def _refresh_units(self) -> None:
        units = []
        for unit in self.engine.units():
            if unit.name in self.stats:
                cpu, mem = self.stats[unit.name]
                unit = replace(unit, cpu_percent=cpu, memory_bytes=mem)
            units.append(unit)
        self.units = units
        now = self.options.clock()
        table = self.table
        table.spinner_frame = self._spinner_frame if self.options.spinner else None
        table.show_units(units, now)
        self.log_view.prefix_width = max((len(u.name) for u in units), default=8)
        self._update_header()
        self._update_progress()
        self._update_timers()
        screen = self.screen
        if isinstance(screen, DetailsScreen):
            screen.show(units, reveal=self.reveal, now=now)
        elif isinstance(screen, QuitScreen):
            self._show_quit_progress(screen)

    def _update_header(self) -> None:
        units = self.units
        ready = sum(1 for u in units if u.state in (UnitState.READY, UnitState.COMPLETED))
        failed = sum(1 for u in units if u.state in (UnitState.FAILED, UnitState.CRASHED))
        parts = [f"[b]devenv[/b] [b $accent]{self.engine.project_name}[/]"]
        if self.engine.docker_host:
            parts.append(f"docker {self.engine.docker_host}")
        parts.append(f"[b]{ready}/{len(units)}[/b] ready")
        if failed:
            parts.append(f"[b $text-error]{failed} failed[/]")
        if self._quitting:
            parts.append("[b $text-warning]stopping…[/]")
        header = " · ".join(parts)
        if header != self._header:  # an unchanged header costs no redraw
            self._header = header
            self.query_one("#header", Static).update(header)

    def _update_progress(self) -> None:
        box = self.query_one("#progress", Vertical)
        rows = {row.name: row for row in box.query(ProgressRow)}
        for name, row in rows.items():
            if name not in self.progress:
                row.remove()
        for unit, event in self.progress.items():
            if unit in rows:
                rows[unit].show(event)
            else:
                box.mount(ProgressRow(event))
        box.display = bool(self.progress)

    # ---- timers: only while they have something to show -----------------------

    def _update_timers(self) -> None:
        changing = any(u.state in CHANGING_STATES for u in self.units)
        if self.options.spinner and changing and self._spinner_timer is None:
            self._spinner_timer = self.set_interval(self.options.spinner_interval, self._spin)
        elif not changing and self._spinner_timer is not None:
            self._spinner_timer.stop()
            self._spinner_timer = None
        running = any(u.started_at and u.state.is_active for u in self.units)
        if running and self._uptime_timer is None and self.options.uptime_interval > 0:
            self._uptime_timer = self.set_interval(self.options.uptime_interval, self._tick)
        elif not running and self._uptime_timer is not None:
            self._uptime_timer.stop()
            self._uptime_timer = None

    def _spin(self) -> None:
        self._spinner_frame += 1
        self.table.spinner_frame = self._spinner_frame
        self.table.show_units(self.units, self.options.clock())

    def _tick(self) -> None:
        if self.screen is self.screen_stack[0]:  # the main screen is visible
            self.table.tick(self.options.clock())

    # ---- selection and log source --------------------------------------------

    @on(DataTable.RowHighlighted, "#services")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = self.table.selected
        if row is None or row.key == self._last_row_key:
            return
        # The first highlight is the table's initial cursor, not a choice: the log
        # pane keeps showing every service until the user moves.
        first = self._last_row_key is None
        self._last_row_key = row.key
        if not first:
            self._set_source(self._source_for(row))

    def _source_for(self, row: RowModel) -> LogSource:
        if row.is_group:
            return LogSource(service=row.service)
        return LogSource(unit=row.unit.name)

    def _set_source(self, source: LogSource) -> None:
        if source == self.source:
            return
        self.source = source
        self._load_logs()

    def _load_logs(self) -> None:
        source = self.source
        self._pending.clear()
        self._pending_lines = 0
        self._flush_scheduled = False
        service_of = {u.name: u.service for u in self.units}
        records: Iterable[LogRecord]
        if source.unit is not None or not self.units:
            records = self.engine.logs(source.unit)
        else:
            # Merged here from per-unit buffers rather than `logs(None)`, so only the
            # wanted units are read at all (and a replica group costs no filtering).
            wanted = [u.name for u in self.units if source.wants(u.name, u.service)]
            records = heapq.merge(*(self.engine.logs(n) for n in wanted), key=_ts)
        cleared = self._cleared.get(source.label, 0.0)
        entries = [
            Entry.of(r, service_of.get(r.unit, r.unit))
            for r in records
            if r.ts > cleared and source.wants(r.unit, service_of.get(r.unit, r.unit))
        ]
        view = self.log_view
        view.show_prefix = source.unit is None
        view.set_lines(entries)
        self._update_logs_title()

    def _update_logs_title(self) -> None:
        view = self.log_view
        flags = [
            name
            for name, on_ in (
                ("wrap", view.wrap),
                ("timestamps", view.timestamps),
                ("secrets shown", self.reveal),
            )
            if on_
        ]
        title = f"[b]logs[/b] · {self.source.label}"
        if view.filter:
            title += f" · filter [b]{view.filter}[/b]"
        if view.search:
            title += f" · search [b]{view.search}[/b]"
        if flags:
            title += " · " + ", ".join(flags)
        self.query_one("#logs-title", Label).update(title)

    @on(LogView.FollowChanged)
    def _follow_changed(self, event: LogView.FollowChanged) -> None:
        label = self.query_one("#logs-status", Label)
        if event.follow:
            label.update("[dim]following[/]")
        elif event.unseen:
            label.update(f"[b $text-warning]‖ {event.unseen} new lines[/] [dim]End to follow[/]")
        else:
            label.update("[$text-warning]‖ paused[/] [dim]End to follow[/]")

    # ---- actions ---------------------------------------------------------------

    def selected_units(self) -> list[str]:
        row = self.table.selected
        return [u.name for u in row.units] if row else []

    def action_select(self, delta: int) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))

    @on(DataTable.RowSelected, "#services")
    def _row_selected(self) -> None:
        row = self.table.selected
        if row is not None:
            self._set_source(self._source_for(row))
        self.log_view.focus()

    def action_go_back(self) -> None:
        if self.prompt.has_class("-shown"):
            self._close_prompt()
        elif self.log_view.search:
            self.log_view.configure(search="", match=None)
            self._update_logs_title()
        else:
            self.table.focus()

    def action_expand(self) -> None:
        row = self.table.selected
        if row is not None and (row.is_group or row.is_child):
            self.table.toggle_expanded(row.service)
            self.table.select_key(GROUP_PREFIX + row.service)

    def action_restart(self) -> None:
        units = self.selected_units()
        if units:
            self._engine_call("restart", units)

    def action_restart_all(self) -> None:
        self._engine_call("restart", [])

    def action_stop_start(self) -> None:
        row = self.table.selected
        if row is None:
            return
        if any(u.state.is_active or u.state in CHANGING_STATES for u in row.units):
            self._engine_call("stop", [u.name for u in row.units])
        else:
            self._engine_call("start", [row.service])

    @work(exit_on_error=False, group="commands")
    async def _engine_call(self, method: str, names: list[str]) -> None:
        try:
            await getattr(self.engine, method)(names)
        except Exception as error:
            self.notify(f"{method} failed: {error}", severity="error")

    def action_all_logs(self) -> None:
        if self.source.is_all:
            row = self.table.selected
            if row is not None:
                self._set_source(self._source_for(row))
        else:
            self._set_source(LogSource())

    def action_prompt(self, kind: str) -> None:
        self._prompt_kind = kind
        prompt = self.prompt
        prompt.placeholder = (
            "search the logs (enter: find, esc: cancel)"
            if kind == "search"
            else ("show only lines containing… (empty: no filter)")
        )
        prompt.value = self.log_view.search if kind == "search" else self.log_view.filter
        prompt.add_class("-shown")
        prompt.remove_class("hidden")
        prompt.focus()

    def _close_prompt(self) -> None:
        self.prompt.add_class("hidden")
        self.prompt.remove_class("-shown")
        self.log_view.focus()

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        view = self.log_view
        if self._prompt_kind == "search":
            view.configure(search=event.value, match=None)
            if event.value and not view.find(True):
                self.notify(f"no match for {event.value!r}", severity="warning", timeout=3)
        else:
            view.configure(filter=event.value)
        self._close_prompt()
        self._update_logs_title()

    def action_find(self, forward: bool) -> None:
        view = self.log_view
        if not view.search:
            self.action_prompt("search")
        elif not view.find(forward):
            self.notify(f"no match for {view.search!r}", severity="warning", timeout=3)

    def action_wrap(self) -> None:
        self.log_view.configure(wrap=not self.log_view.wrap)
        self._update_logs_title()

    def action_timestamps(self) -> None:
        self.log_view.configure(timestamps=not self.log_view.timestamps)
        self._update_logs_title()

    def action_clear_logs(self) -> None:
        # Remembered per source, so coming back to it does not bring the lines back
        # from the engine's buffer.
        self._cleared[self.source.label] = time.time()
        self.log_view.clear()

    def action_reveal(self) -> None:
        self.reveal = not self.reveal
        self.log_view.configure(masker=SecretMasker() if self.reveal else self._masker)
        self._update_logs_title()
        if isinstance(self.screen, DetailsScreen):
            self.screen.show(self.units, reveal=self.reveal, now=self.options.clock())

    def action_open_port(self) -> None:
        row = self.table.selected
        if row is None:
            return
        ports = sorted({p for u in row.units for p in u.ports})
        if not ports:
            self.notify(f"{row.service} publishes no port", severity="warning", timeout=3)
            return
        self._open(ports[0])

    @on(ServicesTable.PortClicked)
    def _port_clicked(self, event: ServicesTable.PortClicked) -> None:
        self.action_open_port()

    def _open(self, port: int) -> None:
        url = f"http://localhost:{port}"
        self.options.opener(url)
        self.notify(f"opened {url}", timeout=3)

    def action_details(self) -> None:
        if isinstance(self.screen, DetailsScreen):
            self.screen.dismiss()
            return
        units = self.selected_units()
        if not units:
            return
        screen = DetailsScreen(units, self._masker)
        self.push_screen(screen)
        screen.show(self.units, reveal=self.reveal, now=self.options.clock())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    async def action_quit(self) -> None:
        if self.options.attached:  # detach: the session goes on
            self.exit(0)
            return
        if self._quitting:
            if not self._forced:
                self._forced = True
                if isinstance(self.screen, QuitScreen):
                    self.screen.show(0, (), forced=True)
                self.workers.cancel_group(self, "shutdown")
                self._stop_engine(force=True)
            return
        self._quitting = True
        self._update_header()
        screen = QuitScreen(total=len(self.units))
        await self.push_screen(screen)
        self._show_quit_progress(screen)
        self._stop_engine(force=False)

    def _show_quit_progress(self, screen: QuitScreen) -> None:
        if self._forced:
            return
        stopped = [u for u in self.units if u.state.is_final or u.state is UnitState.PENDING]
        waiting = [u.name for u in self.units if u not in stopped]
        screen.show(len(stopped), waiting)

    @work(exit_on_error=False, group="shutdown", exclusive=False)
    async def _stop_engine(self, force: bool) -> None:
        try:
            await self.engine.shutdown(force=force)
        finally:
            self.engine_stopped = True
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.exit(0)

    # ---- command palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands: tuple[tuple[str, str, Callable[[], object]], ...] = (
            ("Restart service", "Restart the selected service (r)", self.action_restart),
            (
                "Stop or start service",
                "Stop the selected service, or start it (s)",
                self.action_stop_start,
            ),
            ("Restart all", "Restart every service (R)", self.action_restart_all),
            ("All logs", "Show every service's log interleaved (a)", self.action_all_logs),
            ("Search logs", "Find text in the log (/)", lambda: self.action_prompt("search")),
            ("Next match", "Next search match (n)", lambda: self.action_find(True)),
            ("Previous match", "Previous search match (N)", lambda: self.action_find(False)),
            ("Filter logs", "Show only matching lines (f)", lambda: self.action_prompt("filter")),
            ("Toggle wrap", "Wrap long log lines (w)", self.action_wrap),
            ("Toggle timestamps", "Show log timestamps (t)", self.action_timestamps),
            ("Clear logs", "Clear the log pane (c)", self.action_clear_logs),
            ("Open port", "Open the service's port in a browser (o)", self.action_open_port),
            ("Details", "Command, dependencies, environment (d)", self.action_details),
            ("Reveal secrets", "Show or mask secret values (v)", self.action_reveal),
            ("Expand replicas", "Show or hide a service's replicas (space)", self.action_expand),
            ("Help", "Every key (?)", self.action_help),
            (
                "Toggle light/dark",
                "Switch between the light and dark theme",
                self.action_toggle_theme,
            ),
            ("Quit devenv", "Stop everything and quit (q)", self.action_quit),
        )
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)


def _ts(record: LogRecord) -> float:
    return record.ts


def make_app(
    engine: EngineAPI,
    services: Sequence[str] = (),
    **test_options: object,
) -> DevenvApp:
    """Build the app; the CLI uses the defaults, tests pass `Options` fields."""
    options = Options(**test_options)  # type: ignore[arg-type]
    return DevenvApp(engine, services, options)


def run_tui(
    engine: EngineAPI,
    services: Sequence[str],
    *,
    around: Callable[[], AbstractAsyncContextManager[object]] | None = None,
) -> int:
    """Run the UI on a fresh loop; the engine lives on the same loop and is always
    shut down before this returns, even if the app fails. `around` is entered on
    that loop for the session's life (the control socket's server)."""
    app = make_app(engine, services, tune_gc=True)

    async def main() -> int:
        async with around() if around is not None else contextlib.nullcontext():
            try:
                await app.run_async()
            finally:
                if not app.engine_stopped:
                    await engine.shutdown()
        return app.return_code or 0

    return asyncio.run(main())


__all__ = ["DevenvApp", "Options", "make_app", "run_tui"]
