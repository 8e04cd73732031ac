"""CPU and memory of a container from the Docker stats API.

A one-shot stats call answers in milliseconds but carries no previous sample
(the streaming form waits a second for one), so the meter keeps the previous
counters itself and computes CPU from the difference, as `docker stats` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UsageMeter:
    def __init__(self) -> None:
        self._previous: tuple[int, int] | None = None  # (container ns, system ns)

    def update(self, raw: Mapping[str, Any]) -> tuple[float, int] | None:
        """(CPU % of one core since the last update, memory bytes); None until two
        samples exist or when the stats carry no counters (a stopped container)."""
        cpu = raw.get("cpu_stats") or {}
        total = (cpu.get("cpu_usage") or {}).get("total_usage")
        system = cpu.get("system_cpu_usage")
        if not isinstance(total, int) or not isinstance(system, int):
            return None
        previous, self._previous = self._previous, (total, system)
        if previous is None or system <= previous[1]:
            return None
        cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
        percent = (total - previous[0]) / (system - previous[1]) * max(int(cpus), 1) * 100.0
        return max(percent, 0.0), memory_in_use(raw.get("memory_stats") or {})


def memory_in_use(memory: Mapping[str, Any]) -> int:
    """Usage less the reclaimable page cache, as `docker stats` shows it."""
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return max(usage - int(cache or 0), 0)
