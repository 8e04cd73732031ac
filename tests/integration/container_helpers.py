"""Shared pieces of the container tests: hand-built stacks on a real engine, a
context that records what units report, and cleanup by project and by label."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import TEST_LABEL, TEST_RUN  # the sweep there uses them
from hostports import free_port  # noqa: F401 (re-exported)

from devenv.config.model import (
    Healthcheck,
    Origin,
    PortMapping,
    Service,
    Stack,
    VolumeMount,
    frozen_map,
)
from devenv.events import Progress
from devenv.runtime.base import UnitContext

PG_TEST = ("CMD-SHELL", "pg_isready -h 127.0.0.1 -U app -d app")


def project_name() -> str:
    return f"dvt{uuid.uuid4().hex[:8]}"


@dataclass
class Recorder:
    """A UnitContext's callbacks, kept for assertions."""

    logs: list[tuple[str, str, str]] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)

    def on_log(self, unit: str, stream: str, line: str) -> None:
        self.logs.append((unit, stream, line))

    def lines(self, stream: str | None = None) -> list[str]:
        return [line for _, s, line in self.logs if stream is None or s == stream]


def make_context(stack: Stack, tmp_path: Path, recorder: Recorder) -> UnitContext:
    return UnitContext(
        stack=stack,
        on_log=recorder.on_log,
        on_progress=recorder.progress.append,
        state_dir=tmp_path / ".devenv",
    )


def make_stack(name: str, tmp_path: Path, *services: Service, **volumes: Any) -> Stack:
    return Stack(
        name=name,
        project_dir=tmp_path,
        files=(tmp_path / "compose.yaml",),
        services=frozen_map({s.name: s for s in services}),
        volumes=frozen_map(volumes),
    )


def service(name: str, tmp_path: Path, **fields: Any) -> Service:
    labels = {TEST_LABEL: TEST_RUN, **fields.pop("labels", {})}
    return Service(
        name=name,
        origin=Origin(tmp_path / "compose.yaml"),
        labels=frozen_map(labels),
        **fields,
    )


def postgres(
    tmp_path: Path, port: int, *, interval: float = 30.0, volume: str | None = None
) -> Service:
    mounts = (
        (VolumeMount(type="volume", source=volume, target="/var/lib/postgresql/data"),)
        if volume
        else ()
    )
    return service(
        "postgres",
        tmp_path,
        image="postgres:16-alpine",
        environment=frozen_map(
            {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "secret", "POSTGRES_DB": "app"}
        ),
        ports=(PortMapping(target=5432, published=str(port)),),
        volumes=mounts,
        healthcheck=Healthcheck(test=PG_TEST, interval=interval, timeout=5.0, retries=5),
        stop_grace_period=5.0,
    )


def redis(tmp_path: Path, port: int, host_ip: str | None = None) -> Service:
    return service(
        "redis",
        tmp_path,
        image="redis:7-alpine",
        ports=(PortMapping(target=6379, published=str(port), host_ip=host_ip),),
        healthcheck=Healthcheck(test=("CMD", "redis-cli", "ping"), interval=30.0),
        stop_grace_period=2.0,
    )


async def until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def cleanup(client: Any, project: str) -> None:
    """Remove everything of a test project, by its Compose project label and by name."""
    flt = {"label": f"com.docker.compose.project={project}"}
    for container in client.containers.list(all=True, filters=flt):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=flt):
        network.remove()
    for volume in client.volumes.list(filters=flt):
        volume.remove(force=True)
    for volume in client.volumes.list():
        if volume.name.startswith(f"{project}_"):
            volume.remove(force=True)


def psql(client: Any, container: str, sql: str) -> tuple[int, str]:
    result = client.containers.get(container).exec_run(
        ["psql", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-tAc", sql],
        environment={"PGPASSWORD": "secret"},
    )
    return int(result.exit_code), result.output.decode().strip()
