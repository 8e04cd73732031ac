"""CPU and memory of running units, sampled while a front end asks for them.

The sampler owns its figures: it reads which units run (and their pids) from
the runners, measures, keeps the last sample of each running unit and emits
`Stats`. A unit that stops loses its figures at once, so nothing stale shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from devenv.events import Stats

STATS_RESCAN_EVERY = 5  # samples between scans for new child processes


class Sampled(Protocol):
    """What the sampler reads of a runner."""

    @property
    def kind(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def measurable(self) -> Any:
        """The running unit when it can be measured (None when not running)."""
        ...


class StatsSampler:
    def __init__(
        self,
        units: Callable[[], Iterable[tuple[str, str, Sampled]]],  # (unit, service, runner)
        emit: Callable[[Stats], None],
        interval: float,
    ) -> None:
        self._units = units  # (unit name, service name, runner)
        self._emit = emit
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._last: dict[str, tuple[float, int]] = {}

    def usage(self, unit: str) -> tuple[float, int] | None:
        return self._last.get(unit)

    def forget(self, unit: str) -> None:
        self._last.pop(unit, None)

    def enable(self, on: bool) -> None:
        if on and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="stats")
        elif not on and self._task is not None:
            self._task.cancel()
            self._task = None

    def stop(self) -> None:
        self.enable(False)

    async def _run(self) -> None:
        import psutil

        # Reading a known pid's /proc files is cheap; finding its descendants is a
        # scan of all of /proc. So families are cached and rescanned only every
        # few samples (or when a unit's pid changes), which keeps sampling ten
        # idle services far below a percent of a core.
        families: dict[int, list[psutil.Process]] = {}
        samples = 0
        while True:
            rescan = samples % STATS_RESCAN_EVERY == 0
            samples += 1
            live: set[int] = set()
            running: set[str] = set()
            containers = []
            for name, service, runner in self._units():
                unit = runner.measurable
                if unit is None:
                    continue
                running.add(name)
                pid = runner.pid
                if runner.kind != "process" or pid is None:
                    containers.append((name, service, unit))
                    continue
                live.add(pid)
                try:
                    family = families.get(pid)
                    if family is None or rescan:
                        leader = family[0] if family else psutil.Process(pid)
                        known = {p.pid: p for p in family or ()}
                        family = [leader] + [
                            known.get(child.pid, child) for child in leader.children(recursive=True)
                        ]
                        families[pid] = family
                    cpu = memory = 0.0
                    for proc in family:
                        with contextlib.suppress(psutil.Error):  # a child may be gone
                            cpu += proc.cpu_percent(None)
                            memory += proc.memory_info().rss
                except psutil.Error:
                    families.pop(pid, None)
                    continue
                self._record(name, service, cpu, int(memory))
            if containers:
                results = await asyncio.gather(*(unit.sample_usage() for _, _, unit in containers))
                for (name, service, _), usage in zip(containers, results, strict=True):
                    if usage is not None:
                        self._record(name, service, *usage)
            for pid in set(families) - live:
                del families[pid]
            for name in set(self._last) - running:
                del self._last[name]
            await asyncio.sleep(self._interval)

    def _record(self, name: str, service: str, cpu: float, memory: int) -> None:
        self._last[name] = (cpu, memory)
        self._emit(Stats(name, service, cpu, memory))
