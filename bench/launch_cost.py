"""What a cgroup per unit costs a launch: start -> exit -> cleaned up, per mode.

A local unit (`devenv.runtime.process.ProcessUnit`, as the engine drives it)
runs `/bin/true` N times with `DEVENV_CGROUP` set to `off` (process group and
markers only), `v2` and `v1` (where this machine has them), interleaved so
that load hits every mode alike. Each launch is timed from `start()` to the
end of `wait_exit()` (the process has exited, its pipes are closed, its
processes are swept and its cgroup removed). Beside them, the bare cost of the
wrapper: spawning `/bin/true` with asyncio, as is and through the
`/bin/sh -c 'echo $$ > cgroup.procs; exec "$@"'` wrapper. Also timed: finding the cgroup
backend, done once per devenv process (it moves a `/bin/sh` into a probe
cgroup to check that it works).

This imports devenv (the runtime only): it measures one function's cost, not
devenv from the outside.

    python bench/launch_cost.py [--launches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import load_average, percentile, table, workdir, write_results


async def launches(project: Path, mode: str, count: int) -> list[float]:
    from devenv.config.model import LocalProcess, Origin, Service, Stack, frozen_map
    from devenv.runtime.base import UnitContext
    from devenv.runtime.process import ProcessUnit

    os.environ["DEVENV_CGROUP"] = mode
    local = LocalProcess(run="/bin/true", cwd=project)
    service = Service(name="t", origin=Origin(project / "compose.yaml"), local=local)
    stack = Stack(
        name="bench",
        project_dir=project,
        files=(project / "compose.yaml",),
        services=frozen_map({"t": service}),
        variables=frozen_map({}),
    )
    ctx = UnitContext(
        stack=stack,
        on_log=lambda *a: None,
        on_progress=lambda p: None,
        state_dir=project / ".devenv",
        run_id=f"bench{os.getpid()}",
    )
    unit = ProcessUnit(service, 1, ctx)
    times = []
    for _ in range(count):
        began = time.perf_counter()
        await unit.start()
        await unit.wait_exit()
        times.append((time.perf_counter() - began) * 1000)
    return times


async def spawns(argv: list[str], count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*argv)
        await proc.wait()
        times.append((time.perf_counter() - began) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=200)
    args = parser.parse_args()
    from devenv.runtime import cgroups

    load_before = load_average()
    detect = {}
    for kind in ("v2", "v1"):
        began = time.perf_counter()
        found = cgroups.backend_for(kind)
        detect[kind] = ((time.perf_counter() - began) * 1000, found)
    modes = ["off"] + [kind for kind, (_, found) in detect.items() if found is not None]
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    with workdir("launch") as project:
        (project / "compose.yaml").write_text("services: {}\n")
        rounds = 10
        raw = {"spawn /bin/true": ["/bin/true"]}
        found = detect["v2"][1] or detect["v1"][1]
        if found is not None:
            group = cgroups.RunCgroups(found, f"bench{os.getpid()}").unit("raw", 1)
            assert group is not None
            # the join as a wrapper before the exec: what launches cost when the
            # move into the cgroup was on their path (it is beside it now)
            join = 'echo $$ > "$0" 2>/dev/null; exec "$@"'
            raw["spawn /bin/true, joining first"] = [
                "/bin/sh",
                "-c",
                join,
                str(group.procs_file),
                "/bin/true",
            ]
        for name in raw:
            results[name] = []
        for _ in range(rounds):
            for mode in modes:
                results[mode] += asyncio.run(launches(project, mode, args.launches // rounds))
            for name, argv in raw.items():
                results[name] += asyncio.run(spawns(argv, args.launches // rounds))
        if found is not None:
            group.remove()
        modes += list(raw)
    rows = []
    for mode in modes:
        base = results["spawn /bin/true" if mode.startswith("spawn") else "off"]
        p50 = percentile(results[mode], 0.5)
        rows.append([mode, p50, percentile(results[mode], 0.9), p50 - percentile(base, 0.5)])
    print(table(["launch", "p50 ms", "p90 ms", "p50 - its baseline ms"], rows))
    for kind, (ms, found) in detect.items():
        print(f"finding the {kind} backend (once per process): {ms:.1f} ms -> {found}")
    print(f"load average before: {load_before}, after: {load_average()}")
    path = write_results(
        "launch_cost",
        {
            "load_before": load_before,
            "launches": args.launches,
            "p50_ms": {m: percentile(results[m], 0.5) for m in modes},
            "p90_ms": {m: percentile(results[m], 0.9) for m in modes},
            "detect_ms": {k: v[0] for k, v in detect.items()},
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
