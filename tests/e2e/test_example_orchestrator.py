"""examples/orchestrator end to end, as its README runs it: a copy of the
example, `devenv init`, `devenv -f docker-compose.dev.yml start --no-tui` (devenv
always enables the `devenv` profile the services are in). PostgreSQL and Redis
come up in containers, then the Go services (built with `x-devenv.build`) and
the Python agent-runner as local processes, in dependency order; a run goes
through every worker; an edit to a Go source rebuilds and replaces only that
service; a broken edit leaves the old instance answering with the compiler's
error in the service's log; a fix brings the new one; SIGTERM leaves no process
and no running container.

The production compose file is built and run with the real `docker compose`
in test_example_orchestrator_production.py."""

from __future__ import annotations

import os
import subprocess
import sys
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
    free_ports,
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

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GO_LIBS = Path("/usr/share/gocode/src/github.com")
VERSION_LINE = 'var version = "dev"'


@pytest.fixture
def example(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, dict[str, int], str]]:
    require_tools("go")
    require_paths(
        GO_LIBS / "lib" / "pq",
        GO_LIBS / "gomodule" / "redigo",
        GO_LIBS / "gorilla" / "websocket",
        hint="bash .ci/toolchains.sh installs Debian's golang-github-* packages",
    )
    copy = copy_example("orchestrator", tmp_path)
    project = f"dvtorch{uuid.uuid4().hex[:8]}"
    ports = {
        "POSTGRES_PORT": free_port(),
        "REDIS_PORT": free_port(),
        "ORCHESTRATOR_PORT": free_port(),
        "WORKFLOW_RUNNER_PORT": free_port(),
        "HITL_WORKER_PORT": free_port(),
        "FANOUT_PORT": free_port(),
        "HTTP_WORKER_PORT": free_ports(2),
        "AGENT_RUNNER_PORT": free_ports(2),
    }
    yield copy, ports, project
    remove_project(docker_client, project)


