"""What the end-to-end tests of the mode-switching examples (agent-orchestrator,
telegram-bot, modular) share: each example's images built once per test run
with the real `docker compose build` (and removed at the end), a copy of the
example with its `.env`, and the real engine run in-process (as the TUI runs
it), so that a test can flip a service with `EngineAPI.set_mode` as the `m`
key does. Blocking HTTP calls go through a thread: the engine's own loop
keeps probing and supervising while a test waits for an answer."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS, TEST_RUN, docker_required
from example_stack import EXAMPLES, http

from devenv.config import LoadOptions, load_stack
from devenv.config.stack.kinds import resolve_kinds
from devenv.engine.api import UnitInfo
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.events import UnitState

IMAGE_TAG = f"e2e-{TEST_RUN}"  # every image the tests build carries it


def require_modules(*names: str, hint: str) -> None:
    """Skip (fail in CI, where .ci/toolchains.sh installs them) without these
    Python packages in the interpreter that runs the examples' services."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        message = f"Python packages missing: {', '.join(missing)} ({hint})"
        if docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def compose_binary() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        message = "docker-compose not installed (the `dev` extra installs it)"
        if docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env.pop("DEVENV_INSTANCE", None)
    env.update(extra)
    return env


class ExampleImages:
    """An example's images, built with `docker compose build` the first time a
    test asks for them in this run, tagged IMAGE_TAG; removed at the end."""

    def __init__(self, example: str, files: tuple[str, ...], services: tuple[str, ...]) -> None:
        self.example = example
        self.files = files
        self.services = services
        self.built: list[str] = []
        self.seconds: float | None = None
        self.error: str | None = None

    def build(self, docker_client: Any) -> None:
        if self.error is not None:
            pytest.fail(f"{self.example}: the image build failed earlier:\n{self.error}")
        if self.seconds is not None:
            return
        args = [compose_binary()]
        for file in self.files:
            args += ["-f", file]
        began = time.monotonic()
        result = subprocess.run(
            [*args, "build", *self.services],
            cwd=EXAMPLES / self.example,
            env=clean_environ(IMAGE_TAG=IMAGE_TAG, COMPOSE_PROJECT_NAME=f"dvtimg{TEST_RUN}"),
            capture_output=True,
            text=True,
            timeout=1200,
        )
        self.seconds = time.monotonic() - began
        for image in docker_client.images.list():
            self.built += [t for t in image.tags if t.endswith(f":{IMAGE_TAG}")]
        if result.returncode != 0:
            self.error = (result.stdout + result.stderr)[-5000:]
            pytest.fail(f"{self.example}: docker compose build failed:\n{self.error}")

    def remove(self, docker_client: Any) -> None:
        import docker.errors

        for tag in dict.fromkeys(self.built):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                docker_client.images.remove(tag, force=True)


def write_env(directory: Path, values: Mapping[str, object]) -> None:
    """The example's .env, as `devenv init` and an edit would leave it."""
    (directory / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


@contextlib.asynccontextmanager
async def running(
    directory: Path,
    *,
    files: Iterable[str] = (),
    profiles: Iterable[str] = (),
    container: Iterable[str] = (),
    local: Iterable[str] = (),
) -> AsyncIterator[Engine]:
    """The stack in `directory` started as `devenv start --container X --local Y`
    starts it (the engine the CLI builds, without a front end); everything is
    stopped at the end, whatever happened."""
    environ = clean_environ(DEVENV_EXTRA_LABELS=TEST_LABELS)
    stack = load_stack(
        LoadOptions(
            cwd=directory,
            environ=environ,
            files=tuple(directory / f for f in files),
            profiles=tuple(profiles),
        )
    )
    kinds = resolve_kinds(stack, local=local, container=container)
    engine = Engine(
        stack,
        EngineOptions(state_dir=directory / ".devenv", watch=False, watchdog=False),
        kinds,
    )
    old_labels = os.environ.get("DEVENV_EXTRA_LABELS")
    os.environ["DEVENV_EXTRA_LABELS"] = TEST_LABELS  # the container runtime reads it
    try:
        await engine.start()
        yield engine
    finally:
        await engine.shutdown()
        if old_labels is None:
            os.environ.pop("DEVENV_EXTRA_LABELS", None)
        else:
            os.environ["DEVENV_EXTRA_LABELS"] = old_labels


def unit(engine: Engine, name: str) -> UnitInfo:
    for info in engine.units():
        if info.name == name:
            return info
    raise AssertionError(f"no unit {name!r}: {[u.name for u in engine.units()]}")


def rewrites(engine: Engine, name: str) -> dict[str, tuple[str, str]]:
    """variable -> (before, after) for each rewrite in a unit's environment."""
    return {r.variable: (r.before, r.after) for r in unit(engine, name).rewrites}


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """`check` (run in a thread: it may block on HTTP) until it is truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


async def ready(engine: Engine, names: Iterable[str], timeout: float) -> None:
    """Every unit in `names` ready (a one-shot: completed), or the reason it is not."""
    names = list(names)

    def check() -> bool:
        states = {u.name: u for u in engine.units()}
        for name in names:
            info = states.get(name)
            assert info is not None, f"no unit {name}"
            assert info.state is not UnitState.FAILED, f"{name} failed: {info.detail}"
        return all(states[n].state in (UnitState.READY, UnitState.COMPLETED) for n in names)

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            table = {u.name: f"{u.state.value} {u.detail}" for u in engine.units()}
            raise AssertionError(f"not ready within {timeout}s: {table}")
        await asyncio.sleep(0.1)


async def ahttp(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    return await asyncio.to_thread(http, method, url, body, timeout)


def leftovers(directory: Path, docker_client: Any, project: str) -> list[str]:
    """Processes still running from the copy, and containers of the project still up."""
    from example_stack import processes_under

    running_containers = docker_client.containers.list(
        filters={"label": f"com.docker.compose.project={project}"}
    )
    return processes_under(directory) + [f"container {c.name}" for c in running_containers]
