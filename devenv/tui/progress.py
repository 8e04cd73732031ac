"""A pull/build progress bar for one unit, shown above the services while it lasts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from devenv.events import Progress


class ProgressRow(Horizontal):
    DEFAULT_CSS = """
    ProgressRow { height: 1; }
    ProgressRow .progress-label { width: 24; }
    ProgressRow ProgressBar { width: 30; }
    ProgressRow .progress-status { padding-left: 1; color: $text-muted; }
    """

    def __init__(self, event: Progress) -> None:
        super().__init__(name=event.unit, classes="progress-row")
        self.event = event

    def compose(self) -> ComposeResult:
        yield Label(self._label(), classes="progress-label")
        yield ProgressBar(total=self.event.total, show_eta=False)
        yield Label(self.event.status, classes="progress-status")

    def on_mount(self) -> None:
        self.show(self.event)

    def _label(self) -> str:
        return f"{self.event.action} {self.event.unit}"

    def show(self, event: Progress) -> None:
        self.event = event
        if not self.children:
            return  # on_mount shows the latest event
        self.query_one(".progress-label", Label).update(self._label())
        self.query_one(ProgressBar).update(total=event.total, progress=event.current or 0)
        self.query_one(".progress-status", Label).update(event.status)
