"""Idle CPU: what devenv itself burns over 30 s while 10 services sit idle, vs honcho.

Ten idle HTTP servers (`python -m http.server PORT`) run under each supervisor
at the same time, so both see the same machine load:

- devenv: `python -m devenv start --no-tui`, every service with `ports` (so a
  readiness probe runs until it is up) and `watch` on a directory (so the file
  watcher is armed), i.e. the features that could cost something when idle;
- honcho: `honcho start` on a Procfile with the same ten commands.

Once everything answers and 2 s have passed, the CPU time of the supervisor's
own process (its threads' scheduler run time in ns from /proc/PID/task/*/schedstat,
children excluded; psutil's tick-based user+system where that is missing) is
read at the start and end of the window. devenv's orphan guard (a separate small process) is
reported on its own line and counted in devenv's total. A second devenv without
`watch` runs alongside, to tell the file watcher's share.

Target: devenv < 0.5 % of one core.

    python bench/idle_cpu.py [--seconds 30] [--services 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import (
    DEVENV,
    PYTHON,
    Group,
    env_for_devenv,
    free_port,
    load_average,
    shutil_which,
    table,
    wait_for,
    workdir,
    write_results,
)

TARGET = 0.5  # percent of one core


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def cpu_seconds(proc: Any) -> float:
    """CPU time of the process's own threads (children excluded). From the
    scheduler's nanosecond counters when Linux has them: the tick-based
    user+system times attribute whole 10 ms ticks by sampling, too coarse for a
    thread that wakes briefly 100 times a second."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{proc.pid}/task"):
            with open(f"/proc/{proc.pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        times = proc.cpu_times()
        return float(times.user + times.system)
    return total / 1e9


def main() -> int:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--services", type=int, default=10)
    args = parser.parse_args()
    load_before = load_average()
    honcho = shutil_which("honcho")
    with workdir("idle") as base, Group() as group:
        ports: dict[str, list[int]] = {}
        outputs: dict[str, Path] = {}
        launched: dict[str, Any] = {}
        for variant, watch in (("devenv", True), ("devenv, no watch", False)):
            root = base / variant.replace(", ", "-").replace(" ", "-")
            (root / "app").mkdir(parents=True)
            (root / "app" / "main.py").write_text("# watched\n")
            ports[variant] = [free_port() for _ in range(args.services)]
            lines = ["services:"]
            for index, port in enumerate(ports[variant]):
                lines += [
                    f"  idle{index:02d}:",
                    "    x-devenv:",
                    f"      run: {PYTHON} -m http.server {port} --bind 127.0.0.1",
                    f"      ports: [{port}]",
                ]
                if watch:
                    lines.append("      watch: [app/]")
            (root / "compose.yaml").write_text("\n".join(lines) + "\n")
            outputs[variant] = root / "devenv.out"
            out = open(outputs[variant], "wb")  # noqa: SIM115
            launched[variant] = group.popen(
                [*DEVENV, "start", "--no-tui"],
                cwd=root,
                stdout=out,
                stderr=out,
                env=env_for_devenv(),
            )
        if honcho:
            honcho_root = base / "honcho"
            honcho_root.mkdir()
            ports["honcho"] = [free_port() for _ in range(args.services)]
            (honcho_root / "Procfile").write_text(
                "".join(
                    f"idle{i:02d}: {PYTHON} -m http.server {p} --bind 127.0.0.1\n"
                    for i, p in enumerate(ports["honcho"])
                )
            )
            out = open(base / "honcho.out", "wb")  # noqa: SIM115
            launched["honcho"] = group.popen(
                [honcho, "start"], cwd=honcho_root, stdout=out, stderr=out
            )
        for name, wanted in ports.items():
            wait_for(lambda w=wanted: all(answers(p) for p in w), 60, 0.1, f"{name}'s services")
        for name, path in outputs.items():
            wait_for(
                lambda p=path: p.read_bytes().count(b"-- ready") >= args.services,
                30,
                0.1,
                f"{name} to report every service ready",
            )
        time.sleep(2.0)
        procs: dict[str, Any] = {}
        for name, proc in launched.items():
            procs[name] = psutil.Process(proc.pid)
            if name.startswith("devenv"):
                guards = [
                    c for c in procs[name].children() if any("watchdog" in a for a in c.cmdline())
                ]
                if guards:
                    procs[f"{name}: orphan guard"] = guards[0]
        before = {name: cpu_seconds(p) for name, p in procs.items()}
        begin = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - begin
        after = {name: cpu_seconds(p) for name, p in procs.items()}
        memory = {name: p.memory_info().rss for name, p in procs.items()}
        for proc in launched.values():
            group.stop(proc)

    percent = {name: (after[name] - before[name]) / elapsed * 100 for name in procs}
    total = percent["devenv"] + percent.get("devenv: orphan guard", 0.0)
    rows = [
        [name, (after[name] - before[name]) * 1000, percent[name], memory[name] / 1e6]
        for name in procs
    ]
    rows.append(["devenv total (with guard)", total * elapsed * 10, total, "-"])
    print(table(["process", "CPU ms", "% of a core", "RSS MB"], rows))
    print(
        f"({args.services} idle services each, {elapsed:.1f} s window; "
        f"load {load_before} -> {load_average()})"
    )
    verdict = [f"devenv idle < {TARGET} % of a core: " + ("ok" if total < TARGET else "MISSED")]
    if "honcho" in percent:
        ratio = total / percent["honcho"] if percent["honcho"] > 0 else float("inf")
        verdict.append(f"devenv / honcho CPU: {ratio:.2f}")
    for line in verdict:
        print(line)
    path = write_results(
        "idle_cpu",
        {
            "load_before": load_before,
            "seconds": elapsed,
            "services": args.services,
            "cpu_seconds": {n: after[n] - before[n] for n in procs},
            "percent_of_core": percent,
            "devenv_total_percent": total,
            "rss_bytes": memory,
            "verdict": verdict,
        },
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
