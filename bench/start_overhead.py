"""Start overhead: a 20-service dependency graph, devenv's time to all-ready vs its
critical path.

Each service is a local process that sleeps a known time, prints `ready` and
stays up (`sh -c 'sleep D; echo ready; exec sleep 1000000'`), with a log
readiness probe (`ready: {log: "^ready$"}`); every `depends_on` edge waits for
`service_healthy`. The graph has two roots, fan-out, fan-in and chains six deep
(see GRAPH). The critical path is the longest sum of sleeps along a dependency
chain: no supervisor can be all-ready sooner.

Measured side by side, interleaved, in the same run:

- ideal: a minimal event-driven supervisor (asyncio, in this script) that starts a
  process the moment the `ready` lines of its dependencies arrive: the floor,
  including the real cost of spawning `sh` and `sleep` on this machine;
- devenv: `python -m devenv start --no-tui`, with the probe's default interval
  (100 ms), timed from its first `-- starting` line to its last `-- ready`
  line (and from the CLI launch, which adds Python start-up and config load);
- devenv, fast probe: the same with `interval: 5ms` on every probe, which
  separates the cost of polling the probe from the cost of scheduling.

Target: devenv's overhead (all-ready minus critical path) < 100 ms.

    python bench/start_overhead.py [--repeat 3] [--alt-src OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import (
    DEVENV,
    Group,
    env_for_devenv,
    load_average,
    table,
    workdir,
    write_results,
)

# name: (sleep seconds before ready, dependencies)
GRAPH: dict[str, tuple[float, tuple[str, ...]]] = {
    "s00": (0.20, ()),
    "s01": (0.10, ("s00",)),
    "s02": (0.15, ("s00",)),
    "s03": (0.05, ("s00",)),
    "s04": (0.20, ()),
    "s05": (0.10, ("s01", "s02")),
    "s06": (0.05, ("s02", "s04")),
    "s07": (0.15, ("s03",)),
    "s08": (0.10, ("s04",)),
    "s09": (0.05, ("s05",)),
    "s10": (0.10, ("s05", "s06")),
    "s11": (0.20, ("s07", "s08")),
    "s12": (0.05, ("s06",)),
    "s13": (0.10, ("s09", "s10")),
    "s14": (0.05, ("s11",)),
    "s15": (0.15, ("s12", "s11")),
    "s16": (0.10, ("s13",)),
    "s17": (0.05, ("s14", "s15")),
    "s18": (0.10, ("s16", "s17")),
    "s19": (0.05, ("s18",)),
}
TARGET = 0.100


def command(sleep: float) -> str:
    return f"sleep {sleep}; echo ready; exec sleep 1000000"


def critical_path() -> tuple[float, list[str]]:
    memo: dict[str, tuple[float, list[str]]] = {}

    def longest(name: str) -> tuple[float, list[str]]:
        if name not in memo:
            sleep, deps = GRAPH[name]
            best = max((longest(d) for d in deps), default=(0.0, []), key=lambda x: x[0])
            memo[name] = (best[0] + sleep, [*best[1], name])
        return memo[name]

    return max((longest(n) for n in GRAPH), key=lambda x: x[0])


def compose(interval: str | None) -> str:
    out = ["services:"]
    for name, (sleep, deps) in GRAPH.items():
        probe = '{log: "^ready$"' + (f", interval: {interval}" if interval else "") + "}"
        out.append(f"  {name}:")
        if deps:
            out.append("    depends_on:")
            out.extend(f"      {d}: {{condition: service_healthy}}" for d in deps)
        out.append("    x-devenv:")
        out.append(f"      run: sh -c {command(sleep)!r}".replace("'", '"'))
        out.append(f"      ready: {probe}")
    return "\n".join(out) + "\n"


async def ideal_run() -> tuple[float, dict[str, float]]:
    """Start each service as soon as its dependencies print `ready`."""
    ready: dict[str, asyncio.Event] = {n: asyncio.Event() for n in GRAPH}
    procs: list[asyncio.subprocess.Process] = []
    ready_at: dict[str, float] = {}
    first: list[float] = []

    async def one(name: str) -> None:
        sleep, deps = GRAPH[name]
        for dep in deps:
            await ready[dep].wait()
        proc = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            command(sleep),
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        if not first:
            first.append(time.perf_counter())
        procs.append(proc)
        assert proc.stdout is not None
        while (line := await proc.stdout.readline()) and line.strip() != b"ready":
            pass
        ready_at[name] = time.perf_counter()
        ready[name].set()

    try:
        await asyncio.wait_for(asyncio.gather(*(one(n) for n in GRAPH)), 30)
    finally:
        for proc in procs:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 9)
            await proc.wait()
    total = max(ready_at.values()) - first[0]
    return total, {n: t - first[0] for n, t in ready_at.items()}


READY_RE = re.compile(rb"^(s\d\d)\s+\| -- ready", re.MULTILINE)
STARTING_RE = re.compile(rb"^(s\d\d)\s+\| -- starting", re.MULTILINE)


def devenv_run(group: Group, root: Path, source: str | None = None) -> dict[str, Any]:
    read_fd, write_fd = os.pipe()
    launched = time.perf_counter()
    proc = group.popen(
        [*DEVENV, "start", "--no-tui"],
        cwd=root,
        stdout=write_fd,
        stderr=write_fd,
        env=env_for_devenv(source),
    )
    os.close(write_fd)
    first_start: list[float] = []
    ready_at: dict[str, float] = {}
    done = threading.Event()
    output: list[bytes] = []

    def drain() -> None:
        while data := os.read(read_fd, 1 << 16):
            now = time.perf_counter()
            output.append(data)
            if not first_start and STARTING_RE.search(data):
                first_start.append(now)
            for match in READY_RE.finditer(data):
                ready_at.setdefault(match.group(1).decode(), now)
            if len(ready_at) == len(GRAPH):
                done.set()
        os.close(read_fd)
        done.set()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    done.wait(60)
    group.stop(proc)
    thread.join(10)
    if len(ready_at) != len(GRAPH) or not first_start:
        text = b"".join(output)[-2000:].decode(errors="replace")
        raise RuntimeError(f"devenv did not get every service ready:\n{text}")
    last = max(ready_at.values())
    return {
        "from_first_start_s": last - first_start[0],
        "from_launch_s": last - launched,
        "ready_at": {n: round(t - first_start[0], 4) for n, t in sorted(ready_at.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--alt-src", help="also run devenv from this checkout's root, as devenv-alt (A/B)"
    )
    args = parser.parse_args()
    load_before = load_average()
    path_sum, path = critical_path()
    runs: dict[str, list[dict[str, Any]]] = {"ideal": [], "devenv": [], "devenv, fast probe": []}
    if args.alt_src:
        runs["devenv-alt"] = []
    with workdir("start") as base, Group() as group:
        default_root = base / "default"
        fast_root = base / "fast"
        for root, interval in ((default_root, None), (fast_root, "5ms")):
            root.mkdir()
            (root / "compose.yaml").write_text(compose(interval))
        for _ in range(args.repeat):
            total, ready_at = asyncio.run(ideal_run())
            runs["ideal"].append({"from_first_start_s": total, "ready_at": ready_at})
            runs["devenv"].append(devenv_run(group, default_root))
            runs["devenv, fast probe"].append(devenv_run(group, fast_root))
            if args.alt_src:
                runs["devenv-alt"].append(devenv_run(group, default_root, args.alt_src))

    rows = []
    for name, results in runs.items():
        totals = sorted(r["from_first_start_s"] for r in results)
        median = totals[len(totals) // 2]
        launch = [r["from_launch_s"] for r in results if "from_launch_s" in r]
        rows.append(
            [
                name,
                " / ".join(f"{t * 1000:.0f}" for t in (r["from_first_start_s"] for r in results)),
                median * 1000,
                (median - path_sum) * 1000,
                f"{sorted(launch)[len(launch) // 2] * 1000:.0f}" if launch else "-",
            ]
        )
    print(f"critical path: {' -> '.join(path)} = {path_sum * 1000:.0f} ms (20 services)")
    print(
        table(
            [
                "supervisor",
                "all-ready ms (each run)",
                "median ms",
                "overhead ms",
                "from CLI launch ms",
            ],
            rows,
        )
    )
    print(f"(load {load_before} -> {load_average()})")
    dev = sorted(r["from_first_start_s"] for r in runs["devenv"])[len(runs["devenv"]) // 2]
    verdict = [
        f"devenv overhead < {TARGET * 1000:.0f} ms: "
        + ("ok" if dev - path_sum < TARGET else "MISSED")
    ]
    for line in verdict:
        print(line)
    result = write_results(
        "start_overhead",
        {
            "load_before": load_before,
            "critical_path_s": path_sum,
            "critical_path": path,
            "runs": runs,
            "verdict": verdict,
        },
    )
    print(f"results: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
