"""Time to switch a service between its local process and its container: devenv's
flip (`EngineAPI.set_mode`, what the UI's `m` key calls) against doing it by hand.

The service is the api of examples/agent-orchestrator (FastAPI under uvicorn,
PostgreSQL and Redis behind it, both running throughout). Each way, in the
same run and interleaved, each tool on its own project and ports:

  local -> container
    devenv: set_mode("api", "container")
    by hand: stop the local process (SIGTERM, wait for it to exit), then
             `docker compose up -d --wait api`
  container -> local
    devenv: set_mode("api", "process")
    by hand: `docker compose stop api`, then start the local process and poll
             its /health until it answers

Two times per switch: "done" is when the tool said it was done (set_mode
returned, `up --wait` exited; by hand to local: the first answer, since there
is nothing else to wait for), "answered" is when a poller (every 10 ms) first
got the other kind's /health (its `version` says which kind answered:
"container" or "dev"). The images are built once with `docker compose build`
(from Docker's cache when the tests built them) and removed at the end. The
healthcheck interval is HEALTH_INTERVAL (default 1s here, as fast as `docker
compose up --wait` can be: its wait ends at Docker's first healthy check).

    python bench/mode_switch.py [--repeat 5] [--interval 1s]

devenv is imported from this checkout (or DEVENV_BENCH_SRC): set_mode is on
the engine's API, not on the command line. Results: a table on stdout and
bench/results/mode_switch.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _bench import REPO, free_port, load_average, table, workdir, write_results

EXAMPLE = REPO / "examples" / "agent-orchestrator"
SERVICE = "api"


@dataclass
class Switch:
    tool: str  # "devenv" or "by hand"
    way: str  # "local -> container" or "container -> local"
    done: float  # seconds until the tool said it was done
    answered: float  # seconds until the other kind first answered /health


@dataclass
class Setup:
    directory: Path
    project: str
    ports: dict[str, int]
    tag: str
    interval: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        env.update(
            COMPOSE_PROJECT_NAME=self.project,
            IMAGE_TAG=self.tag,
            HEALTH_INTERVAL=self.interval,
            PYTHON=sys.executable,
            **{k: str(v) for k, v in self.ports.items()},
        )
        env.pop("DEVENV_INSTANCE", None)
        return env

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.ports['API_PORT']}/health"

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        binary = shutil.which("docker-compose") or "docker-compose"
        return subprocess.run(
            [binary, *args],
            cwd=self.directory,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def answering_version(url: str) -> str | None:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            version: str = json.loads(response.read())["version"]
            return version
    except (OSError, ValueError, KeyError):
        return None


class Poller(threading.Thread):
    """From `t0`, the first time /health answers with `version`."""

    def __init__(self, url: str, version: str) -> None:
        super().__init__(daemon=True)
        self.url, self.version = url, version
        self.t0 = time.monotonic()
        self.at: float | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            if answering_version(self.url) == self.version:
                self.at = time.monotonic() - self.t0
                return
            time.sleep(0.01)

    def result(self, timeout: float = 120) -> float:
        self.join(timeout)
        self.halt.set()
        if self.at is None:
            raise SystemExit(f"{self.url} never answered as {self.version!r}")
        return self.at


def wait_version(url: str, version: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while answering_version(url) != version:
        if time.monotonic() > deadline:
            raise SystemExit(f"{url}: no answer as {version!r} within {timeout}s")
        time.sleep(0.05)


# --- devenv ---------------------------------------------------------------------------


async def run_devenv(setup: Setup, repeat: int) -> list[Switch]:
    from devenv.config import LoadOptions, load_stack
    from devenv.config.stack.kinds import resolve_kinds
    from devenv.engine.supervisor import Engine, EngineOptions

    stack = load_stack(LoadOptions(cwd=setup.directory, environ=setup.env())).select([SERVICE])
    kinds = resolve_kinds(stack, local=[SERVICE])
    options = EngineOptions(state_dir=setup.directory / ".devenv", watch=False, watchdog=False)
    engine = Engine(stack, options, kinds)
    switches: list[Switch] = []
    try:
        await engine.start()
        await asyncio.to_thread(wait_version, setup.health, "dev", 180)
        for _ in range(repeat):
            for way, kind, version in (
                ("local -> container", "container", "container"),
                ("container -> local", "process", "dev"),
            ):
                poller = Poller(setup.health, version)
                poller.start()
                await engine.set_mode(SERVICE, kind)  # type: ignore[arg-type]
                done = time.monotonic() - poller.t0
                answered = await asyncio.to_thread(poller.result)
                switches.append(Switch("devenv", way, done, answered))
                print(f"  devenv   {way}: done {done:6.2f}s, answered {answered:6.2f}s", flush=True)
                await asyncio.sleep(0.5)
    finally:
        await engine.shutdown()
    return switches


# --- by hand ----------------------------------------------------------------------------


class ByHand:
    """What a developer does without devenv: a terminal with the local process,
    another with `docker compose`."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.proc: subprocess.Popen[bytes] | None = None

    def local_env(self) -> dict[str, str]:
        ports = self.setup.ports
        return {
            **self.setup.env(),
            "DATABASE_URL": "postgresql://orchestrator:orchestrator@127.0.0.1:"
            f"{ports['POSTGRES_PORT']}/orchestrator",
            "REDIS_URL": f"redis://127.0.0.1:{ports['REDIS_PORT']}/0",
            "PORT": str(ports["API_PORT"]),
            "LOG_LEVEL": "warning",
        }

    def start_local(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", SERVICE],
            cwd=self.setup.directory,
            env=self.local_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop_local(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def to_container(self) -> Switch:
        poller = Poller(self.setup.health, "container")
        poller.start()
        self.stop_local()
        up = self.setup.compose("up", "-d", "--wait", "--no-build", SERVICE)
        done = time.monotonic() - poller.t0
        if up.returncode != 0:
            raise SystemExit(f"docker compose up --wait {SERVICE} failed:\n{up.stderr}")
        return Switch("by hand", "local -> container", done, poller.result())

    def to_local(self) -> Switch:
        poller = Poller(self.setup.health, "dev")
        poller.start()
        stop = self.setup.compose("stop", SERVICE)
        if stop.returncode != 0:
            raise SystemExit(f"docker compose stop {SERVICE} failed:\n{stop.stderr}")
        self.start_local()
        answered = poller.result()
        return Switch("by hand", "container -> local", answered, answered)

    def run(self, repeat: int) -> list[Switch]:
        up = self.setup.compose("up", "-d", "--wait", "postgres", "redis")
        if up.returncode != 0:
            raise SystemExit(f"docker compose up postgres redis failed:\n{up.stderr}")
        self.start_local()
        wait_version(self.setup.health, "dev", 60)
        switches = []
        try:
            for _ in range(repeat):
                for step in (self.to_container, self.to_local):
                    switch = step()
                    switches.append(switch)
                    print(
                        f"  by hand  {switch.way}: done {switch.done:6.2f}s, "
                        f"answered {switch.answered:6.2f}s",
                        flush=True,
                    )
                    time.sleep(0.5)
        finally:
            self.stop_local()
        return switches


# --- the run ----------------------------------------------------------------------------


def build_images(setup: Setup) -> float:
    began = time.monotonic()
    result = setup.compose("build", SERVICE, timeout=1200)
    if result.returncode != 0:
        raise SystemExit(f"docker compose build failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - began


def remove_images(tag: str) -> None:
    subprocess.run(
        ["docker", "image", "rm", "-f", f"agent-orchestrator/{SERVICE}:{tag}"],
        capture_output=True,
        timeout=120,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="switches each way, per tool")
    parser.add_argument(
        "--interval", default="1s", help="the healthcheck interval (HEALTH_INTERVAL)"
    )
    args = parser.parse_args()
    sys.path.insert(0, os.environ.get("DEVENV_BENCH_SRC", str(REPO)))
    for module in ("fastapi", "uvicorn", "psycopg", "redis", "apscheduler"):
        try:
            __import__(module)
        except ImportError:
            raise SystemExit(
                f"needs {module}: pip install -r examples/agent-orchestrator/requirements.txt"
            ) from None
    load_before = load_average()
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    with workdir("mode-switch") as tmp:
        setups = {}
        for tool in ("devenv", "by hand"):
            directory = tmp / tool.replace(" ", "-")
            shutil.copytree(
                EXAMPLE, directory, ignore=shutil.ignore_patterns("__pycache__", ".env")
            )
            ports = {
                name: free_port()
                for name in ("POSTGRES_PORT", "REDIS_PORT", "API_PORT", "SCHEDULER_PORT")
            }
            ports["WORKER_PORT"] = free_port()
            project = f"devenv-bench-mode-{tool.replace(' ', '')}-{uuid.uuid4().hex[:6]}"
            setups[tool] = Setup(directory, project, ports, tag, args.interval)
        switches: list[Switch] = []
        try:
            built = build_images(setups["devenv"])
            print(
                f"image built in {built:.1f}s; {args.repeat} switches each way, per tool",
                flush=True,
            )
            # Interleaved: one round of each tool at a time, so load hits both alike.
            hand = ByHand(setups["by hand"])
            rounds = max(1, args.repeat)
            for _ in range(rounds):
                switches += asyncio.run(run_devenv(setups["devenv"], 1))
                switches += hand.run(1)
        finally:
            for setup in setups.values():
                setup.compose("down", "--volumes", "--timeout", "3")
            remove_images(tag)
    rows: list[list[Any]] = []
    for way in ("local -> container", "container -> local"):
        for tool in ("devenv", "by hand"):
            cell = [s for s in switches if s.tool == tool and s.way == way]
            rows.append(
                [
                    way,
                    tool,
                    statistics.median(s.done for s in cell),
                    statistics.median(s.answered for s in cell),
                    max(s.answered for s in cell),
                ]
            )
    print()
    print(
        table(
            ["switch", "tool", "done s (median)", "answered s (median)", "answered s (max)"], rows
        )
    )
    path = write_results(
        "mode_switch",
        {
            "load_before": load_before,
            "interval": args.interval,
            "repeat": args.repeat,
            "switches": [asdict(s) for s in switches],
        },
    )
    print(f"\nload average {load_before} -> {load_average()}; written: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
