"""End to end, as a new developer would: a copy of the repository, `devenv init`,
`devenv start api worker --no-tui`; the api answers, the worker does a job, an
edit under demo/ reloads the api and nothing else, and SIGTERM leaves nothing
running behind — no process, no container."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS
from example_stack import alive, devenv_init, http, processes_under, until
from hostports import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DEMO_FILES = ("compose.yaml", "compose", "demo", ".env.example", ".gitignore")


@pytest.fixture
def demo(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, str, int]]:
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in DEMO_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    project = f"dvt{uuid.uuid4().hex[:8]}"
    yield copy, project, free_port()
    flt = {"label": f"com.docker.compose.project={project}"}
    for container in docker_client.containers.list(all=True, filters=flt):
        container.remove(force=True, v=True)
    for network in docker_client.networks.list(filters=flt):
        network.remove()
    for volume in docker_client.volumes.list(filters=flt):
        volume.remove(force=True)


def test_new_developer_flow(demo: tuple[Path, str, int], docker_client: Any) -> None:
    copy, project, api_port = demo
    env = {**os.environ, "DEVENV_EXTRA_LABELS": TEST_LABELS}
    values = {
        "COMPOSE_PROJECT_NAME": project,
        "POSTGRES_PORT": free_port(),
        "REDIS_PORT": free_port(),
        "API_PORT": api_port,
        "PYTHON": sys.executable,
    }
    devenv_init(copy, [], values, environ=env)

    log_path = copy / "devenv.log"
    with log_path.open("wb") as log:
        devenv = subprocess.Popen(
            [sys.executable, "-m", "devenv", "start", "api", "worker", "--no-tui"],
            cwd=copy,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{api_port}"
    try:
        _, health = until(
            lambda: (r := http("GET", f"{base}/health"))[0] == 200 and r,
            timeout=120,
            what="GET /health",
        )
        assert health["status"] == "ok" and health["database"] == "ok" and health["redis"] == "ok"
        api_pid = health["pid"]

        job = post_job_and_wait(base, "hello from the e2e test")
        assert job["result"] == {"words": 5, "upper": "HELLO FROM THE E2E TEST"}
        worker_pid = job["worker_pid"]

        containers = docker_client.containers.list(
            filters={"label": f"com.docker.compose.project={project}"}
        )
        assert sorted(c.name for c in containers) == [
            f"{project}-postgres-1",
            f"{project}-redis-1",
        ]
        started = {c.name: c.attrs["State"]["StartedAt"] for c in containers}

        source = copy / "demo" / "api" / "__main__.py"
        source.write_text(source.read_text() + "\n# edited by the e2e test\n")
        _, health = until(
            lambda: (r := http("GET", f"{base}/health"))[0] == 200 and r[1]["pid"] != api_pid and r,
            timeout=30,
            what="the api restarted with a new pid",
        )
        assert not alive(api_pid)
        new_api_pid = health["pid"]

        again = post_job_and_wait(base, "after the reload")
        assert again["worker_pid"] == worker_pid  # the worker was not restarted
        for container in containers:
            container.reload()
            assert container.attrs["State"]["StartedAt"] == started[container.name]
    finally:
        if devenv.poll() is None:
            devenv.send_signal(signal.SIGTERM)
        try:
            code = devenv.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(devenv.pid, signal.SIGKILL)
            raise
    output = log_path.read_text(errors="replace")
    assert code in (0, 130, 143, -signal.SIGTERM), output[-3000:]
    for pid in (api_pid, new_api_pid, worker_pid):
        assert not alive(pid), f"pid {pid} still running\n{output[-3000:]}"
    assert processes_under(copy) == []
    assert output.count("migrate: schema is up to date") == 1  # not re-run by the reload
    running = docker_client.containers.list(
        filters={"label": f"com.docker.compose.project={project}"}
    )
    assert running == [], [c.name for c in running]
    kept = docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
    assert len(kept) == 2  # stopped, not removed: the next start reuses them


def post_job_and_wait(base: str, text: str) -> dict[str, Any]:
    status, body = http("POST", f"{base}/jobs", {"text": text})
    assert status == 202 and body["status"] == "queued", body
    job_id = body["id"]
    _, job = until(
        lambda: (
            (r := http("GET", f"{base}/jobs/{job_id}"))[0] == 200 and r[1]["status"] == "done" and r
        ),
        timeout=30,
        what=f"job {job_id} done",
    )
    result: dict[str, Any] = job
    return result
