"""examples/ado end to end, as its README runs it: a copy of the example,
`devenv init`, `devenv -f docker-compose.dev.yaml start --no-tui`. The four
TypeScript services install their packages (`npm ci`, a build step that runs
when the lockfile changed, and at the first build), bundle with esbuild and
start in the seed's phases: postgres and redis healthy -> orchestrator ->
api-gateway and worker -> dashboard. A task goes in through the api-gateway, a
worker does it, its result is readable (and shown by the dashboard, and sent
over the WebSocket); an edit to the gateway's source rebuilds and replaces only
it; a syntax error leaves the old instance answering with esbuild's error in
its log; a fix brings the new instance; SIGTERM leaves nothing running."""

from __future__ import annotations

import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from example_stack import (
    EXAMPLES,
    DevenvRun,
    WebSocket,
    alive,
    copy_example,
    devenv_init,
    free_port,
    health,
    holds,
    http,
    processes_under,
    remove_project,
    require_paths,
    require_tools,
    until,
    until_healthy,
)

pytestmark = [pytest.mark.slow]

SERVICES = ("orchestrator", "api-gateway", "worker", "dashboard")
VERSION_LINE = 'const VERSION = "dev";'


@pytest.fixture
def example(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, dict[str, int], str]]:
    require_tools("node", "npm")
    copy = copy_example("ado", tmp_path, ignore=["node_modules"])
    project = f"dvtado{uuid.uuid4().hex[:8]}"
    ports = {
        name: free_port()
        for name in (
            "POSTGRES_PORT",
            "REDIS_PORT",
            "API_PORT",
            "WS_PORT",
            "DASHBOARD_PORT",
            "ORCHESTRATOR_PORT",
            "WORKER_PORT",
        )
    }
    yield copy, ports, project
    remove_project(docker_client, project)


@pytest.mark.parametrize("service", SERVICES)
def test_typescript_typechecks(service: str) -> None:
    directory = EXAMPLES / "ado" / "services" / service
    require_tools("node", "npm")
    require_paths(directory / "node_modules", hint="bash .ci/toolchains.sh runs npm ci")
    result = subprocess.run(
        ["npm", "run", "--silent", "typecheck"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.docker
def test_dev_mode_with_devenv(
    example: tuple[Path, dict[str, int], str], docker_client: Any
) -> None:
    copy, ports, project = example
    compose = ["-f", "docker-compose.dev.yaml"]
    devenv_init(copy, compose, {"COMPOSE_PROJECT_NAME": project, "HEALTH_INTERVAL": "1s", **ports})

    run = DevenvRun(copy, compose).start()
    api = f"http://127.0.0.1:{ports['API_PORT']}"
    endpoints = {
        "orchestrator": f"http://127.0.0.1:{ports['ORCHESTRATOR_PORT']}/health",
        "api-gateway": f"{api}/health",
        "worker": f"http://127.0.0.1:{ports['WORKER_PORT']}/health",
        "dashboard": f"http://127.0.0.1:{ports['DASHBOARD_PORT']}/health",
    }
    pids: dict[str, int] = {}
    try:
        up = until_healthy(run, endpoints, timeout=300)
        pids = {name: body["pid"] for name, body in up.items()}
        assert up["orchestrator"]["workers"] >= 1  # the worker registered
        assert up["api-gateway"]["orchestrator"] == "ok"

        # The phases: each service started only once what it needs was ready.
        until(lambda: ("dashboard", "ready") in run.states(), 30, "dashboard ready")
        run.assert_started_after_ready("orchestrator", ["postgres", "redis"])
        run.assert_started_after_ready("api-gateway", ["postgres", "redis", "orchestrator"])
        run.assert_started_after_ready("worker", ["postgres", "redis", "orchestrator"])
        run.assert_started_after_ready("dashboard", ["api-gateway"])
        assert "schema is up to date" in run.unit_log("orchestrator")

        # A task through the gateway, done by the worker, read back three ways.
        events = WebSocket(ports["WS_PORT"], "/")
        task = submit_and_wait(api, "review the compose files of ADO")
        assert task["result"]["words"] == 6 and task["worker"].endswith(f":{pids['worker']}")
        events.messages_until(
            lambda m: m.get("event") == "task.done" and m.get("id") == task["id"], 10
        )
        events.close()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{ports['DASHBOARD_PORT']}/", timeout=5
        ) as page:
            assert "review the compose files of ADO" in page.read().decode()

        # An edit to the gateway: rebuilt, and the new bundle answers.
        source = copy / "services" / "api-gateway" / "src" / "main.ts"
        original = source.read_text()
        assert VERSION_LINE in original
        source.write_text(original.replace(VERSION_LINE, 'const VERSION = "edited-1";'))
        first = until(
            lambda: (h := health(endpoints["api-gateway"])) and h["version"] == "edited-1" and h,
            timeout=60,
            what="the rebuilt api-gateway",
        )
        assert first["pid"] != pids["api-gateway"]
        until(lambda: not alive(pids["api-gateway"]), 10, "the old api-gateway gone")
        for name in ("orchestrator", "worker"):  # they did not restart
            assert (health(endpoints[name]) or {}).get("pid") == pids[name], name

        # A syntax error: esbuild fails, the old gateway keeps answering, the
        # error is in its log.
        source.write_text(original.replace(VERSION_LINE, 'const VERSION = "edited-2" +;'))
        until(
            lambda: "[ERROR]" in run.unit_log("api-gateway"),
            timeout=60,
            what="esbuild's error in .devenv/logs/api-gateway.log",
        )
        assert "src/main.ts:" in run.unit_log("api-gateway")
        holds(
            lambda: (h := health(endpoints["api-gateway"])) and h["pid"] == first["pid"],
            seconds=2,
            what="the last good api-gateway answering",
        )

        # The fix brings the new instance, and tasks go through it.
        source.write_text(original.replace(VERSION_LINE, 'const VERSION = "edited-3";'))
        fixed = until(
            lambda: (h := health(endpoints["api-gateway"])) and h["version"] == "edited-3" and h,
            timeout=60,
            what="the fixed api-gateway",
        )
        assert fixed["pid"] != first["pid"]
        assert submit_and_wait(api, "after the fix")["status"] == "done"
        pids["api-gateway-edited"] = first["pid"]
        pids["api-gateway-fixed"] = fixed["pid"]
    finally:
        code = run.stop()
    output = run.output()
    assert code in (0, 130, 143, -15), output[-3000:]
    for name, pid in pids.items():
        assert not alive(pid), f"{name} (pid {pid}) still running\n{output[-3000:]}"
    assert processes_under(copy) == []
    running = docker_client.containers.list(
        filters={"label": f"com.docker.compose.project={project}"}
    )
    assert running == [], [c.name for c in running]


def submit_and_wait(api: str, prompt: str) -> dict[str, Any]:
    status, body = http("POST", f"{api}/api/tasks", {"prompt": prompt})
    assert status == 202 and body["status"] == "queued", body
    task_id = body["id"]
    _, task = until(
        lambda: (
            (r := http("GET", f"{api}/api/tasks/{task_id}"))[0] == 200
            and r[1]["status"] == "done"
            and r
        ),
        timeout=30,
        what=f"task {task_id} done",
    )
    result: dict[str, Any] = task
    return result
