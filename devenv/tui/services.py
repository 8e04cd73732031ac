"""The services pane: one DataTable row per service, replicas grouped and expandable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from devenv.engine.api import UnitInfo
from devenv.events import UnitState
from devenv.tui.format import (
    DASH,
    MODE_LABEL,
    STATE_STYLE,
    build_label,
    can_switch,
    duration,
    percent,
    resolve_style,
    size,
    state_glyph,
)

GROUP_PREFIX = "service:"

# Column id, header, minimum terminal width at which it shows.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "service", 0),
    ("mode", "mode", 96),
    ("state", "state", 0),
    ("health", "health", 110),
    ("ports", "ports", 0),
    ("uptime", "uptime", 60),
    ("restarts", "crashes", 70),
    ("reloads", "reloads", 120),
    ("cpu", "cpu", 76),
    ("mem", "mem", 76),
)
SCALED_TO_ZERO = "scaled to zero"

# Order in which a group's units decide its shown state: the first one present wins,
# so a group reads "crashed" when one replica crashed, "ready" only when all are.
STATE_PRIORITY = (
    UnitState.FAILED,
    UnitState.CRASHED,
    UnitState.BACKOFF,
    UnitState.UNHEALTHY,
    UnitState.STOPPING,
    UnitState.STARTING,
    UnitState.BUILDING,
    UnitState.PULLING,
    UnitState.WAITING,
    UnitState.PENDING,
    UnitState.READY,
    UnitState.COMPLETED,
    UnitState.STOPPED,
)


@dataclass(frozen=True)
class RowModel:
    key: str
    service: str
    units: tuple[UnitInfo, ...]
    is_group: bool = False
    is_child: bool = False

    @property
    def unit(self) -> UnitInfo:
        return self.units[0]

    @property
    def state(self) -> UnitState:
        states = {u.state for u in self.units}
        return next(s for s in STATE_PRIORITY if s in states)

    @property
    def scaled_to_zero(self) -> bool:
        """The service runs no instance (`replicas: 0`): the engine sends one unit
        with replica 0 so it still has a row."""
        return all(u.replica == 0 for u in self.units)


def build_rows(units: Sequence[UnitInfo], expanded: set[str]) -> list[RowModel]:
    by_service: dict[str, list[UnitInfo]] = {}
    for unit in units:
        by_service.setdefault(unit.service, []).append(unit)
    rows: list[RowModel] = []
    for service, members in by_service.items():
        if len(members) == 1:
            rows.append(RowModel(members[0].name, service, (members[0],)))
            continue
        rows.append(RowModel(GROUP_PREFIX + service, service, tuple(members), is_group=True))
        if service in expanded:
            rows.extend(RowModel(u.name, service, (u,), is_child=True) for u in members)
    return rows


def _same(a: Text, b: Text) -> bool:
    # Text's == ignores the base style, and a theme change only changes that.
    return a.plain == b.plain and a.style == b.style and a.spans == b.spans


class ServicesTable(DataTable[Text]):
    """Rows are diffed against what is shown: unchanged cells are not touched."""

    DEFAULT_CSS = """
    ServicesTable {
        height: auto;
        max-height: 45%;
        scrollbar-size-vertical: 1;
    }
    """

    class PortClicked(Message):
        def __init__(self, row_key: str) -> None:
            super().__init__()
            self.row_key = row_key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable"
        )
        self.rows_model: list[RowModel] = []
        self.expanded: set[str] = set()
        self.spinner_frame: int | None = None
        self.now = 0.0
        self.show_detail = False
        self._columns: tuple[str, ...] = ()
        self._shown: dict[str, tuple[Text, ...]] = {}
        self._units: Sequence[UnitInfo] = ()

    # ---- public --------------------------------------------------------------

    def show_units(self, units: Sequence[UnitInfo], now: float) -> None:
        self._units = units
        self.now = now
        self._redraw()

    def tick(self, now: float) -> None:
        """Advance the clock: only uptime cells are recomputed, and only changed
        ones touch the table (any update re-renders every visible row)."""
        self.now = now
        if "uptime" not in self._columns:
            return
        index = self._columns.index("uptime")
        variables = self.app.theme_variables
        for row in self.rows_model:
            old = self._shown.get(row.key)
            cell = self._cell("uptime", row, variables)
            if old is not None and not _same(old[index], cell):
                self.update_cell(row.key, "uptime", cell, update_width=True)
                self._shown[row.key] = (*old[:index], cell, *old[index + 1 :])

    def toggle_expanded(self, service: str) -> None:
        self.expanded ^= {service}
        self._redraw()

    def set_width(self, width: int) -> None:
        columns = tuple(cid for cid, _, minimum in COLUMNS if width >= minimum)
        show_detail = width >= 140
        if columns != self._columns or show_detail != self.show_detail:
            self._columns = columns
            self.show_detail = show_detail
            self._redraw(force=True)

    def on_resize(self) -> None:
        # The table spans the terminal, so its width decides which columns fit.
        self.set_width(self.app.size.width)

    @property
    def selected(self) -> RowModel | None:
        if not self.rows_model or self.cursor_row < 0:
            return None
        return self.rows_model[min(self.cursor_row, len(self.rows_model) - 1)]

    def select_key(self, key: str) -> None:
        for index, row in enumerate(self.rows_model):
            if row.key == key:
                self.move_cursor(row=index, animate=False)
                return

    # ---- drawing -------------------------------------------------------------

    def _redraw(self, force: bool = False) -> None:
        if not self._columns:
            self._columns = tuple(cid for cid, _, minimum in COLUMNS if minimum == 0)
        rows = build_rows(self._units, self.expanded)
        keys = [r.key for r in rows]
        selected = self.selected.key if self.selected else None
        self.rows_model = rows
        if (
            force
            or keys != [r.key.value for r in self.ordered_rows]
            or len(self.columns) != len(self._columns)
        ):
            self.clear(columns=True)
            headers = dict((cid, label) for cid, label, _ in COLUMNS)
            for cid in self._columns:
                self.add_column(headers[cid], key=cid)
            self._shown = {}
            for row in rows:
                cells = self._cells(row)
                self._shown[row.key] = cells
                self.add_row(*cells, key=row.key)
            if selected is not None:
                self.select_key(selected)
            return
        for row in rows:
            cells = self._cells(row)
            old = self._shown.get(row.key)
            if old is not None and list(map(_same, old, cells)) == [True] * len(cells):
                continue
            for index, cid in enumerate(self._columns):
                if old is None or not _same(old[index], cells[index]):
                    self.update_cell(row.key, cid, cells[index], update_width=True)
            self._shown[row.key] = cells

    def _cells(self, row: RowModel) -> tuple[Text, ...]:
        variables = self.app.theme_variables
        return tuple(self._cell(cid, row, variables) for cid in self._columns)

    def _cell(self, cid: str, row: RowModel, variables: dict[str, str]) -> Text:
        units = row.units
        unit = row.unit
        if cid == "name":
            if row.is_group:
                arrow = "▾" if row.service in self.expanded else "▸"
                return Text(
                    f"{arrow} {row.service} \N{MULTIPLICATION SIGN}{len(units)}", style="bold"
                )
            if row.is_child:
                return Text(f"  └ {unit.name}")
            return Text(unit.name, style="bold")
        if cid == "mode":
            text = Text(MODE_LABEL[unit.kind], style="dim")
            if can_switch(unit):
                text.append(" ⇄", style="dim")
            return text
        if row.scaled_to_zero:
            if cid == "state":
                return Text(f"{state_glyph(UnitState.STOPPED, None)} {SCALED_TO_ZERO}", style="dim")
            return Text(DASH, style="dim", justify="right" if cid in ("cpu", "mem") else "left")
        if cid == "state":
            state = row.state
            style = resolve_style(STATE_STYLE[state], variables)
            label = state.value
            if row.is_group:
                ready = sum(1 for u in units if u.state in (UnitState.READY, UnitState.COMPLETED))
                label = f"{label} {ready}/{len(units)}"
            text = Text(f"{state_glyph(state, self.spinner_frame)} {label}", style=style)
            build = next((b for u in units if (b := build_label(u.build))), None)
            if build is not None:
                text.append(f" · {build[0]}", style=resolve_style(build[1], variables))
            detail = next((u.detail for u in units if u.detail), "") or (build[2] if build else "")
            if self.show_detail and detail:
                text.append(f"  {detail[:32]}", style="dim")
            return text
        if cid == "health":
            healths = {u.health for u in units if u.health}
            health = "unhealthy" if "unhealthy" in healths else (healths.pop() if healths else "")
            colour = {"healthy": "$text-success", "unhealthy": "$text-error"}.get(health, "dim")
            return Text(health or DASH, style=resolve_style(colour, variables))
        if cid == "ports":
            ports = sorted({p for u in units for p in u.ports})
            text = Text()
            for i, port in enumerate(ports[:3]):
                if i:
                    text.append(" ")
                text.append(
                    str(port),
                    style=Style(underline=True, link=f"http://localhost:{port}"),
                )
            if len(ports) > 3:
                text.append(" …")
            return text if ports else Text(DASH, style="dim")
        if cid == "uptime":
            starts = [u.started_at for u in units if u.started_at and u.state.is_active]
            return Text(
                duration(self.now - min(starts)) if starts else DASH,
                style="dim" if not starts else "",
            )
        if cid == "restarts":  # after crashes
            total = sum(u.restarts for u in units)
            return Text(
                str(total), style=resolve_style("$text-warning", variables) if total else "dim"
            )
        if cid == "reloads":  # file changes and restart commands: expected, so quiet
            return Text(str(sum(u.reloads for u in units)), style="dim")
        if cid == "cpu":
            cpus = [u.cpu_percent for u in units if u.cpu_percent is not None]
            return Text(percent(sum(cpus) if cpus else None), justify="right")
        if cid == "mem":
            mems = [u.memory_bytes for u in units if u.memory_bytes is not None]
            return Text(size(sum(mems) if mems else None), justify="right")
        raise KeyError(cid)  # pragma: no cover

    # ---- mouse ---------------------------------------------------------------

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        await super()._on_click(event)
        row, column = meta.get("row"), meta.get("column")
        if row is None or column is None or row < 0 or not (0 <= column < len(self._columns)):
            return
        if self._columns[column] == "ports" and row < len(self.rows_model):
            self.post_message(self.PortClicked(self.rows_model[row].key))
        elif self._columns[column] == "name" and self.rows_model[row].is_group:
            self.toggle_expanded(self.rows_model[row].service)
