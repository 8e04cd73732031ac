"""`devenv doctor [SERVICE…]` through the real CLI: with names it checks only
what those services and their dependencies need (images, ports, env files and
variables, Docker only for containers), and it flags placeholder secrets in a
service's environment even without a `.env.example`, naming where each is set."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from container_helpers import free_port

REPO = Path(__file__).resolve().parents[2]
DEAD_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

COMPOSE = """\
services:
  db:
    image: postgres:16-alpine
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:-dev}
    ports: ["127.0.0.1:${DB_PORT}:5432"]
  api:
    env_file: api.env
    environment:
      OPENAI_API_KEY: sk-...
      LOG_LEVEL: info
    x-devenv:
      run: python3 -m http.server ${API_PORT}
      ports: ["${API_PORT}"]
      environment:
        SESSION_SECRET: changethis
  worker:
    depends_on: [db]
    x-devenv:
      run: python3 -c pass
      env_file: worker.env
      environment:
        WORKERS: ${WORKER_COUNT:-2}
"""


def doctor(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "devenv", "doctor", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    ports = {"API_PORT": free_port(), "DB_PORT": free_port()}
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "api.env").write_text("STRIPE_SECRET_KEY=your-stripe-key-here\n")
    (tmp_path / "worker.env").write_text("WORKER_TOKEN=<token>\n")
    (tmp_path / ".env").write_text(
        f"API_PORT={ports['API_PORT']}\nDB_PORT={ports['DB_PORT']}\nDB_PASSWORD=changeme\n"
    )
    (tmp_path / ".env.example").write_text("API_PORT=\nDB_PORT=\nDB_PASSWORD=\nWORKER_COUNT=2\n")
    yield tmp_path, ports


def lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines()]


def test_a_local_service_needs_no_docker_and_only_its_own_things(
    project: tuple[Path, dict[str, int]],
) -> None:
    root, ports = project
    with socket.socket() as holder:  # db's port is taken: not api's business
        holder.bind(("127.0.0.1", ports["DB_PORT"]))
        holder.listen()
        code, out = doctor(root, "api", env=DEAD_DOCKER)
    assert code == 0, out
    assert "for api\n" in out
    assert "skip  Docker: not needed (these services run as local processes)" in out
    assert "ok    ports free (1 checked)" in out
    assert "ok    env files present: api.env" in out
    assert "ok    .env present and complete" in out  # WORKER_COUNT is the worker's
    found = lines(out)
    assert (
        "warn  placeholder secrets in compose.yaml (service api, environment): OPENAI_API_KEY"
        in (found)
    )
    assert (
        "warn  placeholder secrets in compose.yaml (service api, x-devenv.environment): "
        "SESSION_SECRET"
    ) in found
    assert "warn  placeholder secrets in api.env: STRIPE_SECRET_KEY" in found
    assert "DB_PASSWORD" not in out and "WORKER_TOKEN" not in out
    assert "LOG_LEVEL" not in out
    assert "ready to start (3 warning(s)): devenv start api" in out


def test_a_service_with_a_container_dependency_gets_all_of_its_checks(
    project: tuple[Path, dict[str, int]],
) -> None:
    root, ports = project
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["DB_PORT"]))
        holder.listen()
        code, out = doctor(root, "worker", env=DEAD_DOCKER)
    assert code == 1, out
    assert "for worker and their dependencies: db" in out
    assert "FAIL  cannot reach the Docker Engine at unix:///nonexistent/docker.sock" in out
    assert f"FAIL  port {ports['DB_PORT']} (db) is in use on 127.0.0.1" in out
    assert "warn  .env lacks 1 variable(s) of .env.example: WORKER_COUNT" in out
    found = lines(out)
    assert "warn  placeholder secrets in .env: DB_PASSWORD" in found
    assert "warn  placeholder secrets in worker.env: WORKER_TOKEN" in found
    assert "OPENAI_API_KEY" not in out and "SESSION_SECRET" not in out
    assert "API_PORT" not in out and str(ports["API_PORT"]) not in out


def test_without_names_everything_is_checked(project: tuple[Path, dict[str, int]]) -> None:
    root, _ = project
    code, out = doctor(root, env=DEAD_DOCKER)
    assert code == 1, out  # db needs Docker
    for name in (
        "OPENAI_API_KEY",
        "SESSION_SECRET",
        "STRIPE_SECRET_KEY",
        "WORKER_TOKEN",
        "DB_PASSWORD",
        "WORKER_COUNT",
    ):
        assert name in out
    assert "ok    ports free (2 checked)" in out


def test_placeholders_are_found_without_an_env_example(
    project: tuple[Path, dict[str, int]],
) -> None:
    root, _ = project
    (root / ".env.example").unlink()
    code, out = doctor(root, "api", env=DEAD_DOCKER)
    assert code == 0, out
    assert ".env present (no .env.example to compare with)" in out
    for name in ("OPENAI_API_KEY", "SESSION_SECRET", "STRIPE_SECRET_KEY"):
        assert name in out


def test_an_unknown_service_is_named_with_the_valid_ones(
    project: tuple[Path, dict[str, int]],
) -> None:
    root, _ = project
    code, out = doctor(root, "wroker", env=DEAD_DOCKER)
    assert code == 1, out
    assert "FAIL  no service named 'wroker'" in out and "api, db, worker" in out
    assert "did you mean worker?" in out or "the services are" in out
    assert "skip  Docker: not checked (unknown service)" in out
    assert "cannot reach the Docker Engine" not in out


@pytest.mark.docker
def test_images_are_checked_for_the_named_services_only(
    project: tuple[Path, dict[str, int]], docker_client: Any
) -> None:
    root, _ = project
    with (root / "compose.yaml").open("a") as f:
        f.write("  broken:\n    image: devenv-test.invalid/nosuch:1\n")
    code, out = doctor(root, "worker")
    assert "images present: postgres:16-alpine" in out
    assert "nosuch" not in out
    code, out = doctor(root, "broken")
    assert code == 1, out
    assert (
        "FAIL  image devenv-test.invalid/nosuch:1 (broken) is missing and cannot be pulled" in out
    )
    assert "postgres" not in out
