"""Time from start to postgres and redis healthy: devenv versus `docker compose up --wait`.

Both run on the repository's own compose files (services postgres and redis), in
the same run, each under its own project name and ports, cold (no containers,
fresh volume) and warm (stopped containers to reuse), with the healthcheck
interval the files use (10 s) and with 1 s. Alongside, a poller records when
the services really answer (a PostgreSQL connection over TCP, a Redis PING):
the target is devenv within 0.2 s of that moment, whatever the interval.

    python bench/container_start.py [--repeat N] [--intervals 10s,1s]

Results: a table on stdout and bench/results/container_start.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "container_start.json"
SERVICES = ("postgres", "redis")
READY_LINE = re.compile(r"^(\w+)\s*\| -- ready\b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Setup:
    project: str
    pg_port: int
    redis_port: int
    interval: str

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "COMPOSE_PROJECT_NAME": self.project,
            "POSTGRES_PORT": str(self.pg_port),
            "REDIS_PORT": str(self.redis_port),
            "HEALTH_INTERVAL": self.interval,
        }


@dataclass
class Run:
    tool: str
    interval: str
    temperature: str
    ready: float  # seconds from launch to both reported healthy
    answered: float  # seconds from launch to both really answering

    @property
    def lag(self) -> float:
        return self.ready - self.answered


def pg_answers(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="app", password="dev", dbname="app", connect_timeout=1
        ) as conn:
            conn.execute("select 1")
        return True
    except Exception:
        return False


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Poller(threading.Thread):
    """Records when each service first answers, from `t0`. A new attempt starts
    every 20 ms in a thread of its own, so one slow attempt (libpq waits at
    least 2 s for a connection that hangs) never makes the moment late."""

    def __init__(self, setup: Setup, t0: float) -> None:
        super().__init__(daemon=True)
        self.t0 = t0
        self.checks: dict[str, Callable[[], bool]] = {
            "postgres": lambda: pg_answers(setup.pg_port),
            "redis": lambda: redis_answers(setup.redis_port),
        }
        self.first: dict[str, float] = {}
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _attempt(self, name: str, check: Callable[[], bool]) -> None:
        if check():
            moment = time.monotonic() - self.t0
            with self._lock:
                if name not in self.first or moment < self.first[name]:
                    self.first[name] = moment

    def run(self) -> None:
        while not self.stop.is_set() and len(self.first) < len(self.checks):
            for name, check in self.checks.items():
                if name not in self.first:
                    threading.Thread(target=self._attempt, args=(name, check), daemon=True).start()
            time.sleep(0.02)

    def answered(self) -> float:
        return max(self.first.values()) if len(self.first) == len(self.checks) else float("nan")


def compose(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-p", setup.project, *args],
        cwd=REPO,
        env=setup.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_compose(setup: Setup, temperature: str) -> Run:
    t0 = time.monotonic()
    poller = Poller(setup, t0)
    poller.start()
    result = compose(setup, "up", "--wait", *SERVICES)
    ready = time.monotonic() - t0
    if result.returncode != 0:
        raise SystemExit(f"docker compose up --wait failed:\n{result.stderr}")
    poller.join(timeout=30)
    compose(setup, "stop")
    return Run("compose --wait", setup.interval, temperature, ready, poller.answered())


def run_devenv(setup: Setup, temperature: str) -> Run:
    t0 = time.monotonic()
    poller = Poller(setup, t0)
    poller.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devenv", "start", *SERVICES, "--no-tui"],
        cwd=REPO,
        env=setup.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready_at: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        match = READY_LINE.match(line)
        if match and match.group(1) in SERVICES:
            ready_at[match.group(1)] = time.monotonic() - t0
            if len(ready_at) == len(SERVICES):
                break
    ready = max(ready_at.values()) if len(ready_at) == len(SERVICES) else float("nan")
    poller.join(timeout=30)  # before stopping: the services must get to answer
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    return Run("devenv", setup.interval, temperature, ready, poller.answered())


def down(setup: Setup) -> None:
    compose(setup, "down", "--volumes", "--remove-orphans")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (default 1)")
    parser.add_argument("--intervals", default="10s,1s", help="healthcheck intervals")
    args = parser.parse_args()

    runs: list[Run] = []
    for interval in args.intervals.split(","):
        setups = {
            tool: Setup(f"devenv-bench-{tool}", free_port(), free_port(), interval)
            for tool in ("dv", "dc")
        }
        runners = {"dv": run_devenv, "dc": run_compose}
        try:
            for _ in range(args.repeat):
                for setup in setups.values():
                    down(setup)
                for temperature in ("cold", "warm"):
                    for tool, setup in setups.items():
                        run = runners[tool](setup, temperature)
                        runs.append(run)
                        print(
                            f"{run.tool:<15} interval {interval:>4} {temperature}: ready "
                            f"{run.ready:6.2f}s  answered {run.answered:6.2f}s  "
                            f"lag {run.lag:+6.2f}s",
                            flush=True,
                        )
        finally:
            for setup in setups.values():
                down(setup)
    print()
    print(f"{'tool':<15} {'interval':>8} {'start':>5} {'ready':>7} {'answered':>9} {'lag':>7}")
    cells: dict[tuple[str, str, str], list[Run]] = {}
    for run in runs:
        cells.setdefault((run.tool, run.interval, run.temperature), []).append(run)
    for (tool, interval, temperature), group in cells.items():
        ready = statistics.median(r.ready for r in group)
        answered = statistics.median(r.answered for r in group)
        print(
            f"{tool:<15} {interval:>8} {temperature:>5} {ready:6.2f}s {answered:8.2f}s "
            f"{ready - answered:+6.2f}s"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([{**asdict(r), "lag": r.lag} for r in runs], indent=2) + "\n")
    print(f"\nwritten: {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
