"""Modal screens: details of a service, help, and the quit progress."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static

from devenv.engine.api import UnitInfo
from devenv.tui.format import (
    DASH,
    STATE_STYLE,
    SecretMasker,
    mask_environment,
    resolve_style,
)

KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓  j k", "select a service"),
    ("space", "expand or collapse replicas"),
    ("enter", "focus the logs (esc: back to services)"),
    ("r", "restart the selected service"),
    ("s", "stop or start the selected service"),
    ("R", "restart all services"),
    ("a", "all services' logs, interleaved"),
    ("/", "search the logs; n / N next / previous match"),
    ("f", "filter: show only matching lines"),
    ("w", "wrap long lines"),
    ("t", "show timestamps"),
    ("c", "clear the log pane"),
    ("End", "follow the log again"),
    ("o", "open the service's port in a browser"),
    ("d", "details: command, dependencies, environment"),
    ("v", "reveal or hide secret values"),
    ("ctrl+p", "command palette: every action"),
    ("?", "this help"),
    ("q", "quit, stopping everything (q again: force)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="help-box", classes="dialog") as box:
            box.border_title = "devenv keys"
            box.border_subtitle = "esc to close"
            yield Static(table)


class DetailsScreen(ModalScreen[None]):
    """Everything about one service; refreshed by the app while it is open."""

    BINDINGS = [
        Binding("escape,d", "dismiss", "Close"),
        Binding("v", "app.reveal", "Reveal secrets"),
    ]

    def __init__(self, unit_names: Sequence[str], masker: SecretMasker | None = None) -> None:
        super().__init__()
        self.unit_names = tuple(unit_names)
        self.masker = masker

        self._pending: tuple[Sequence[UnitInfo], bool, float] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="details-box", classes="dialog") as box:
            box.border_subtitle = "esc close · v reveal secrets"
            yield Static(id="details")

    def on_mount(self) -> None:
        if self._pending is not None:
            units, reveal, now = self._pending
            self._pending = None
            self.show(units, reveal=reveal, now=now)

    def show(self, units: Sequence[UnitInfo], *, reveal: bool, now: float) -> None:
        try:
            box = self.query_one("#details-box")
        except NoMatches:  # not composed yet: on_mount shows it
            self._pending = (units, reveal, now)
            return
        by_name = {u.name: u for u in units}
        mine = [by_name[n] for n in self.unit_names if n in by_name]
        if not mine:
            return
        box.border_title = f"details · {mine[0].service}"
        self.query_one("#details", Static).update(
            details_renderable(
                mine,
                by_name,
                reveal=reveal,
                now=now,
                variables=self.app.theme_variables,
                masker=self.masker,
            )
        )


def details_renderable(
    mine: Sequence[UnitInfo],
    by_name: dict[str, UnitInfo],
    *,
    reveal: bool,
    now: float,
    variables: dict[str, str],
    masker: SecretMasker | None = None,
) -> RenderableType:
    unit = mine[0]
    by_service: dict[str, list[UnitInfo]] = {}
    for u in by_name.values():
        by_service.setdefault(u.service, []).append(u)

    def state_text(u: UnitInfo) -> Text:
        text = Text(u.state.value, style=resolve_style(STATE_STYLE[u.state], variables))
        if u.detail:
            text.append(f" \N{EM DASH} {u.detail}", style="")
        return text

    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold", no_wrap=True)
    info.add_column(overflow="fold")
    info.add_row("service", f"{unit.service} ({unit.kind})")
    for u in mine:
        label = "state" if len(mine) == 1 else f"state {u.name}"
        info.add_row(label, state_text(u))
    info.add_row("command", Text(unit.command or DASH))
    info.add_row("cwd", Text(unit.cwd or DASH))
    pids = ", ".join(str(u.pid) for u in mine if u.pid)
    info.add_row("pid", pids or DASH)
    if unit.started_at:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unit.started_at))
        info.add_row("started", started)
    info.add_row("restarts", str(sum(u.restarts for u in mine)))
    codes = [u.exit_code for u in mine if u.exit_code is not None]
    info.add_row("last exit code", ", ".join(map(str, codes)) if codes else DASH)
    failure = next(
        (u.detail for u in mine if u.detail and u.state.value in ("failed", "crashed", "backoff")),
        "",
    )
    if failure:
        info.add_row("failure", Text(failure, style=resolve_style("$text-error", variables)))
    info.add_row("ports", ", ".join(f"http://localhost:{p}" for p in unit.ports) or DASH)

    deps = Table.grid(padding=(0, 2))
    deps.add_column(style="bold")
    deps.add_column()
    for dep in unit.depends_on:
        members = by_service.get(dep, [])
        deps.add_row(dep, state_text(members[0]) if members else Text("not selected", style="dim"))
    if not unit.depends_on:
        deps.add_row(Text("none", style="dim"), "")

    env = Table.grid(padding=(0, 1))
    env.add_column(style="bold", no_wrap=True)
    env.add_column(overflow="fold")
    for name, value in mask_environment(unit.environment, reveal=reveal, masker=masker):
        env.add_row(name, Text(value))
    if not unit.environment:
        env.add_row(Text("(empty)", style="dim"), "")

    return Group(
        info,
        Text(""),
        Text("dependencies", style="bold underline"),
        deps,
        Text(""),
        Text("environment" + (" (secrets revealed)" if reveal else ""), style="bold underline"),
        env,
    )


class QuitScreen(ModalScreen[None]):
    """Shown while everything stops; `q` again forces."""

    BINDINGS = [Binding("q,ctrl+q,ctrl+c", "app.quit", "Force quit", priority=True)]

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box", classes="dialog") as box:
            box.border_title = "quitting"
            box.border_subtitle = "q again to force"
            yield Static("Stopping services…", id="quit-status")
            yield ProgressBar(total=max(1, self.total), show_eta=False, id="quit-progress")

    def show(self, stopped: int, waiting_on: Sequence[str], forced: bool = False) -> None:
        status = "Killing everything…" if forced else f"Stopping services… {stopped}/{self.total}"
        if waiting_on and not forced:
            status += f"\nwaiting on: {', '.join(waiting_on[:4])}"
        self.query_one("#quit-status", Static).update(status)
        self.query_one("#quit-progress", ProgressBar).update(progress=stopped)
