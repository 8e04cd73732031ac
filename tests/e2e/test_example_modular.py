"""examples/modular end to end, in dev mode (the engine in-process, as
`devenv start --container nestjs-api` starts it at the stack's root, whose
docker-compose.yml includes the development environment, which extends the
service files).

Redis (with its password) and the nestjs-api run as containers; the
fastify-api, the gateway and the frontend as local processes, each installed
(`npm ci`) and bundled (esbuild) by its build steps. MongoDB, Ollama and
Prometheus are in profiles and not needed: the APIs say so in /health. A
request goes frontend -> gateway -> each API -> Redis.

Then the nestjs-api is flipped to a local process and back while the gateway
(local) keeps serving through it: the gateway's address for it was rewritten
to 127.0.0.1:<port> both ways, so the gateway is not even restarted; the items
live in Redis and survive each flip. `devenv config --resolved --json` shows
the same rewrites. Stopping leaves nothing running.

The nestjs-api image is built once per module (development target) and
removed at the end."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from example_engine import (
    IMAGE_TAG,
    ExampleImages,
    ahttp,
    clean_environ,
    leftovers,
    ready,
    rewrites,
    running,
    unit,
    write_env,
)
from example_stack import REPO, copy_example, free_port, remove_project, require_tools

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APPS = ("fastify-api", "gateway", "frontend")


@pytest.fixture(scope="module")
def images(docker_client: Any) -> Iterator[ExampleImages]:
    built = ExampleImages("modular", ("docker-compose.yml",), ("nestjs-api",))
    built.build(docker_client)
    yield built
    built.remove(docker_client)


@pytest.fixture
def example(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, dict[str, int], str]]:
    require_tools("node", "npm")
    copy = copy_example("modular", tmp_path, ignore=["node_modules"])
    project = f"dvtmodular{uuid.uuid4().hex[:8]}"
    ports = {
        name: free_port()
        for name in ("REDIS_PORT", "NESTJS_PORT", "FASTIFY_PORT", "GATEWAY_PORT", "FRONTEND_PORT")
    }
    write_env(
        copy,
        {"COMPOSE_PROJECT_NAME": project, "IMAGE_TAG": IMAGE_TAG, "HEALTH_INTERVAL": "1s", **ports},
    )
    yield copy, ports, project
    remove_project(docker_client, project)


def resolved(copy: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "devenv", "config", "--resolved", "--json", *args],
        cwd=copy,
        env=clean_environ(PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_resolved_environments_follow_the_modes(
    example: tuple[Path, dict[str, int], str],
) -> None:
    copy, ports, _ = example
    container = resolved(copy, "--container", "nestjs-api")
    local = resolved(copy)
    for data in (container, local):
        gateway = {r["variable"]: r for r in data["gateway"]["rewrites"]}
        assert gateway["NESTJS_API_URL"]["before"] == "http://nestjs-api:4001"
        assert gateway["NESTJS_API_URL"]["after"] == f"http://127.0.0.1:{ports['NESTJS_PORT']}"
        assert gateway["REDIS_URL"]["after"] == f"redis://:redis123@127.0.0.1:{ports['REDIS_PORT']}"
    assert container["nestjs-api"]["mode"] == "container"
    assert container["nestjs-api"]["rewrites"] == []  # container to container: as written
    assert local["nestjs-api"]["mode"] == "local"
    # MongoDB is not enabled (its profile is off): its address is left alone.
    assert local["nestjs-api"]["environment"]["MONGODB_URI"].startswith("mongodb://admin:")
    assert "@mongodb:27017/" in local["nestjs-api"]["environment"]["MONGODB_URI"]


async def test_dev_mode_flip_the_nestjs_api_while_the_gateway_keeps_serving(
    images: ExampleImages,
    example: tuple[Path, dict[str, int], str],
    docker_client: Any,
) -> None:
    copy, ports, project = example
    frontend = f"http://127.0.0.1:{ports['FRONTEND_PORT']}"
    nest = f"http://127.0.0.1:{ports['NESTJS_PORT']}"
    names: list[str] = []

    async def item_through_the_gateway(name: str) -> dict[str, Any]:
        status, item = await ahttp("POST", f"{frontend}/api/nest/items", {"name": name})
        assert status == 201, item
        names.append(name)
        status, listed = await ahttp("GET", f"{frontend}/api/nest/items")
        assert status == 200 and [i["name"] for i in listed] == names, listed
        return item  # type: ignore[no-any-return]

    async with running(copy, container=["nestjs-api"]) as engine:
        await ready(engine, ["redis", "nestjs-api", *APPS], timeout=300)
        status, body = await ahttp("GET", f"{nest}/health")
        assert status == 200 and body["redis"] == "ok", body
        assert body["mongodb"] == "optional: not running (the database profile)"
        first = await item_through_the_gateway("made while it runs in its container")
        assert first["instance"] == "nestjs-api pid 1"  # the container's own process
        status, answer = await ahttp("POST", f"{frontend}/api/ai/generate", {"prompt": "a b ccc"})
        assert status == 200 and answer["model"] == "stand-in", answer
        assert rewrites(engine, "gateway")["NESTJS_API_URL"] == ("http://nestjs-api:4001", nest)
        gateway = unit(engine, "gateway")

        await engine.set_mode("nestjs-api", "process")
        assert unit(engine, "nestjs-api").kind == "process"
        await ready(engine, ["nestjs-api", "gateway"], timeout=120)
        second = await item_through_the_gateway("made while it runs locally")
        assert second["instance"] == f"nestjs-api pid {unit(engine, 'nestjs-api').pid}"
        assert rewrites(engine, "nestjs-api")["REDIS_URL"] == (
            "redis://:redis123@redis:6379",
            f"redis://:redis123@127.0.0.1:{ports['REDIS_PORT']}",
        )
        assert rewrites(engine, "gateway")["NESTJS_API_URL"] == ("http://nestjs-api:4001", nest)
        assert unit(engine, "gateway").pid == gateway.pid  # same address: no restart needed

        await engine.set_mode("nestjs-api", "container")
        assert unit(engine, "nestjs-api").kind == "container"
        await ready(engine, ["nestjs-api"], timeout=120)
        third = await item_through_the_gateway("made in its container again")
        assert third["instance"] == "nestjs-api pid 1"
        assert unit(engine, "gateway").pid == gateway.pid
        status, stats = await ahttp("GET", f"http://127.0.0.1:{ports['GATEWAY_PORT']}/api/stats")
        assert status == 200 and int(stats["requests"]["/api/nest"]) >= 6, stats
    assert leftovers(copy, docker_client, project) == []
