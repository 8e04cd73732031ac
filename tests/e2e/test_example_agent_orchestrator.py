"""examples/agent-orchestrator end to end.

Dev mode (the engine in-process, as `devenv start --container api` starts it):
PostgreSQL gets its schema from migrations/*.sql through
/docker-entrypoint-initdb.d; the api starts as a container, the scheduler and
three workers as local processes; jobs enqueued through the api are each
leased by exactly one worker (SKIP LOCKED) and the workers share them; a
schedule fires through the scheduler, which reaches the api at the address
devenv rewrote for it. Then the api is flipped to a local process and back
(`set_mode`, the UI's `m`), and after each flip a schedule fired through the
scheduler is done by a worker. Stopping leaves nothing running.

Containerized: the same images with the real `docker compose up --wait`,
three worker containers, the same leasing checks.

The images are built once per module (about a minute on 2 cores from
debian:bookworm-slim; seconds from Docker's cache) and removed at the end."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABEL, TEST_RUN
from example_engine import (
    IMAGE_TAG,
    ExampleImages,
    ahttp,
    clean_environ,
    compose_binary,
    leftovers,
    ready,
    require_modules,
    rewrites,
    running,
    unit,
    until,
    write_env,
)
from example_stack import copy_example, free_port, free_ports, health, http, remove_project
from example_stack import until as wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WORKERS = ("worker-1", "worker-2", "worker-3")


@pytest.fixture(scope="module")
def images(docker_client: Any) -> Iterator[ExampleImages]:
    built = ExampleImages(
        "agent-orchestrator", ("docker-compose.yml",), ("api", "scheduler", "worker")
    )
    built.build(docker_client)
    yield built
    built.remove(docker_client)


@pytest.fixture
def example(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, dict[str, int], str]]:
    require_modules(
        "fastapi",
        "uvicorn",
        "psycopg",
        "redis",
        "apscheduler",
        hint="bash .ci/toolchains.sh installs examples/agent-orchestrator/requirements.txt",
    )
    copy = copy_example("agent-orchestrator", tmp_path)
    project = f"dvtagent{uuid.uuid4().hex[:8]}"
    ports = {
        "POSTGRES_PORT": free_port(),
        "REDIS_PORT": free_port(),
        "API_PORT": free_port(),
        "SCHEDULER_PORT": free_port(),
        "WORKER_PORT": free_ports(3),
    }
    yield copy, ports, project
    remove_project(docker_client, project)


def jobs_done(api: str, ids: list[int]) -> list[dict[str, Any]] | None:
    jobs = []
    for job_id in ids:
        status, job = http("GET", f"{api}/jobs/{job_id}")
        if status != 200 or job["status"] != "done":
            return None
        jobs.append(job)
    return jobs


def assert_leased_once_each(jobs: list[dict[str, Any]]) -> set[str]:
    """Every job has exactly one lease (job_runs), and it ended `done`; the
    workers that took them."""
    for job in jobs:
        assert len(job["runs"]) == 1, job
        assert job["runs"][0]["outcome"] == "done", job
        assert job["attempts"] == 1, job
    return {job["runs"][0]["worker"] for job in jobs}


async def test_dev_mode_flip_the_api_while_the_scheduler_keeps_using_it(
    images: ExampleImages,
    example: tuple[Path, dict[str, int], str],
    docker_client: Any,
) -> None:
    copy, ports, project = example
    write_env(
        copy,
        {
            "COMPOSE_PROJECT_NAME": project,
            "IMAGE_TAG": IMAGE_TAG,
            "PYTHON": sys.executable,
            "HEALTH_INTERVAL": "1s",
            "TICK_SECONDS": "1",
            "POLL_SECONDS": "1",
            **ports,
        },
    )
    api = f"http://127.0.0.1:{ports['API_PORT']}"
    scheduler = f"http://127.0.0.1:{ports['SCHEDULER_PORT']}/health"
    async with running(copy, container=["api"]) as engine:
        await ready(engine, ["postgres", "redis", "api", "scheduler", *WORKERS], timeout=180)
        assert unit(engine, "api").kind == "container"
        assert {unit(engine, w).kind for w in WORKERS} == {"process"}

        # The schema came from migrations/*.sql, run by the image's first start.
        status, body = await ahttp("GET", f"{api}/health")
        assert status == 200 and body["migrations"] == ["0001", "0002"], body
        assert body["version"] == "container"

        # Twelve jobs through the api: each leased by exactly one worker, shared out.
        ids = []
        for n in range(12):
            status, job = await ahttp(
                "POST", f"{api}/jobs", {"kind": "sleep", "payload": {"seconds": 0.2, "n": n}}
            )
            assert status == 201, job
            ids.append(job["id"])
        jobs = await until(lambda: jobs_done(api, ids), 60, "12 jobs done")
        workers = assert_leased_once_each(jobs)
        assert len(workers) >= 2, workers  # 12 jobs of 0.2 s: more than one worker took some
        assert {w.split(":")[0] for w in workers} <= set(WORKERS)

        # The scheduler (local) reaches the api (container) at its published port.
        api_url = ("http://api:8080", f"http://127.0.0.1:{ports['API_PORT']}")
        assert rewrites(engine, "scheduler")["API_URL"] == api_url
        assert rewrites(engine, "worker-1")["DATABASE_URL"] == (
            "postgresql://orchestrator:orchestrator@postgres:5432/orchestrator",
            f"postgresql://orchestrator:orchestrator@127.0.0.1:{ports['POSTGRES_PORT']}/orchestrator",
        )

        async def schedule_fires(name: str) -> None:
            """A schedule fires through the scheduler -> api -> a worker does the job."""
            status, created = await ahttp(
                "POST",
                f"{api}/schedules",
                {
                    "name": name,
                    "kind": "summarise",
                    "every_seconds": 3600,
                    "payload": {"text": f"{name}. The rest."},
                },
            )
            assert status == 201, created

            def done() -> dict[str, Any] | None:
                status, listed = http("GET", f"{api}/jobs?limit=100")
                if status != 200:
                    return None
                for job in listed:
                    if job["schedule_id"] == created["id"] and job["status"] == "done":
                        return job
                return None

            job = await until(done, 30, f"the job of schedule {name} done")
            assert job["result"]["summary"] == f"{name}."
            assert (health(scheduler) or {}).get("api") == "ok"

        await schedule_fires("before")

        # Flip the api to a local process: the scheduler keeps working with it.
        await engine.set_mode("api", "process")
        assert unit(engine, "api").kind == "process"
        await ready(engine, ["api", "scheduler"], timeout=60)
        status, body = await ahttp("GET", f"{api}/health")
        assert status == 200 and body["version"] == "dev" and body["pid"] == unit(engine, "api").pid
        assert rewrites(engine, "api")["DATABASE_URL"][1].endswith(
            f"@127.0.0.1:{ports['POSTGRES_PORT']}/orchestrator"
        )
        assert rewrites(engine, "scheduler")["API_URL"] == api_url  # same port either way
        await schedule_fires("local")

        # ...and back to its container.
        await engine.set_mode("api", "container")
        assert unit(engine, "api").kind == "container"
        await ready(engine, ["api"], timeout=90)
        status, body = await ahttp("GET", f"{api}/health")
        assert status == 200 and body["version"] == "container", body
        await schedule_fires("container-again")
    assert leftovers(copy, docker_client, project) == []


def test_containerized_with_docker_compose(
    images: ExampleImages, tmp_path: Path, docker_client: Any
) -> None:
    copy = copy_example("agent-orchestrator", tmp_path)
    project = f"dvtagentc{uuid.uuid4().hex[:8]}"
    labels = {TEST_LABEL: TEST_RUN}
    (copy / "test-labels.yml").write_text(
        "services:\n"
        + "".join(
            f"  {name}: {{labels: {{{TEST_LABEL}: {TEST_RUN}}}}}\n"
            for name in ("postgres", "redis", "api", "scheduler", "worker")
        )
        + f"networks:\n  orchestrator: {{labels: {labels}}}\n"
        + f"volumes:\n  postgres_data: {{labels: {labels}}}\n  redis_data: {{labels: {labels}}}\n"
    )
    api_port = free_port()
    env = clean_environ(
        COMPOSE_PROJECT_NAME=project,
        IMAGE_TAG=IMAGE_TAG,
        API_PORT=str(api_port),
        POSTGRES_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
        HEALTH_INTERVAL="1s",
        TICK_SECONDS="1",
        POLL_SECONDS="1",
    )
    compose = [compose_binary(), "-f", "docker-compose.yml", "-f", "test-labels.yml"]
    try:
        up = subprocess.run(
            [*compose, "up", "--detach", "--wait", "--no-build", "--wait-timeout", "180"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if up.returncode != 0:
            logs = subprocess.run(
                [*compose, "logs", "--no-color", "--tail", "30"],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
            pytest.fail(f"docker compose up failed:\n{up.stderr[-3000:]}\n{logs[-5000:]}")
        workers = docker_client.containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={project}",
                    "com.docker.compose.service=worker",
                ]
            }
        )
        assert len(workers) == 3
        for container in workers:
            container.reload()
            assert container.attrs["State"]["Health"]["Status"] == "healthy", container.name
        api = f"http://127.0.0.1:{api_port}"
        status, body = http("GET", f"{api}/health")
        assert status == 200 and body["migrations"] == ["0001", "0002"], body

        ids = []
        for n in range(12):
            status, job = http(
                "POST", f"{api}/jobs", {"kind": "sleep", "payload": {"seconds": 0.2, "n": n}}
            )
            assert status == 201, job
            ids.append(job["id"])
        jobs = wait_until(lambda: jobs_done(api, ids), 60, "12 jobs done")
        taken_by = assert_leased_once_each(jobs)
        assert len(taken_by) >= 2, taken_by
        hostnames = {c.attrs["Config"]["Hostname"] for c in workers}
        assert {w.split("@")[1].split(":")[0] for w in taken_by} <= hostnames

        status, alive = http("GET", f"{api}/workers")
        assert status == 200 and len(alive["alive"]) == 3, alive

        # The scheduler container reaches the api container by its service name.
        status, created = http(
            "POST",
            f"{api}/schedules",
            {"name": "compose", "kind": "echo", "every_seconds": 3600, "payload": {"x": 1}},
        )
        assert status == 201, created
        wait_until(
            lambda: any(
                j["schedule_id"] == created["id"] and j["status"] == "done"
                for j in http("GET", f"{api}/jobs?limit=50")[1] or []
            ),
            30,
            "the scheduled job done",
        )
    finally:
        subprocess.run(
            [*compose, "down", "--volumes", "--timeout", "5"],
            cwd=copy,
            env=env,
            capture_output=True,
            timeout=180,
        )
        remove_project(docker_client, project)
