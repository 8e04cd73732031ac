"""A project's Docker resources: its networks and volumes (created as Compose
names and labels them) and `devenv down` (its containers, networks and, when
asked, volumes). Blocking SDK calls; callers run them in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devenv.config.model import Service, Stack
from devenv.errors import DevenvError
from devenv.runtime import docker_spec as ds
from devenv.runtime.base import UnitContext
from devenv.runtime.docker_connect import connect

_resource_lock = threading.Lock()


async def prepare_project(ctx: UnitContext) -> None:
    """Create the project's networks and volumes (Compose names and labels).

    Raises DockerUnavailableError when the engine cannot be reached."""
    client = await asyncio.to_thread(connect)
    containers = [s for s in ctx.stack.services.values() if s.kind == "container"]
    await asyncio.to_thread(ensure_resources, client, ctx.stack, containers, True)


def ensure_resources(
    client: Any, stack: Stack, services: Iterable[Service], all_volumes: bool = False
) -> None:
    """Networks the services join and volumes they mount (every declared volume with
    all_volumes), created when missing; external ones must exist."""
    import docker.errors

    api = client.api
    networks: set[str] = set()
    volumes: set[str] = set(stack.volumes) if all_volumes else set()
    for service in services:
        networks.update(ds.service_networks(service))
        volumes.update(v.source for v in service.volumes if v.type == "volume" and v.source)
    with _resource_lock:
        for key in sorted(networks):
            name = ds.network_name(stack, key)
            if any(n["Name"] == name for n in api.networks(names=[name])):
                continue
            if ds.is_external(stack.networks, key):
                raise DevenvError(
                    f"external network '{name}' does not exist",
                    key=f"networks.{key}",
                    hint=f"create it: docker network create {name}",
                )
            spec = stack.networks.get(key) or {}
            api.create_network(
                name,
                driver=spec.get("driver") or "bridge",
                options=dict(spec.get("driver_opts") or {}) or None,
                internal=bool(spec.get("internal", False)),
                attachable=bool(spec.get("attachable", False)),
                labels=ds.network_labels(stack, key),
                check_duplicate=True,
            )
        for key in sorted(volumes):
            name = ds.volume_name(stack, key)
            try:
                api.inspect_volume(name)
                continue
            except docker.errors.NotFound:
                pass
            if ds.is_external(stack.volumes, key):
                raise DevenvError(
                    f"external volume '{name}' does not exist",
                    key=f"volumes.{key}",
                    hint=f"create it: docker volume create {name}",
                )
            spec = stack.volumes.get(key) or {}
            api.create_volume(
                name,
                driver=spec.get("driver") or "local",
                driver_opts=dict(spec.get("driver_opts") or {}) or None,
                labels=ds.volume_labels(stack, key),
            )


# -- devenv down --------------------------------------------------------------


@dataclass
class DownResult:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


def project_volumes(client: Any, stack: Stack) -> list[str]:
    """The volumes `down --volumes` would remove: labelled with the project, or
    declared (not external) in the stack and present."""
    found = client.api.volumes(filters={"label": f"{ds.PROJECT}={stack.name}"}) or {}
    names = {v["Name"] for v in found.get("Volumes") or ()}
    import docker.errors

    for key in stack.volumes:
        if ds.is_external(stack.volumes, key):
            continue
        name = ds.volume_name(stack, key)
        with contextlib.suppress(docker.errors.NotFound):
            client.api.inspect_volume(name)
            names.add(name)
    return sorted(names)


def down(
    stack: Stack,
    remove_volumes: bool,
    on_step: Callable[[str], None] | None = None,
) -> DownResult:
    """Stop and remove the project's containers and networks; volumes too when asked.

    Raises DockerUnavailableError when the engine cannot be reached."""
    import docker.errors

    client = connect()
    api = client.api
    step = on_step or (lambda _text: None)
    result = DownResult()
    flt = {"label": f"{ds.PROJECT}={stack.name}"}
    containers = api.containers(all=True, filters=flt)

    def remove(container: dict[str, Any]) -> str:
        name = str(container["Names"][0]).lstrip("/")
        service = (container.get("Labels") or {}).get(ds.SERVICE, "")
        grace = stack.services[service].stop_grace_period if service in stack.services else None
        with contextlib.suppress(docker.errors.NotFound):
            if container.get("State") == "running":
                api.stop(container["Id"], timeout=math.ceil(grace or ds.DEFAULT_STOP_GRACE))
            api.remove_container(container["Id"], v=remove_volumes, force=True)
        return name

    threads: list[threading.Thread] = []
    names: list[str] = []
    lock = threading.Lock()

    def run(container: dict[str, Any]) -> None:
        name = remove(container)
        with lock:
            names.append(name)
        step(f"removed container {name}")

    for container in containers:
        thread = threading.Thread(target=run, args=(container,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    result.containers = sorted(names)
    for network in api.networks(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(network["Id"])
            result.networks.append(network["Name"])
            step(f"removed network {network['Name']}")
    if remove_volumes:
        for name in project_volumes(client, stack):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(name, force=True)
                result.volumes.append(name)
                step(f"removed volume {name}")
    return result
