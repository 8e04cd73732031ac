"""The log pane on its own: a small app that mounts it and feeds it batches, with
a list of records for history. No engine: the pane subscribes to nothing."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from devenv.engine.api import UnitInfo
from devenv.events import LogBatch, LogRecord, UnitState
from devenv.tui.format import MASK, SecretMasker
from devenv.tui.logpane import LogPane, LogsArrived, LogSource
from tests.functional.conftest import wait_for

UNITS = [
    UnitInfo("api", "api", "process", UnitState.READY),
    UnitInfo("worker-1", "worker", "process", UnitState.READY, replica=1),
    UnitInfo("worker-2", "worker", "process", UnitState.READY, replica=2),
]


class History:
    """A LogReader over a list, recording what was read."""

    def __init__(self, records: list[LogRecord]) -> None:
        self.records = records
        self.reads: list[str | None] = []

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]:
        self.reads.append(unit)
        return [r for r in self.records if unit is None or r.unit == unit]


class PaneApp(App[None]):
    def __init__(self, reader: History, **options: object) -> None:
        super().__init__()
        self.pane = LogPane(reader, cursor_blink=False, **options)

    def compose(self) -> ComposeResult:
        yield self.pane

    def on_mount(self) -> None:
        self.pane.set_units(UNITS)
        self.pane.reload()


def history() -> History:
    return History(
        [
            LogRecord("api", "stdout", "api one", ts=1.0),
            LogRecord("worker-1", "stdout", "w1 one", ts=2.0),
            LogRecord("worker-2", "stdout", "w2 one", ts=3.0),
            LogRecord("api", "stdout", "api two", ts=4.0),
        ]
    )


def batch(unit: str, *lines: str, ts: float = 10.0) -> LogBatch:
    service = unit.split("-")[0]
    return LogBatch(unit, service, "stdout", ts, list(lines))


async def test_source_reads_history_and_keeps_only_its_lines() -> None:
    reader = history()
    messages: list[Message] = []
    app = PaneApp(reader, frame_interval=0)
    async with app.run_test(message_hook=messages.append) as pilot:
        pane = app.pane
        assert pane.view.displayed_texts() == ["api one", "w1 one", "w2 one", "api two"]
        pane.show(LogSource(service="worker"))
        await pilot.pause()
        # A replica group reads only its own units' buffers, merged by time.
        assert reader.reads[-2:] == ["worker-1", "worker-2"]
        assert pane.view.displayed_texts() == ["w1 one", "w2 one"]
        changes = {id(m): m for m in messages if isinstance(m, LogPane.SourceChanged)}
        assert [m.source for m in changes.values()] == [LogSource(service="worker")]
        pane.feed(batch("api", "not for workers"))
        pane.feed(batch("worker-2", "w2 live"))
        await wait_for(pilot, lambda: "w2 live" in pane.view.displayed_texts())
        assert "not for workers" not in pane.view.displayed_texts()
        assert "worker (all replicas)" in pane.title
        reads = len(reader.reads)
        pane.show(LogSource(service="worker"))  # the same source: nothing is read again
        assert len(reader.reads) == reads


async def test_lines_are_drawn_once_per_frame_and_bounded_while_waiting() -> None:
    messages: list[Message] = []
    app = PaneApp(history(), frame_interval=0.2, max_lines=1000)
    async with app.run_test(message_hook=messages.append) as pilot:
        pane = app.pane
        await pilot.pause(0.25)  # past the first frame
        messages.clear()
        for i in range(300):
            pane.feed(batch("api", *(f"line {i}-{j}" for j in range(10))))
        # 3000 lines wait for the next frame; only the newest 1000 are kept.
        await wait_for(pilot, lambda: pane.view.displayed_texts()[-1:] == ["line 299-9"])
        assert sum(isinstance(m, LogsArrived) for m in messages) == 1
        assert pane.view.line_count <= 1000 + 4
        assert "line 0-0" not in pane.view.displayed_texts()


async def test_clear_is_remembered_per_source() -> None:
    app = PaneApp(history(), frame_interval=0)
    async with app.run_test() as pilot:
        pane = app.pane
        pane.show(LogSource(unit="api"))
        pane.clear()
        assert pane.view.displayed_texts() == []
        pane.show(LogSource())
        assert len(pane.view.displayed_texts()) == 4  # other sources keep their lines
        pane.show(LogSource(unit="api"))
        assert pane.view.displayed_texts() == []  # not brought back from history
        pane.feed(batch("api", "after clear"))
        await wait_for(pilot, lambda: pane.view.displayed_texts() == ["after clear"])


async def test_title_carries_every_flag() -> None:
    app = PaneApp(history(), frame_interval=0)
    async with app.run_test() as pilot:
        pane = app.pane
        assert pane.title == "[b]logs[/b] · all services"
        pane.toggle_wrap()
        pane.toggle_timestamps()
        pane.set_secrets(SecretMasker(["api one"]), reveal=True)
        pane.open_prompt("filter")
        await pilot.press(*"one", "enter")
        pane.open_prompt("search")
        await pilot.press(*"w1", "enter")
        assert pane.title == (
            "[b]logs[/b] · all services · filter [b]one[/b] · search [b]w1[/b]"
            " · wrap, timestamps, secrets shown"
        )
        assert pane.back()  # esc clears the search
        assert "search" not in pane.title
        assert not pane.back()  # nothing left to undo: the app moves focus instead


async def test_masking_follows_reveal() -> None:
    app = PaneApp(history(), frame_interval=0)
    async with app.run_test():
        pane = app.pane
        pane.set_secrets(SecretMasker(["two"]), reveal=False)
        assert f"api {MASK}" in pane.view.displayed_texts()
        pane.set_secrets(SecretMasker(["two"]), reveal=True)
        assert "api two" in pane.view.displayed_texts()


async def test_status_counts_new_lines_while_scrolled_up() -> None:
    reader = History([LogRecord("api", "stdout", f"old {i}", ts=i) for i in range(50)])
    app = PaneApp(reader, frame_interval=0)
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.pane
        pane.view.focus()
        await pilot.pause()
        assert pane.view.max_scroll_y > 0
        await pilot.press("pageup")
        await wait_for(pilot, lambda: not pane.view.follow)
        pane.feed(batch("api", "new 1", "new 2", "new 3"))
        await wait_for(pilot, lambda: "3 new lines" in _status(pilot))
        await pilot.press("end")
        await wait_for(pilot, lambda: "following" in _status(pilot))


def _status(pilot: Pilot[None]) -> str:
    return str(pilot.app.query_one("#logs-status").render())


async def test_growing_log_gets_its_scrollbar_without_reflowing_the_screen() -> None:
    """New lines change the view's virtual size; that must update the scrollbar
    (and follow), but not reflow the whole screen on every frame, and a new title
    (the `t` key) must not either: under a flood both cost a full layout each."""
    app = PaneApp(History([LogRecord("api", "stdout", "one", ts=1.0)]), frame_interval=0)
    async with app.run_test(size=(80, 12)) as pilot:
        pane = app.pane
        await pilot.pause()
        assert not pane.view.show_vertical_scrollbar
        reflows = 0
        original = app.screen._refresh_layout

        def counting(*args: object, **kw: object) -> None:
            nonlocal reflows
            reflows += 1
            original(*args, **kw)  # type: ignore[arg-type]

        app.screen._refresh_layout = counting  # type: ignore[method-assign]
        for i in range(40):  # the scrollbar appears: one reflow, for it
            pane.feed(batch("api", *(f"line {i}-{j}" for j in range(5))))
            await pilot.pause()
        assert pane.view.show_vertical_scrollbar
        assert pane.view.follow and pane.view.scroll_y == pane.view.max_scroll_y > 0
        assert pane.view.displayed_texts()[-1] == "line 39-4"
        before = reflows
        for i in range(20):
            pane.feed(batch("api", f"more {i}"))
            pane.toggle_timestamps()
            await pilot.pause()
        assert reflows == before, "new lines or a new title reflowed the screen"
        assert pane.view.scroll_y == pane.view.max_scroll_y
