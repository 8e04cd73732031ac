"""`devenv start` without the terminal UI: `service | line` on stdout.

Output is written in batches (one write per event-loop turn), so a service
printing hundreds of thousands of lines is relayed at pipe speed. Colours: one
per service, none when NO_COLOR is set or stdout is not a terminal. A line per
state change: `api | -- ready`.

Ctrl-C, SIGTERM or SIGHUP stop everything, dependents first; a second Ctrl-C
kills what is left at once. The run also ends by itself once nothing is running
and nothing could start again (for a stack of one-shot tasks).

Exit status: 1 when a unit failed to start or a task crashed at the end, else 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from typing import IO

from devenv.engine.supervisor import Engine
from devenv.events import Event, LogBatch, Notice, Progress, StateChanged, UnitState

PALETTE = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
RESET = "\x1b[0m"


def use_color(stream: IO[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


class Printer:
    def __init__(self, out: IO[bytes], names: Sequence[str], color: bool) -> None:
        self.out = out
        self.width = max((len(n) for n in (*names, "devenv")), default=6)
        self.color = color
        self._prefixes: dict[str, str] = {}
        self._buffer: list[str] = []
        self._scheduled = False
        self._last: dict[str, tuple[UnitState, str]] = {}
        self._last_progress: dict[str, tuple[str, int]] = {}
        self._colors: dict[str, str] = {}
        for index, name in enumerate(names):
            self._colors[name] = PALETTE[index % len(PALETTE)]

    def prefix(self, unit: str) -> str:
        prefix = self._prefixes.get(unit)
        if prefix is None:
            label = f"{unit:<{self.width}} |"
            if self.color:
                label = f"\x1b[{self._colors.get(unit, '37')}m{label}{RESET}"
            prefix = self._prefixes[unit] = label + " "
        return prefix

    def lines(self, batch: LogBatch) -> None:
        prefix = self.prefix(batch.unit)
        self._buffer.append(prefix + ("\n" + prefix).join(batch.lines) + "\n")
        self._schedule()

    def event(self, event: Event) -> None:
        if isinstance(event, Progress):
            self.progress(event)
            return
        if isinstance(event, Notice):
            level = "" if event.level == "info" else f"{event.level}: "
            self.note(event.unit or "devenv", f"-- {level}{event.text}")
            return
        if not isinstance(event, StateChanged):
            return
        key = (event.state, event.detail if event.state in _DETAILED else "")
        if self._last.get(event.unit) == key:
            return
        self._last[event.unit] = key
        text = f"-- {event.state}"
        if event.detail and (event.state in _DETAILED or event.state != UnitState.STARTING):
            text += f": {event.detail}"
        self.note(event.unit, text)

    def progress(self, event: Progress) -> None:
        """Pulls and builds as a few lines, not one per report: a line when the
        phase changes (pulling, downloading, extracting, pulled) and every 20 %.
        Build output itself arrives as the service's log lines."""
        if event.action == "build" and not event.status.startswith(("building ", "built ")):
            return
        phase = event.status.split(" ", 1)[0].lower()
        percent = None
        if event.current is not None and event.total:
            percent = min(100, event.current * 100 // event.total)
        key = (phase, (percent or 0) // 20)
        if self._last_progress.get(event.unit) == key:
            return
        self._last_progress[event.unit] = key
        text = f"-- {event.action}: {event.status}"
        if percent is not None and event.current is not None and event.total:
            text += f" {percent}% ({_megabytes(event.current)} of {_megabytes(event.total)})"
        self.note(event.unit, text)

    def note(self, unit: str, text: str) -> None:
        self._buffer.append(self.prefix(unit) + text + "\n")
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = "".join(self._buffer).encode("utf-8", "replace")
        self._buffer.clear()
        try:
            self.out.write(data)
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


_DETAILED = frozenset({UnitState.WAITING, UnitState.FAILED, UnitState.BACKOFF})


async def run_headless(
    engine: Engine,
    services: Sequence[str],
    out: IO[bytes] | None = None,
    *,
    stay: bool = False,
    log_lines: bool = True,
) -> int:
    """Run the session until a signal (or, unless `stay`, until nothing runs any
    more). Without `log_lines`, only devenv's own lines are printed (a detached
    session's output file: the services' logs are in .devenv/logs)."""
    loop = asyncio.get_running_loop()
    stream = out or sys.stdout.buffer
    printer = Printer(stream, engine.unit_names(), use_color(sys.stdout) and out is None)
    finished = asyncio.Event()
    signals = 0
    forced: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            printer.note("devenv", "-- stopping (Ctrl-C again to kill)")
            finished.set()
        elif not forced:
            printer.note("devenv", "-- killing")
            forced.append(loop.create_task(engine.shutdown(force=True)))

    def on_event(event: Event) -> None:
        printer.event(event)
        if isinstance(event, StateChanged) and not stay and engine.settled():
            finished.set()

    engine.subscribe(on_event, lines=False)
    if log_lines:
        engine.subscribe_log_batches(printer.lines)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in handled:
        loop.add_signal_handler(sig, on_signal)
    starting = loop.create_task(engine.start(services))
    try:
        done, _ = await asyncio.wait(
            {starting, loop.create_task(finished.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if starting in done and starting.exception() is not None:
            await engine.shutdown(force=True)
            raise starting.exception()  # type: ignore[misc]
        await finished.wait()
        ended_by_itself = signals == 0
        await engine.shutdown()
        if forced:
            await asyncio.gather(*forced)
    finally:
        starting.cancel()
        for sig in handled:
            loop.remove_signal_handler(sig)
        printer.flush()
    failed = engine.failed_units()
    if failed:
        printer.note("devenv", f"-- failed to start: {', '.join(failed)}")
        printer.flush()
        return 1
    if ended_by_itself and any(u.state == UnitState.CRASHED for u in engine.units()):
        return 1
    return 0
