"""One definition, two ways to run it, on the real engine: Redis runs as a
container, is flipped to a local redis-server and back, while a local web
service that talks to it keeps answering; the address in the web service's
environment follows each flip (and is shown as a rewrite)."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS, docker_required
from container_helpers import cleanup, free_port, project_name
from engine_support import hang_guard, unit_info, wait_state, wait_until  # noqa: F401

from devenv.config import LoadOptions, load_stack
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.errors import DevenvError
from devenv.events import UnitState
from devenv.runtime.docker_connect import forget_clients

pytestmark = pytest.mark.docker
S = UnitState

WEB = """
import http.server, os, redis
client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        count = client.incr("hits")
        body = f"{count} via {os.environ['REDIS_URL']}".encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture
def project(tmp_path: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if shutil.which("redis-server") is None:
        message = "redis-server not installed (bash .ci/toolchains.sh installs it)"
        if docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    name = project_name()
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", name)
    monkeypatch.setenv("DEVENV_EXTRA_LABELS", TEST_LABELS)
    forget_clients()
    yield tmp_path
    cleanup(docker_client, name)


def get(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as response:
            return str(response.read().decode())
    except OSError:
        return ""


async def test_flip_a_container_to_local_and_back(project: Path) -> None:
    published, local, web = free_port(), free_port(), free_port()
    (project / "web.py").write_text(textwrap.dedent(WEB))
    (project / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            services:
              redis:
                image: redis:7-alpine
                ports: ["127.0.0.1:{published}:6379"]
                healthcheck: {{test: ["CMD", "redis-cli", "ping"], interval: 1s}}
                x-devenv:
                  mode: container
                  run: redis-server --port {local} --save "" --appendonly no
                  ports: [{local}]
              web:
                depends_on: {{redis: {{condition: service_healthy}}}}
                environment:
                  REDIS_URL: redis://redis:6379/0
                x-devenv:
                  run: {sys.executable} web.py
                  ports: [{web}]
            """
        )
    )
    stack = load_stack(LoadOptions(cwd=project, environ=dict(os.environ)))
    engine = Engine(stack, EngineOptions(state_dir=project / ".devenv", watch=False))
    try:
        await engine.start()
        await wait_state(engine, "web", S.READY, timeout=60)
        assert unit_info(engine, "redis").kind == "container"
        assert get(web).endswith(f"via redis://127.0.0.1:{published}/0")
        rewrite = unit_info(engine, "web").rewrites[0]
        assert (rewrite.variable, rewrite.before, rewrite.after) == (
            "REDIS_URL",
            "redis://redis:6379/0",
            f"redis://127.0.0.1:{published}/0",
        )

        await engine.set_mode("redis", "process")
        assert unit_info(engine, "redis").kind == "process"
        await wait_state(engine, "web", S.READY, timeout=30)
        await wait_until(lambda: get(web).endswith(f"127.0.0.1:{local}/0"), 30, "web follows")
        assert unit_info(engine, "web").rewrites[0].after == f"redis://127.0.0.1:{local}/0"

        await engine.set_mode("redis", "container")
        await wait_until(lambda: get(web).endswith(f"127.0.0.1:{published}/0"), 60, "and back")
        assert unit_info(engine, "redis").kind == "container"
        with pytest.raises(DevenvError, match="no image or build"):
            await engine.set_mode("web", "container")  # it can only run locally
    finally:
        await engine.shutdown()


async def test_a_container_that_addresses_a_flipped_service_is_recreated_with_its_new_address(
    project: Path, docker_client: Any
) -> None:
    """The dependent is a container: when what it addresses becomes a local
    process, it is recreated with host.docker.internal in its environment (not
    restarted with the address it was created with), and back."""
    published, local = free_port(), free_port()
    (project / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            services:
              redis:
                image: redis:7-alpine
                ports: ["127.0.0.1:{published}:6379"]
                healthcheck: {{test: ["CMD", "redis-cli", "ping"], interval: 1s}}
                x-devenv:
                  mode: container
                  run: redis-server --port {local} --save "" --appendonly no
                  ports: [{local}]
              client:
                image: redis:7-alpine
                command: ["sleep", "3600"]
                depends_on: {{redis: {{condition: service_healthy}}}}
                environment:
                  REDIS_URL: redis://redis:6379/0
            """
        )
    )

    def container_env() -> list[str]:
        flt = {"label": f"com.docker.compose.project={os.environ['COMPOSE_PROJECT_NAME']}"}
        for container in docker_client.containers.list(filters=flt):
            if container.labels.get("com.docker.compose.service") == "client":
                return list(container.attrs["Config"]["Env"])
        return []

    stack = load_stack(LoadOptions(cwd=project, environ=dict(os.environ)))
    engine = Engine(stack, EngineOptions(state_dir=project / ".devenv", watch=False))
    try:
        await engine.start()
        await wait_state(engine, "client", S.READY, timeout=60)
        assert "REDIS_URL=redis://redis:6379/0" in container_env()

        await engine.set_mode("redis", "process")
        flipped = f"REDIS_URL=redis://host.docker.internal:{local}/0"
        await wait_until(lambda: flipped in container_env(), 60, "client recreated")
        await wait_state(engine, "client", S.READY, timeout=30)
        assert unit_info(engine, "client").rewrites[0].after == flipped.split("=", 1)[1]

        await engine.set_mode("redis", "container")
        await wait_until(
            lambda: "REDIS_URL=redis://redis:6379/0" in container_env(), 60, "and back"
        )
    finally:
        await engine.shutdown()
