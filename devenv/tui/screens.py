"""Modal screens: details of a service, help, notices, a confirmation and the quit
progress."""

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
from devenv.events import Notice
from devenv.tui.format import (
    DASH,
    MODE_LABEL,
    STATE_STYLE,
    SecretMasker,
    build_label,
    can_switch,
    mask_environment,
    other_kind,
    resolve_style,
    single_mode_reason,
)
from devenv.tui.keys import GROUP_TITLES, Mode, help_rows


class HelpScreen(ModalScreen[None]):
    """Every key of the current mode, made from the key table (devenv.tui.keys)."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, mode: Mode = "local") -> None:
        super().__init__()
        self.mode: Mode = mode

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        group = None
        for row_group, key, what in help_rows(self.mode):
            if row_group != group:
                if group is not None:
                    table.add_row("", "")
                table.add_row(Text(GROUP_TITLES[row_group], style="bold underline"), "")
                group = row_group
            table.add_row(key, what)
        with VerticalScroll(id="help-box", classes="dialog") as box:
            box.border_title = "devenv keys" + (" · attached" if self.mode == "attached" else "")
            box.border_subtitle = "esc to close"
            yield Static(table)


class NoticesScreen(ModalScreen[None]):
    """The notices kept by the app (newest last), opened with `e`."""

    BINDINGS = [Binding("escape,e,q", "dismiss", "Close")]

    def __init__(self, notices: Sequence[Notice]) -> None:
        super().__init__()
        self.notices = tuple(notices)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="notices-box", classes="dialog") as box:
            box.border_title = f"notices ({len(self.notices)})"
            box.border_subtitle = "esc to close"
            yield Static(notices_renderable(self.notices, self.app.theme_variables), id="notices")

    def on_mount(self) -> None:
        self.query_one("#notices-box").scroll_end(animate=False)


def notices_renderable(notices: Sequence[Notice], variables: dict[str, str]) -> RenderableType:
    if not notices:
        return Text("Nothing yet: warnings and errors from devenv show here.", style="dim")
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    styles = {"info": "dim", "warning": "$text-warning", "error": "bold $text-error"}
    for notice in notices:
        stamp = time.strftime("%H:%M:%S", time.localtime(notice.ts))
        text = Text()
        if notice.unit:
            text.append(f"{notice.unit}: ", style="bold")
        text.append(notice.text)
        table.add_row(
            stamp, Text(notice.level, style=resolve_style(styles[notice.level], variables)), text
        )
    return table


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; only `y` (or enter on the highlighted answer) says yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape,q", "answer(False)", "No"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog") as box:
            box.border_title = self.title_text
            box.border_subtitle = "y yes · n no"
            yield Static(self.question, id="confirm-question")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


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
    info.add_row("service", unit.service)
    info.add_row("mode", mode_text(unit, variables))
    if all(u.replica == 0 for u in mine):
        info.add_row("replicas", Text("0: scaled to zero, no instance runs", style="dim"))
    for u in mine:
        label = "state" if len(mine) == 1 else f"state {u.name}"
        info.add_row(label, state_text(u))
    builds = [(u, u.build) for u in mine if u.build]
    for u, build in builds:
        label = "build" if len(mine) == 1 else f"build {u.name}"
        marker = build_label(build)
        style = resolve_style(marker[1], variables) if marker else ""
        serving = " (the running instance keeps serving)" if u.state.is_active else ""
        info.add_row(label, Text(build + serving, style=style))
    info.add_row("command", Text(unit.command or DASH))
    info.add_row("cwd", Text(unit.cwd or DASH))
    pids = ", ".join(str(u.pid) for u in mine if u.pid)
    info.add_row("pid", pids or DASH)
    if unit.started_at:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unit.started_at))
        info.add_row("started", started)
    info.add_row("restarts", f"{sum(u.restarts for u in mine)} after crashes")
    info.add_row("reloads", f"{sum(u.reloads for u in mine)} (file changes, restart commands)")
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

    parts: list[RenderableType] = [
        info,
        Text(""),
        Text("dependencies", style="bold underline"),
        deps,
        Text(""),
        Text("environment" + (" (secrets revealed)" if reveal else ""), style="bold underline"),
        env,
    ]
    if unit.rewrites:
        parts += [
            Text(""),
            Text(
                f"addresses rewritten for {MODE_LABEL[unit.kind]} mode",
                style="bold underline",
            ),
            rewrites_table(unit, reveal=reveal, masker=masker),
        ]
    return Group(*parts)


def mode_text(unit: UnitInfo, variables: dict[str, str]) -> Text:
    """How the service runs now, and whether `m` can change it."""
    text = Text()
    text.append("local process" if unit.kind == "process" else "container", style="bold")
    other = other_kind(unit)
    if can_switch(unit) and other is not None:
        text.append(f" · can run as {MODE_LABEL[other]} too: m switches", style="dim")
    elif unit.modes:
        text.append(f" · {single_mode_reason(unit).split(': ', 1)[0]}", style="dim")
    return text


def rewrites_table(unit: UnitInfo, *, reveal: bool, masker: SecretMasker | None) -> Table:
    """`VAR: before → after`, masked like the environment (a DSN carries a password)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for rewrite in unit.rewrites:
        (_, before), (_, after) = mask_environment(
            ((rewrite.variable, rewrite.before), (rewrite.variable, rewrite.after)),
            reveal=reveal,
            masker=masker,
        )
        line = Text(before)
        line.append(" → ", style="bold")
        line.append(after)
        line.append(f"  ({rewrite.target})", style="dim")
        table.add_row(rewrite.variable, line)
    return table


class QuitScreen(ModalScreen[None]):
    """Shown while everything stops. In-process, `q` again forces. Attached, `Q`
    again forces and `q` detaches, leaving the session to finish stopping."""

    # Both modes' keys; the app refuses the other mode's actions (check_action).
    BINDINGS = [
        Binding("q,ctrl+q,ctrl+c", "app.quit", "Force quit", priority=True),
        Binding("Q", "app.stop_session", "Force stop", priority=True),
        Binding("q,ctrl+q,ctrl+c", "app.detach", "Detach", priority=True),
    ]

    def __init__(self, total: int, mode: Mode = "local") -> None:
        super().__init__()
        self.total = total
        self.mode: Mode = mode

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box", classes="dialog") as box:
            if self.mode == "attached":
                box.border_title = "stopping the session"
                box.border_subtitle = "Q again to force · q detach"
            else:
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