def test_agent_runner_refuses_to_start_without_an_api_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "agent_runner"],
        cwd=EXAMPLES / "orchestrator" / "agent-runner",
        env={**env, "PORT": str(free_port()), "REDIS_ADDR": f"127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_dev_mode_with_devenv(
    example: tuple[Path, dict[str, int], str], docker_client: Any
) -> None:
    copy, ports, project = example
    compose = ["-f", "docker-compose.dev.yml"]
    devenv_init(
        copy,
        compose,
        {
            "COMPOSE_PROJECT_NAME": project,
            "HEALTH_INTERVAL": "1s",
            "PYTHON": sys.executable,
            "OPENAI_API_KEY": "sk-test-not-a-real-key",
            **ports,
        },
    )

    run = DevenvRun(copy, compose).start()
    orchestrator = f"http://127.0.0.1:{ports['ORCHESTRATOR_PORT']}"
    endpoints = {
        "orchestrator": f"{orchestrator}/health",
        "workflow-runner": f"http://127.0.0.1:{ports['WORKFLOW_RUNNER_PORT']}/health",
        "hitl-worker": f"http://127.0.0.1:{ports['HITL_WORKER_PORT']}/health",
        "fanout": f"http://127.0.0.1:{ports['FANOUT_PORT']}/health",
        "http-worker-1": f"http://127.0.0.1:{ports['HTTP_WORKER_PORT']}/health",
        "http-worker-2": f"http://127.0.0.1:{ports['HTTP_WORKER_PORT'] + 1}/health",
        "agent-runner-1": f"http://127.0.0.1:{ports['AGENT_RUNNER_PORT']}/health",
        "agent-runner-2": f"http://127.0.0.1:{ports['AGENT_RUNNER_PORT'] + 1}/health",
    }
    pids: dict[str, int] = {}
    try:
        up = until_healthy(run, endpoints, timeout=240)
        pids = {name: body["pid"] for name, body in up.items()}
        assert len(set(pids.values())) == len(pids), pids  # replicas are separate processes
        assert up["orchestrator"]["database"] == "ok" and up["orchestrator"]["redis"] == "ok"

        # Started in dependency order: each service only once what it needs was ready.
        until(lambda: ("fanout", "ready") in run.states(), 30, "fanout ready")
        run.assert_started_after_ready("orchestrator", ["postgres", "redis"])
        run.assert_started_after_ready("workflow-runner", ["redis", "orchestrator"])
        for unit in ("http-worker-1", "http-worker-2", "hitl-worker", "fanout"):
            run.assert_started_after_ready(unit, ["redis"])
        for unit in ("agent-runner-1", "agent-runner-2"):
            run.assert_started_after_ready(unit, ["redis"])

        # A run through every worker, watched over fanout's WebSocket.
        events = WebSocket(ports["FANOUT_PORT"], "/ws")
        until(lambda: (health(endpoints["fanout"]) or {}).get("clients") == 1, 10, "fanout client")
        run_id = start_run(orchestrator)
        waiting = until(
            lambda: (
                (r := get_run(orchestrator, run_id)) and r["status"] == "waiting_approval" and r
            ),
            timeout=30,
            what=f"run {run_id} waiting for approval",
        )
        http_step, agent_step, _ = waiting["steps"]
        assert http_step["status"] == "done" and http_step["result"]["status_code"] == 200
        assert http_step["worker"].startswith("http-worker pid ")
        assert agent_step["result"]["stand_in"] is True
        assert agent_step["worker"].startswith("agent-runner pid ")
        status, _ = http(
            "POST", f"{orchestrator}/api/runs/{run_id}/approve", {"approved": True, "by": "e2e"}
        )
        assert status == 202
        done = until(
            lambda: (r := get_run(orchestrator, run_id)) and r["status"] == "completed" and r,
            timeout=30,
            what=f"run {run_id} completed",
        )
        assert done["steps"][2]["result"] == {"approved": True, "by": "e2e"}
        seen = events.messages_until(
            lambda m: m.get("run_id") == run_id and m.get("run_status") == "completed", 10
        )
        assert {"run.queued", "step.dispatched", "step.waiting", "step.done"} <= {
            m["event"] for m in seen
        }
        events.close()

        # An edit to the orchestrator's source: rebuilt, and the new binary answers.
        source = copy / "cmd" / "orchestrator" / "main.go"
        original = source.read_text()
        assert VERSION_LINE in original
        source.write_text(original.replace(VERSION_LINE, 'var version = "edited-1"'))
        first = until(
            lambda: (h := health(endpoints["orchestrator"])) and h["version"] == "edited-1" and h,
            timeout=90,
            what="the rebuilt orchestrator",
        )
        assert first["pid"] != pids["orchestrator"]
        until(lambda: not alive(pids["orchestrator"]), 10, "the old orchestrator gone")
        for name in ("workflow-runner", "fanout", "hitl-worker"):  # they did not restart
            assert (health(endpoints[name]) or {}).get("pid") == pids[name], name

        # A syntax error: the build fails, the old instance keeps answering, the
        # compiler's message is in the orchestrator's log.
        source.write_text(original.replace(VERSION_LINE, 'var version = "edited-2"\nfunc {'))
        until(
            lambda: "syntax error" in run.unit_log("orchestrator"),
            timeout=90,
            what="the compiler's error in .devenv/logs/orchestrator.log",
        )
        assert "cmd/orchestrator/main.go:" in run.unit_log("orchestrator")
        holds(
            lambda: (h := health(endpoints["orchestrator"])) and h["pid"] == first["pid"],
            seconds=2,
            what="the last good orchestrator answering",
        )
        assert alive(first["pid"])

        # The fix: the new instance replaces it.
        source.write_text(original.replace(VERSION_LINE, 'var version = "edited-3"'))
        fixed = until(
            lambda: (h := health(endpoints["orchestrator"])) and h["version"] == "edited-3" and h,
            timeout=90,
            what="the fixed orchestrator",
        )
        assert fixed["pid"] != first["pid"]
        again = start_run(orchestrator, approval=False)
        until(
            lambda: (r := get_run(orchestrator, again)) and r["status"] == "completed",
            timeout=30,
            what=f"run {again} completed by the fixed orchestrator",
        )
        pids["orchestrator-edited"] = first["pid"]
        pids["orchestrator-fixed"] = fixed["pid"]
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


def start_run(orchestrator: str, approval: bool = True) -> int:
    steps: list[dict[str, Any]] = [
        {"type": "http", "input": {"url": f"{orchestrator}/health"}},
        {"type": "agent", "input": {"prompt": "Summarise what the end-to-end test checks"}},
    ]
    if approval:
        steps.append({"type": "approval", "input": {"prompt": "Ship it?"}})
    status, body = http("POST", f"{orchestrator}/api/runs", {"workflow": "e2e", "steps": steps})
    assert status == 202 and body["status"] == "queued", body
    run_id: int = body["id"]
    return run_id


def get_run(orchestrator: str, run_id: int) -> dict[str, Any] | None:
    status, body = http("GET", f"{orchestrator}/api/runs/{run_id}")
    return body if status == 200 else None
