"""The control socket, measured from the outside, side by side with baselines in
the same run:

- `devenv status --json` against a running `devenv start -d` session, until the
  command exits (Python start-up included), against `python -c pass` and
  `devenv --help`;
- `devenv restart api` until the command returns (the new instance launched),
  against `devenv status --json` (the same CLI start-up and a round trip);
- an engine event reaching a client attached through the socket: a service
  prints `time.time()` on a line every 20 ms, and the bench subscribes to the
  session with `RemoteEngine` (what `devenv attach` gives the TUI); the delay
  is receipt minus the printed time. Baseline: the same service under an
  in-process `Engine` in this process (what `devenv` gives the TUI). State
  events: the delay from a `StateChanged`'s own timestamp to its receipt.

    python bench/control.py [--runs 40] [--lines 500]

Targets: status and restart p50 under 150 ms; event delay p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from _bench import (
    DEVENV,
    PYTHON,
    env_for_devenv,
    load_average,
    percentile,
    table,
    workdir,
    write_results,
)

TICKER = """
import sys, time
interval = float(sys.argv[1])
print("ready", flush=True)
while True:
    time.sleep(interval)
    print(f"t={time.time():.6f}", flush=True)
"""

STACK = """
name: controlbench
services:
  api:
    stop_grace_period: 2s
    x-devenv:
      run: {py} -c "import time; time.sleep(3600)"
  ticker:
    x-devenv:
      run: {py} ticker.py 0.02
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed: {done.stderr.decode()}")
    return elapsed


def cli_rows(cwd: Path, env: dict[str, str], runs: int) -> list[list[Any]]:
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "devenv --help": [*DEVENV, "--help"],
        "devenv status --json": [*DEVENV, "status", "--json"],
        "devenv restart api": [*DEVENV, "restart", "api"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so load moves every row alike
        for name, argv in commands.items():
            samples[name].append(timed(argv, cwd, env))
    base = percentile(samples["python -c pass"], 0.5)
    # min: the run least disturbed by other load, closest to a quiet machine
    return [
        [
            name,
            round(min(values), 1),
            round(percentile(values, 0.5), 1),
            round(percentile(values, 0.9), 1),
            round(percentile(values, 0.5) - base, 1),
        ]
        for name, values in samples.items()
    ]


async def remote_delays(cwd: Path, lines: int) -> dict[str, list[float]]:
    from devenv.control.client import RemoteEngine
    from devenv.events import Event, LogBatch, StateChanged

    engine = RemoteEngine.for_state_dir(cwd / ".devenv", log_lines=0)
    await engine.connect()
    logs: list[float] = []
    states: list[float] = []
    done = asyncio.Event()

    def on_batch(batch: LogBatch) -> None:
        now = time.time()
        for line in batch.lines:
            if line.startswith("t="):
                logs.append((now - float(line[2:])) * 1000)
        if len(logs) >= lines:
            done.set()

    def on_event(event: Event) -> None:
        if isinstance(event, StateChanged):
            states.append((time.time() - event.ts) * 1000)

    engine.subscribe_log_batches(on_batch)
    engine.subscribe(on_event, lines=False)
    await asyncio.wait_for(done.wait(), lines * 0.1 + 30)
    for _ in range(10):  # state events: restarts of api
        await engine.restart(["api"])
    await asyncio.sleep(0.5)
    await engine.close()
    return {"log": logs[:lines], "state": states}


async def local_delays(cwd: Path, lines: int) -> dict[str, list[float]]:
    import os

    from devenv.config import LoadOptions, load_stack
    from devenv.engine.supervisor import Engine, EngineOptions
    from devenv.events import Event, LogBatch, StateChanged

    stack = load_stack(LoadOptions(cwd=cwd, environ=dict(os.environ)))
    engine = Engine(stack, EngineOptions(state_dir=cwd / ".devenv-local", watchdog=False))
    logs: list[float] = []
    states: list[float] = []
    done = asyncio.Event()

    def on_batch(batch: LogBatch) -> None:
        now = time.time()
        for line in batch.lines:
            if line.startswith("t="):
                logs.append((now - float(line[2:])) * 1000)
        if len(logs) >= lines:
            done.set()

    def on_event(event: Event) -> None:
        if isinstance(event, StateChanged):
            states.append((time.time() - event.ts) * 1000)

    engine.subscribe_log_batches(on_batch)
    engine.subscribe(on_event, lines=False)
    try:
        await engine.start()
        await asyncio.wait_for(done.wait(), lines * 0.1 + 30)
        for _ in range(10):
            await engine.restart(["api"])
        await asyncio.sleep(0.5)
    finally:
        await engine.shutdown(force=True)
    return {"log": logs[:lines], "state": states}


def delay_rows(name: str, delays: dict[str, list[float]]) -> list[list[Any]]:
    return [
        [
            f"{name}: {kind}",
            len(values),
            round(percentile(values, 0.5), 2),
            round(percentile(values, 0.99), 2),
            round(max(values), 2),
        ]
        for kind, values in delays.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--lines", type=int, default=500)
    args = parser.parse_args()
    load_before = load_average()
    env = env_for_devenv()
    sys.path.insert(0, env["PYTHONPATH"].split(":")[0])
    results: dict[str, Any] = {"load_before": load_before, "runs": args.runs}
    with workdir("control") as cwd:
        (cwd / "compose.yaml").write_text(textwrap.dedent(STACK.format(py=PYTHON)))
        (cwd / "ticker.py").write_text(textwrap.dedent(TICKER))
        started = subprocess.run([*DEVENV, "start", "-d"], cwd=cwd, env=env, capture_output=True)
        if started.returncode != 0:
            raise SystemExit(f"devenv start -d failed: {started.stderr.decode()}")
        try:
            rows = cli_rows(cwd, env, args.runs)
            print(
                table(["command", "min ms", "p50 ms", "p90 ms", "p50 - python ms"], rows),
                flush=True,
            )
            results["cli"] = rows
            remote = asyncio.run(remote_delays(cwd, args.lines))
        finally:
            subprocess.run([*DEVENV, "stop"], cwd=cwd, env=env, capture_output=True)
        local = asyncio.run(local_delays(cwd, args.lines))
    rows = delay_rows("in-process Engine", local) + delay_rows("attached (socket)", remote)
    print()
    print(table(["event -> subscriber", "n", "p50 ms", "p99 ms", "max ms"], rows))
    results["delays"] = rows
    path = write_results("control", results)
    print(f"\nload {load_before} -> {load_average()}; results: {path}")


if __name__ == "__main__":
    main()
