"""The arithmetic behind container CPU and memory (the Docker stats API's
counters, as `docker stats` turns them into percentages)."""

from __future__ import annotations

from typing import Any

from devenv.runtime.docker_stats import UsageMeter, memory_in_use


def sample(container_ns: int, system_ns: int, cpus: int = 2, usage: int = 0) -> dict[str, Any]:
    return {
        "cpu_stats": {
            "cpu_usage": {"total_usage": container_ns},
            "system_cpu_usage": system_ns,
            "online_cpus": cpus,
        },
        "memory_stats": {"usage": usage, "stats": {"inactive_file": 1000}},
    }


def test_cpu_is_the_share_of_system_time_since_the_previous_sample() -> None:
    meter = UsageMeter()
    assert meter.update(sample(0, 0)) is None
    # 2 CPUs: the system counter advanced 2 s of CPU time per wall second; the
    # container used 0.5 s of it: half a core, 50 %.
    assert meter.update(sample(500_000_000, 2_000_000_000, usage=5000)) == (50.0, 4000)


def test_a_stopped_container_has_no_counters() -> None:
    assert UsageMeter().update({"cpu_stats": {}, "memory_stats": {}}) is None


def test_memory_leaves_out_reclaimable_cache_for_cgroup_v1_and_v2() -> None:
    assert memory_in_use({"usage": 5000, "stats": {"total_inactive_file": 1500}}) == 3500
    assert memory_in_use({"usage": 5000, "stats": {"inactive_file": 500}}) == 4500
    assert memory_in_use({}) == 0
