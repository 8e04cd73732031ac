"""CPU and memory of running units, sampled while a front end asks for them."""

from __future__ import annotations

import asyncio
import contextlib

from devenv.engine.core import EngineCore
from devenv.events import Stats

STATS_RESCAN_EVERY = 5  # samples between scans for new child processes


class StatsSampling(EngineCore):
    """A part of `Engine`: runs only while `request_stats(True)` holds."""

    async def _sample_stats(self) -> None:
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
            await self._sample_containers()
            for rec in self._recs.values():
                if rec.pid is None or rec.service.kind != "process":
                    continue
                live.add(rec.pid)
                try:
                    family = families.get(rec.pid)
                    if family is None or rescan:
                        leader = family[0] if family else psutil.Process(rec.pid)
                        known = {p.pid: p for p in family or ()}
                        family = [leader] + [
                            known.get(child.pid, child) for child in leader.children(recursive=True)
                        ]
                        families[rec.pid] = family
                    cpu = memory = 0.0
                    for proc in family:
                        with contextlib.suppress(psutil.Error):  # a child may be gone
                            cpu += proc.cpu_percent(None)
                            memory += proc.memory_info().rss
                except psutil.Error:
                    families.pop(rec.pid, None)
                    continue
                rec.cpu, rec.memory = cpu, int(memory)
                self._emit(Stats(rec.name, rec.service.name, cpu, int(memory)))
            for pid in set(families) - live:
                del families[pid]
            await asyncio.sleep(self.options.stats_interval)

    async def _sample_containers(self) -> None:
        """Units without a pid of their own (containers) measure themselves."""
        recs = [r for r in self._recs.values() if r.unit is not None and r.pid is None]
        if not recs:
            return
        samples = await asyncio.gather(*(r.unit.sample_usage() for r in recs if r.unit))
        for rec, usage in zip(recs, samples, strict=True):
            if usage is None:
                continue
            rec.cpu, rec.memory = usage
            self._emit(Stats(rec.name, rec.service.name, *usage))
