"""The devenv terminal UI: services, logs and details, driven by engine events.

The app sees the engine only through `EngineAPI`, in the same process (`devenv`)
or attached to a session running elsewhere (`devenv attach`, through a remote
implementation of the same API). Events arrive by `subscribe` on the app's own
asyncio loop. The app keeps the layout, the selection and the commands: state
events become one coalesced `UnitsChanged` message; output batches go to the log
pane (devenv.tui.logpane), which owns everything about the logs; keys come from
one table (devenv.tui.keys) that also makes the footer, help and palette.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
import webbrowser
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from functools import partial

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from devenv.engine.api import EngineAPI, UnitInfo
from devenv.events import (
    EngineStatus,
    Event,
    LogBatch,
    LogLine,
    Notice,
    Progress,
    Reloaded,
    StateChanged,
    Stats,
    StatusChanged,
    UnitState,
)
from devenv.tui import keys
from devenv.tui.format import (
    CHANGING_STATES,
    LIVE_STATES,
    MODE_LABEL,
    SecretMasker,
    other_kind,
    single_mode_reason,
    without_stale_figures,
)
from devenv.tui.logpane import LogPane, LogSource
from devenv.tui.logview import LogView
from devenv.tui.messages import EngineCommand, UnitsChanged
from devenv.tui.notices import SEVERITY, TIMEOUT, NoticeLog
from devenv.tui.progress import ProgressRow
from devenv.tui.screens import (
    ConfirmScreen,
    DetailsScreen,
    HelpScreen,
    NoticesScreen,
    QuitScreen,
)
from devenv.tui.services import GROUP_PREFIX, RowModel, ServicesTable

Opener = Callable[[str], object]

# States in which a pull or build progress bar means something.
PROGRESS_STATES = frozenset({UnitState.PULLING, UnitState.BUILDING})


@dataclass(frozen=True)
class Options:
    """How the app runs; tests turn these to make it deterministic and fast."""

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
    # Attached to a session running elsewhere: `q` detaches (the stack keeps
    # running) and `Q` stops the session, after a confirmation.
    attached: bool = False
    # Call `engine.start(services)` on mount. None: in-process yes, attached no
    # (the session is running already).
    start: bool | None = None


class DevenvApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "devenv"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = keys.bindings("app")

    def __init__(self, engine: EngineAPI, services: Sequence[str], options: Options) -> None:
        super().__init__()
        self.engine = engine
        self.services = tuple(services)
        self.options = options
        self.mode: keys.Mode = "attached" if options.attached else "local"
        self._foreign_actions = keys.actions_outside(self.mode)
        if options.theme:
            self.theme = options.theme
        self.reveal = False
        self.units: list[UnitInfo] = []
        self.stats: dict[str, tuple[float, int]] = {}
        self.progress: dict[str, Progress] = {}
        self.status = EngineStatus(project=engine.project_name)
        self.notices = NoticeLog()
        self.engine_stopped = False
        self.start_error: str | None = None
        self._quitting = False
        self._forced = False
        self._detached = False
        self._spinner_timer: Timer | None = None
        self._uptime_timer: Timer | None = None
        self._spinner_frame = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._thread = threading.get_ident()
        self._masker = SecretMasker()
        self._last_row_key: str | None = None
        self._header = ""
        self._alert = ""
        self.log_pane = LogPane(
            engine,
            max_lines=options.max_log_lines,
            frame_interval=options.frame_interval,
            cursor_blink=options.cursor_blink,
            id="log-pane",
        )

    # ---- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="alert")
        yield Vertical(id="progress")
        yield ServicesTable(id="services")
        yield self.log_pane
        yield Footer()

    @property
    def table(self) -> ServicesTable:
        return self.query_one(ServicesTable)

    @property
    def log_view(self) -> LogView:
        return self.log_pane.view

    @property
    def source(self) -> LogSource:
        return self.log_pane.source

    def on_mount(self) -> None:
        self._thread = threading.get_ident()
        self._masker = SecretMasker(self.engine.secrets())
        self.log_pane.set_secrets(self._masker, reveal=self.reveal)
        self.table.set_width(self.size.width)
        self.status = self.engine.status()
        self._subscribe()
        if self.options.stats:
            self.engine.request_stats(True)
        self._refresh_units()
        self.log_pane.reload()
        self.table.focus()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._refresh_units())
        start = self.options.start if self.options.start is not None else not self.options.attached
        if start:
            self._start_engine()
        else:
            self._started()

    def on_app_blur(self) -> None:
        # Nobody is looking (the terminal lost focus): sampling CPU and memory of
        # every unit is most of what an idle devenv costs, so pause it.
        if self.options.stats:
            self.engine.request_stats(False)

    def on_app_focus(self) -> None:
        if self.options.stats and not self._detached:
            self.engine.request_stats(True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # One binding table for both modes: the other mode's keys are hidden from
        # the footer and refused, so Textual tries the next binding of the key.
        return action not in self._foreign_actions

    @work(exit_on_error=False, group="engine")
    async def _start_engine(self) -> None:
        try:
            await self.engine.start(self.services)
        except Exception as error:  # shown, not fatal: the user may fix and restart
            self.start_error = str(error)
            self._notice(Notice(str(error), "error"), title="start failed")
        self._started()

    def _started(self) -> None:
        if self.options.tune_gc:
            # Everything alive now (widgets, styles, the stack) lives as long as the
            # app: keep it out of collections (a full one then takes ~25 ms, not
            # 120 ms), and collect less often, still often enough that cyclic
            # garbage stays bounded in a session of hours.
            gc.freeze()
            gc.set_threshold(10_000, 20, 20)
        # The unit list and secrets may only be known once started.
        self._masker = SecretMasker(self.engine.secrets())
        self.log_pane.set_secrets(self._masker, reveal=self.reveal)
        self.post_message(UnitsChanged())

    # ---- engine events -------------------------------------------------------

    def _subscribe(self) -> None:
        # Output comes a batch at a time (far cheaper under a flood than one
        # LogLine event per line); every other event one by one. The app holds
        # both subscriptions, so quitting or detaching drops them in one place.
        off_events = self.engine.subscribe(self._on_engine_event, lines=False)
        off_batches = self.engine.subscribe_log_batches(self._on_log_batch)

        def unsubscribe() -> None:
            off_events()
            off_batches()

        self._unsubscribe = unsubscribe

    def _drop_subscriptions(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_log_batch(self, batch: LogBatch) -> None:
        if threading.get_ident() != self._thread:
            self.call_from_thread(self._on_log_batch, batch)
            return
        self.log_pane.feed(batch)

    def _on_engine_event(self, event: Event) -> None:
        if threading.get_ident() != self._thread:  # an engine on another loop
            self.call_from_thread(self._on_engine_event, event)
            return
        if not self.is_running:  # an event queued before the UI began to close
            return
        if isinstance(event, LogLine):
            self.log_pane.feed_record(event.record, event.service)
            return
        if isinstance(event, Stats):
            self.stats[event.unit] = (event.cpu_percent, event.memory_bytes)
        elif isinstance(event, Progress):
            self.progress[event.unit] = event
        elif isinstance(event, StateChanged):
            if event.state not in LIVE_STATES:
                # The last sample of an instance that is gone is not its use now.
                self.stats.pop(event.unit, None)
        elif isinstance(event, Reloaded):
            changed = ", ".join(event.changes[:3]) or "files changed"
            self.notify(f"{event.unit}: reloading ({changed})", timeout=3)
        elif isinstance(event, Notice):
            self._notice(event)
        elif isinstance(event, StatusChanged):
            self.status = event.status
            self._update_header()
            return
        self.post_message(UnitsChanged())

    def _notice(self, notice: Notice, title: str | None = None) -> None:
        """Show a notice as a toast and keep it in the list `e` opens."""
        self.notices.add(notice)
        self.notify(
            notice.text,
            title=title or notice.unit or "",
            severity=SEVERITY[notice.level],  # type: ignore[arg-type]
            timeout=TIMEOUT[notice.level],
            markup=False,
        )
        self._update_header()

    def on_units_changed(self, _message: UnitsChanged) -> None:
        if not self.is_running:  # closing: the main screen's widgets are being removed
            return
        self._refresh_units()

    def _refresh_units(self) -> None:
        units = []
        for unit in self.engine.units():
            if unit.name in self.stats:
                cpu, mem = self.stats[unit.name]
                unit = replace(unit, cpu_percent=cpu, memory_bytes=mem)
            units.append(without_stale_figures(unit))
        self.units = units
        now = self.options.clock()
        table = self.table
        table.spinner_frame = self._spinner_frame if self.options.spinner else None
        table.show_units(units, now)
        self.log_pane.set_units(units)
        self._update_header()
        self._update_progress()
        self._update_timers()
        screen = self.screen
        if isinstance(screen, DetailsScreen):
            screen.show(units, reveal=self.reveal, now=now)
        elif isinstance(screen, QuitScreen):
            self._show_quit_progress(screen)

    def _update_header(self) -> None:
        units = [u for u in self.units if u.replica != 0]  # scaled to zero: no instance
        ready = sum(1 for u in units if u.state in (UnitState.READY, UnitState.COMPLETED))
        failed = sum(1 for u in units if u.state in (UnitState.FAILED, UnitState.CRASHED))
        status = self.status
        parts = [f"[b]devenv[/b] [b $accent]{self.engine.project_name}[/]"]
        if self.options.attached:
            parts.append(f"[b]attached[/b] (pid {status.pid})" if status.pid else "[b]attached[/b]")
        if status.docker == "unreachable":
            parts.append("[b $text-error]Docker unreachable, retrying[/]")
        elif status.docker == "connecting":
            parts.append("[$text-warning]connecting to Docker…[/]")
        parts.append(f"[b]{ready}/{len(units)}[/b] ready")
        if failed:
            parts.append(f"[b $text-error]{failed} failed[/]")
        if self.notices.unread:
            plural = "s" if self.notices.unread > 1 else ""
            parts.append(f"[b $text-warning]{self.notices.unread} notice{plural}[/] [dim](e)[/]")
        if self._quitting or status.stopping:
            parts.append("[b $text-warning]stopping…[/]")
        if self.engine.docker_host and status.docker != "unreachable":
            parts.append(f"[dim]docker {self.engine.docker_host}[/]")
        header = " · ".join(parts)
        if header != self._header:  # an unchanged header costs no redraw
            self._header = header
            self.query_one("#header", Static).update(header, layout=False)  # one line
        self._update_alert(status)

    def _update_alert(self, status: EngineStatus) -> None:
        """A line under the header, only while the session has a problem to read."""
        lines = []
        if status.docker == "unreachable":
            detail = f": {status.docker_detail}" if status.docker_detail else ""
            lines.append(f"Docker unreachable, retrying{detail}")
        if status.config_error:
            lines.append(f"Config edit not applied (the old stack runs on): {status.config_error}")
        alert = "\n".join(lines)
        if alert != self._alert:
            self._alert = alert
            box = self.query_one("#alert", Static)
            box.update(Text(alert))  # not markup: the error text is the user's file
            box.display = bool(alert)

    def _update_progress(self) -> None:
        # A bar lasts while its unit pulls or builds (or builds beside a serving
        # instance): whatever the next state is, the bar goes with the last one.
        state_of = {u.name: u for u in self.units}
        for name in list(self.progress):
            info = state_of.get(name)
            if info is None or not (info.state in PROGRESS_STATES or info.build == "building"):
                del self.progress[name]
        box = self.query_one("#progress", Vertical)
        rows = {row.event.unit: row for row in box.query(ProgressRow)}
        for name, row in rows.items():
            if name not in self.progress:
                row.remove()
        for name, event in self.progress.items():
            if name in rows:
                rows[name].show(event)
            else:
                box.mount(ProgressRow(event))
        box.display = bool(self.progress)

    # ---- timers: only while they have something to show -----------------------

    def _update_timers(self) -> None:
        changing = any(u.state in CHANGING_STATES or u.build == "building" for u in self.units)
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
            self.log_pane.show(self._source_for(row))

    def _source_for(self, row: RowModel) -> LogSource:
        if row.is_group:
            return LogSource(service=row.service)
        return LogSource(unit=row.unit.name)

    @on(DataTable.RowSelected, "#services")
    def _row_selected(self) -> None:
        row = self.table.selected
        if row is not None:
            self.log_pane.show(self._source_for(row))
        self.log_view.focus()

    # ---- actions: services -----------------------------------------------------

    def selected_units(self) -> list[str]:
        row = self.table.selected
        return [u.name for u in row.units] if row else []

    def _selected_running_row(self, verb: str) -> RowModel | None:
        """The selected row, unless its service is scaled to zero (then say why)."""
        row = self.table.selected
        if row is not None and row.scaled_to_zero:
            self.notify(
                f"{row.service} is scaled to zero (replicas: 0): nothing to {verb}",
                severity="warning",
                timeout=4,
            )
            return None
        return row

    def action_select(self, delta: int) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + delta)))

    def action_expand(self) -> None:
        row = self.table.selected
        if row is not None and (row.is_group or row.is_child):
            self.table.toggle_expanded(row.service)
            self.table.select_key(GROUP_PREFIX + row.service)

    def action_restart(self) -> None:
        row = self._selected_running_row("restart")
        if row is not None:
            self.post_message(EngineCommand("restart", tuple(u.name for u in row.units)))

    def action_restart_all(self) -> None:
        self.post_message(EngineCommand("restart", ()))

    def action_stop_start(self) -> None:
        row = self._selected_running_row("start or stop")
        if row is None:
            return
        if any(u.state.is_active or u.state in CHANGING_STATES for u in row.units):
            self.post_message(EngineCommand("stop", tuple(u.name for u in row.units)))
        else:
            self.post_message(EngineCommand("start", (row.service,)))

    def action_flip_mode(self) -> None:
        row = self.table.selected
        if row is None:
            return
        unit = row.unit
        other = other_kind(unit)
        if other is None:
            self.notify(single_mode_reason(unit), severity="warning", timeout=5)
            return
        self.notify(f"{row.service}: switching to {MODE_LABEL[other]}…", timeout=3)
        self.post_message(EngineCommand("set_mode", (row.service,), mode=other))

    @on(EngineCommand)
    def _run_command(self, message: EngineCommand) -> None:
        self._engine_call(message)

    @work(exit_on_error=False, group="commands")
    async def _engine_call(self, message: EngineCommand) -> None:
        engine = self.engine
        try:
            if message.command == "set_mode":
                assert message.mode is not None
                await engine.set_mode(message.targets[0], message.mode)
            elif message.command == "restart":
                await engine.restart(message.targets)
            elif message.command == "stop":
                await engine.stop(message.targets)
            else:
                await engine.start(message.targets)
        except Exception as error:
            what = " ".join((message.command.replace("_", " "), *message.targets))
            self._notice(Notice(f"{what} failed: {error}", "error"))

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

    # ---- actions: logs (the pane does the work) --------------------------------

    def action_all_logs(self) -> None:
        if self.source.is_all:
            row = self.table.selected
            if row is not None:
                self.log_pane.show(self._source_for(row))
        else:
            self.log_pane.show(LogSource())

    def action_prompt(self, kind: str) -> None:
        self.log_pane.open_prompt("filter" if kind == "filter" else "search")

    def action_find(self, forward: bool) -> None:
        self.log_pane.find(forward)

    def action_wrap(self) -> None:
        self.log_pane.toggle_wrap()

    def action_timestamps(self) -> None:
        self.log_pane.toggle_timestamps()

    def action_clear_logs(self) -> None:
        self.log_pane.clear()

    def action_go_back(self) -> None:
        if not self.log_pane.back():
            self.table.focus()

    def action_reveal(self) -> None:
        self.reveal = not self.reveal
        self.log_pane.set_secrets(self._masker, reveal=self.reveal)
        if isinstance(self.screen, DetailsScreen):
            self.screen.show(self.units, reveal=self.reveal, now=self.options.clock())

    # ---- actions: session ------------------------------------------------------

    def action_notices(self) -> None:
        if isinstance(self.screen, NoticesScreen):
            self.screen.dismiss()
            return
        self.notices.mark_read()
        self._update_header()
        self.push_screen(NoticesScreen(list(self.notices)))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.mode))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    async def action_quit(self) -> None:
        """In-process: stop everything, then exit; a second press forces."""
        if self.options.attached:  # Textual's own "Quit" command, attached: detach
            self.action_detach()
            return
        await self._stop_everything()

    def action_detach(self) -> None:
        """Attached: leave the session running and close this UI."""
        self._detached = True
        if self.options.stats:
            self.engine.request_stats(False)
        self._drop_subscriptions()
        self.exit(0)

    def action_stop_session(self) -> None:
        """Attached: stop the whole session, after a confirmation (Q again while it
        stops: at once)."""
        if self._quitting:
            self.run_worker(self._stop_everything(), exit_on_error=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._stop_everything(), exit_on_error=False)

        self.push_screen(
            ConfirmScreen(
                "stop the session",
                f"Stop every service of {self.engine.project_name} and end the session?\n"
                "n keeps it running (then q detaches this UI alone).",
            ),
            answered,
        )

    async def _stop_everything(self) -> None:
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
        screen = QuitScreen(total=len(self.units), mode=self.mode)
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
            # A forced stop cancels the polite one and ends the app itself: the
            # polite one must not exit first, before the kill was even sent.
            if force or not self._forced:
                self.engine_stopped = True
                self._drop_subscriptions()
                self.exit(0)

    def session_ended(self, reason: str) -> None:
        """For a remote engine whose session went away (stopped elsewhere, socket
        closed): close the UI and say why once the terminal is restored."""
        self.engine_stopped = True
        self._drop_subscriptions()
        self.exit(0, message=reason)

    # ---- command palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title != "Quit":  # ours says what quitting does in this mode
                yield command
        for key in keys.palette_entries(self.mode):
            assert key.title is not None
            shown = f" ({key.shown_key})" if key.key else ""
            yield SystemCommand(key.title, key.help + shown, partial(self.run_action, key.action))


def make_app(
    engine: EngineAPI,
    services: Sequence[str] = (),
    **options: object,
) -> DevenvApp:
    """Build the app: the CLI and the tests pass `Options` fields (attached=True for a
    UI attached to a session running elsewhere)."""
    return DevenvApp(engine, services, Options(**options))  # type: ignore[arg-type]


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


async def run_attached_async(
    engine: EngineAPI, services: Sequence[str] = (), *, start: bool = False
) -> int:
    """Run the UI attached to a session running elsewhere, on the running loop (the
    remote engine's coroutines and callbacks run on it too). Never shuts the
    session down unless the user asks (`Q`); `start=True` starts `services` in it."""
    app = make_app(engine, services, attached=True, start=start, tune_gc=True)
    await app.run_async()
    return app.return_code or 0


def run_attached(engine: EngineAPI, services: Sequence[str] = (), *, start: bool = False) -> int:
    """`run_attached_async` on a fresh loop."""
    return asyncio.run(run_attached_async(engine, services, start=start))


__all__ = [
    "DevenvApp",
    "Options",
    "make_app",
    "run_attached",
    "run_attached_async",
    "run_tui",
]
