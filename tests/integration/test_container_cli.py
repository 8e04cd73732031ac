"""`devenv init`, `devenv doctor` and `devenv down` through the real CLI, on a copy
of the repository's demo stack with its own project name and free ports."""

from __future__ import annotations

import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS
from container_helpers import cleanup, free_port, project_name

from devenv.config import LoadOptions, load_stack
from devenv.runtime.base import UnitContext
from devenv.runtime.container import ContainerUnit, prepare_project

REPO = Path(__file__).resolve().parents[2]
DEMO_FILES = ("compose.yaml", "compose", "demo", ".env.example", ".gitignore")


def copy_demo(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def devenv(cwd: Path, *args: str, env: dict[str, str] | None = None, **kw: Any) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "devenv", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def set_env(path: Path, **values: str) -> None:
    with path.open("a") as f:
        for key, value in values.items():
            f.write(f"{key}={value}\n")


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return copy_demo(tmp_path / "demo-copy")


def test_init_creates_env_and_never_overwrites(demo: Path) -> None:
    result = devenv(demo, "init")
    assert result.returncode == 0, result.stderr
    assert "created .env from .env.example" in result.stdout
    env = demo / ".env"
    assert env.read_text() == (demo / ".env.example").read_text()
    assert oct(env.stat().st_mode & 0o777) == "0o600"

    kept = "POSTGRES_USER=mine\nAPI_PORT=1234\n"
    env.write_text(kept)
    result = devenv(demo, "init")
    assert result.returncode == 0, result.stderr
    assert env.read_text() == kept
    assert ".env exists; kept as it is" in result.stdout
    missing = result.stdout.split("missing variables (in .env.example): ")[1].splitlines()[0]
    assert "POSTGRES_PASSWORD" in missing and "REDIS_PORT" in missing
    assert "POSTGRES_USER" not in missing and "API_PORT" not in missing


@pytest.fixture
def configured(demo: Path, docker_client: Any) -> Iterator[tuple[Path, str, dict[str, int]]]:
    """The demo copy, initialised, with its own project name and free ports."""
    assert devenv(demo, "init").returncode == 0
    project = project_name()
    ports = {"POSTGRES_PORT": free_port(), "REDIS_PORT": free_port(), "API_PORT": free_port()}
    set_env(
        demo / ".env",
        COMPOSE_PROJECT_NAME=project,
        HEALTH_INTERVAL="1s",
        PYTHON=sys.executable,
        **{k: str(v) for k, v in ports.items()},
    )
    subprocess.run(["git", "init", "-q", str(demo)], check=True)
    yield demo, project, ports
    cleanup(docker_client, project)


@pytest.mark.docker
def test_doctor_all_green_on_a_fresh_init(configured: tuple[Path, str, dict[str, int]]) -> None:
    demo, project, _ = configured
    result = devenv(demo, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()[1:] if line.strip()]
    statuses = [line.split()[0] for line in lines[:-1]]
    assert set(statuses) == {"ok"}, result.stdout
    assert f"(project {project})" in result.stdout
    for expected in (
        "Python",
        "Docker Engine",
        "compose files valid",
        ".env present and complete",
        "no placeholder secrets",
        "ports free",
        "images present",
        "ignored by git",
    ):
        assert expected in result.stdout


@pytest.mark.docker
def test_doctor_names_each_problem_with_a_fix(
    configured: tuple[Path, str, dict[str, int]],
) -> None:
    demo, _, ports = configured
    set_env(demo / ".env", POSTGRES_PASSWORD="change-me-please")
    (demo / ".gitignore").write_text("")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["POSTGRES_PORT"]))
        holder.listen()
        result = devenv(demo, "doctor")
    out = result.stdout
    assert result.returncode == 1, out
    assert f"FAIL  port {ports['POSTGRES_PORT']} (postgres) is in use on 127.0.0.1" in out
    assert "set POSTGRES_PORT in .env to a free port" in out
    assert "warn  placeholder secrets in .env: POSTGRES_PASSWORD" in out
    assert "warn  .env is not ignored by git" in out
    assert "1 problem blocks startup" in out

    dead = devenv(demo, "doctor", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert dead.returncode == 1
    assert (
        "FAIL  cannot reach the Docker Engine at unix:///nonexistent.sock (from DOCKER_HOST)"
        in (dead.stdout)
    )
    assert "fix: start Docker" in dead.stdout


@pytest.mark.docker
def test_doctor_reports_a_missing_env_and_a_broken_compose_file(demo: Path) -> None:
    result = devenv(demo, "doctor")
    assert "warn  .env missing" in result.stdout and "fix: devenv init" in result.stdout
    (demo / "compose" / "infra.yaml").write_text(
        (demo / "compose" / "infra.yaml").read_text().replace("image:", "imag:", 1)
    )
    broken = devenv(demo, "doctor")
    assert broken.returncode == 1
    assert "FAIL  compose files:" in broken.stdout and "imag" in broken.stdout
    assert "did you mean image?" in broken.stdout


async def start_infra(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """postgres and redis of the copy, started through the container unit."""
    monkeypatch.setenv("DEVENV_EXTRA_LABELS", TEST_LABELS)
    stack = load_stack(LoadOptions(cwd=demo, environ={}))
    ctx = UnitContext(
        stack=stack,
        on_log=lambda *_: None,
        on_progress=lambda _: None,
        state_dir=demo / ".devenv",
    )
    await prepare_project(ctx)
    for name in ("postgres", "redis"):
        await ContainerUnit(stack.services[name], 1, ctx).start()


def project_state(client: Any, project: str) -> tuple[list[str], list[str], list[str]]:
    flt = {"label": f"com.docker.compose.project={project}"}
    return (
        sorted(c.name for c in client.containers.list(all=True, filters=flt)),
        sorted(n.name for n in client.networks.list(filters=flt)),
        sorted(v.name for v in client.volumes.list(filters=flt)),
    )


@pytest.mark.docker
async def test_down_keeps_volumes_and_down_volumes_asks(
    configured: tuple[Path, str, dict[str, int]],
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo, project, _ = configured
    await start_infra(demo, monkeypatch)
    assert project_state(docker_client, project) == (
        [f"{project}-postgres-1", f"{project}-redis-1"],
        [f"{project}_default"],
        [f"{project}_pgdata"],
    )

    result = devenv(demo, "down")
    assert result.returncode == 0, result.stderr
    assert "removed 2 container(s), 1 network(s), 0 volume(s)" in result.stdout
    assert project_state(docker_client, project) == ([], [], [f"{project}_pgdata"])

    refused = devenv(demo, "down", "--volumes", stdin=subprocess.DEVNULL)
    assert refused.returncode == 1
    assert "no terminal to ask" in refused.stderr and "--yes" in refused.stderr
    assert project_state(docker_client, project)[2] == [f"{project}_pgdata"]

    said_no = run_on_terminal(demo, ["down", "--volumes"], answer=b"n\n")
    assert "Remove them? [y/N]" in said_no and "nothing removed" in said_no
    assert project_state(docker_client, project)[2] == [f"{project}_pgdata"]

    said_yes = run_on_terminal(demo, ["down", "--volumes"], answer=b"y\n")
    assert f"removed volume {project}_pgdata" in said_yes
    assert project_state(docker_client, project) == ([], [], [])


@pytest.mark.docker
async def test_down_volumes_yes_needs_no_terminal(
    configured: tuple[Path, str, dict[str, int]],
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo, project, _ = configured
    await start_infra(demo, monkeypatch)
    result = devenv(demo, "down", "--volumes", "--yes", stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "removed 2 container(s), 1 network(s), 1 volume(s)" in result.stdout
    assert project_state(docker_client, project) == ([], [], [])


def run_on_terminal(cwd: Path, args: list[str], answer: bytes, timeout: float = 60) -> str:
    """Run devenv with a pseudo-terminal as stdin/stdout; type `answer` at the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devenv", *args],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                if not answered and b"[y/N]" in output:
                    os.write(master, answer)
                    answered = True
            elif proc.poll() is not None:
                break
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return output.decode(errors="replace")


def demo_psql(client: Any, container: str, sql: str) -> tuple[int, str]:
    result = client.containers.get(container).exec_run(
        ["psql", "-h", "127.0.0.1", "-U", "app", "-d", "app", "-tAc", sql],
        environment={"PGPASSWORD": "dev"},
    )
    return int(result.exit_code), result.output.decode().strip()


def wait_for_sql(client: Any, container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while demo_psql(client, container, "select 1") != (0, "1"):
        assert time.monotonic() < deadline, f"{container} did not answer SQL in {timeout}s"
        time.sleep(0.1)


@pytest.mark.docker
@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
async def test_docker_compose_and_devenv_share_the_volume(
    configured: tuple[Path, str, dict[str, int]],
    docker_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo, project, _ = configured
    container = f"{project}-postgres-1"
    await start_infra(demo, monkeypatch)
    wait_for_sql(docker_client, container)
    assert (
        demo_psql(docker_client, container, "create table t (v text); insert into t values ('x')")[
            0
        ]
        == 0
    )

    up = subprocess.run(
        ["docker-compose", "up", "-d", "--wait", "postgres"],
        cwd=demo,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert up.returncode == 0, up.stderr
    assert "already exists" not in up.stderr  # compose takes devenv's volume and network as its own
    wait_for_sql(docker_client, container)
    assert demo_psql(docker_client, container, "select v from t") == (0, "x")

    await start_infra(demo, monkeypatch)  # and back: devenv recreates it, the data stays
    wait_for_sql(docker_client, container)
    assert demo_psql(docker_client, container, "select v from t") == (0, "x")


def test_down_refuses_while_devenv_runs_for_the_project(demo: Path) -> None:
    state = demo / ".devenv"
    state.mkdir()
    # a session is whoever holds the project's lock (a pid file alone proves nothing)
    hold = (
        "import sys, time; from pathlib import Path; from devenv.engine.lock import SessionLock;"
        "SessionLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = devenv(demo, "down")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert f"devenv is running for this project (pid {holder.pid})" in result.stderr
    assert "devenv stop" in result.stderr


def test_sigkill_of_devenv_stops_its_containers(docker_client: Any, tmp_path: Path) -> None:
    # devenv cannot clean up after SIGKILL; its orphan guard stops the
    # containers (keeping them, as a normal quit does) through the Engine API.
    project = project_name()
    (tmp_path / "compose.yaml").write_text(
        f"name: {project}\n"
        "services:\n"
        "  sleeper:\n"
        "    image: debian:bookworm-slim\n"
        "    command: [sh, -c, \"trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done\"]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "devenv", "start", "--no-tui"],
        cwd=tmp_path,
        env={**os.environ, "DEVENV_EXTRA_LABELS": TEST_LABELS},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "-- ready" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None, "never ready"
        container = docker_client.containers.get(f"{project}-sleeper-1")
        assert container.status == "running"
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while container.status == "running":
            assert time.monotonic() < deadline, "the container outlived devenv"
            time.sleep(0.1)
            container.reload()
        assert container.attrs["State"]["ExitCode"] == 0  # stopped by SIGTERM, not killed
    finally:
        if proc.poll() is None:
            proc.kill()
        cleanup(docker_client, project)
