"""examples/orchestrator's production file with the real `docker compose`: the
images are built from debian:bookworm-slim with Debian's Go toolchain (no Go
module proxy, no other registry), everything starts healthy with its replicas,
and a run goes through every worker, with its events on fanout's WebSocket.

Slow the first time on a machine (about 4 minutes on 2 shared cores: Debian's
Go toolchain is installed in the build stage, then the five binaries are
compiled once); later runs reuse Docker's build cache (3 s when nothing
changed). The test removes its containers,
volumes, network and images."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABEL, TEST_RUN
from example_stack import (
    WebSocket,
    copy_example,
    free_port,
    health,
    http,
    remove_project,
    require_tools,
    until,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SERVICES = (
    "postgres",
    "redis",
    "orchestrator",
    "workflow-runner",
    "http-worker",
    "hitl-worker",
    "agent-runner",
    "fanout",
)


@pytest.fixture
def production(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, str, dict[str, str]]]:
    require_tools("docker-compose")
    copy = copy_example("orchestrator", tmp_path)
    # Every container, network and volume carries this run's test label, so the
    # session's sweep finds them even if this test dies half-way.
    labels = {TEST_LABEL: TEST_RUN}
    override = {
        "services": {name: {"labels": labels} for name in SERVICES},
        "networks": {"orchestrator-net": {"labels": labels}},
        "volumes": {"postgres_data": {"labels": labels}, "redis_data": {"labels": labels}},
    }
    (copy / "test-labels.yml").write_text(json.dumps(override))
    project = f"dvtorchprod{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "ORCHESTRATOR_PORT": str(free_port()),
        "FANOUT_PORT": str(free_port()),
        "POSTGRES_PORT": str(free_port()),
        "REDIS_PORT": str(free_port()),
        "HEALTH_INTERVAL": "1s",
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "HTTP_WORKER_REPLICAS": "2",
        "AGENT_WORKER_REPLICAS": "2",
    }
    for name in ("COMPOSE_FILE", "COMPOSE_PROFILES", "DOCKER_DEFAULT_PLATFORM"):
        env.pop(name, None)
    yield copy, project, env
    subprocess.run(
        [*compose_cmd(), "down", "--volumes", "--rmi", "local", "--timeout", "5"],
        cwd=copy,
        env=env,
        capture_output=True,
        timeout=300,
    )
    remove_project(docker_client, project)
    for image in docker_client.images.list():
        if any(tag.startswith(f"{project}-") for tag in image.tags):
            docker_client.images.remove(image.id, force=True)


def compose_cmd() -> list[str]:
    binary = shutil.which("docker-compose") or "docker-compose"
    return [binary, "-f", "docker-compose.yml", "-f", "test-labels.yml"]


def test_production_compose_builds_and_runs(
    production: tuple[Path, str, dict[str, str]], docker_client: Any
) -> None:
    copy, project, env = production
    began = time.monotonic()
    build = subprocess.run(
        [*compose_cmd(), "build"], cwd=copy, env=env, capture_output=True, text=True, timeout=1500
    )
    built = time.monotonic() - began
    assert build.returncode == 0, build.stderr[-5000:]
    print(f"docker compose build: {built:.0f} s")  # shown with -s; the README quotes it

    up = subprocess.run(
        [*compose_cmd(), "up", "--detach", "--wait", "--wait-timeout", "240"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    logs = ""
    if up.returncode != 0:
        logs = subprocess.run(
            [*compose_cmd(), "logs", "--no-color", "--tail", "30"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    assert up.returncode == 0, up.stderr[-3000:] + logs[-5000:]

    containers = docker_client.containers.list(
        filters={"label": f"com.docker.compose.project={project}"}
    )
    by_service: dict[str, list[Any]] = {}
    for container in containers:
        by_service.setdefault(container.labels["com.docker.compose.service"], []).append(container)
    assert {name: len(items) for name, items in by_service.items()} == {
        "postgres": 1,
        "redis": 1,
        "orchestrator": 1,
        "workflow-runner": 1,
        "http-worker": 2,
        "hitl-worker": 1,
        "agent-runner": 2,
        "fanout": 1,
    }
    for container in containers:
        assert container.attrs["State"]["Health"]["Status"] == "healthy", container.name
        assert container.attrs["Config"]["Image"].startswith(
            (f"{project}-", "postgres:", "redis:")
        ), container.attrs["Config"]["Image"]
    go_image = docker_client.images.get(f"{project}-orchestrator")
    assert go_image.attrs["Config"]["User"] == "app"  # non-root

    orchestrator = f"http://127.0.0.1:{env['ORCHESTRATOR_PORT']}"
    body = health(f"{orchestrator}/health")
    assert body is not None and body["version"] == "prod" and body["database"] == "ok"
    fanout = f"http://127.0.0.1:{env['FANOUT_PORT']}"
    events = WebSocket(int(env["FANOUT_PORT"]), "/ws")
    until(lambda: (health(f"{fanout}/health") or {}).get("clients") == 1, 10, "fanout client")

    steps = [
        {"type": "http", "input": {"url": "http://orchestrator:8081/health"}},
        {"type": "agent", "input": {"prompt": "Summarise the production check"}},
        {"type": "approval", "input": {"prompt": "Ship it?"}},
    ]
    status, created = http("POST", f"{orchestrator}/api/runs", {"workflow": "prod", "steps": steps})
    assert status == 202, created
    run_id = created["id"]
    until(
        lambda: (
            (r := http("GET", f"{orchestrator}/api/runs/{run_id}"))[1]
            and r[1]["status"] == "waiting_approval"
        ),
        timeout=60,
        what="the run waiting for approval",
    )
    status, _ = http(
        "POST", f"{orchestrator}/api/runs/{run_id}/approve", {"approved": True, "by": "ops"}
    )
    assert status == 202
    _, done = until(
        lambda: (
            (r := http("GET", f"{orchestrator}/api/runs/{run_id}"))[1]
            and r[1]["status"] == "completed"
            and r
        ),
        timeout=60,
        what="the run completed",
    )
    http_step, agent_step, approval = done["steps"]
    assert http_step["result"]["status_code"] == 200
    assert agent_step["result"]["stand_in"] is True
    assert approval["result"] == {"approved": True, "by": "ops"}
    seen = events.messages_until(lambda m: m.get("run_status") == "completed", 10)
    assert any(m["event"] == "run.queued" for m in seen)
    events.close()
