"""The examples' compose files, read by the real `docker compose config` and by
`devenv config`: both accept every file, and agree on the services (so the
same files work under both, as the examples' READMEs promise). Also what plain
`docker compose` does with the dev files: the orchestrator's starts the
infrastructure only; ADO's runs everything. A service in the `devenv` profile
(telegram-bot's Vite dev server) is the one difference: devenv always enables
that profile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from example_stack import EXAMPLES, REPO

DEVENV = (sys.executable, "-m", "devenv")
FILES = [
    ("orchestrator", "docker-compose.yml", ()),
    ("orchestrator", "docker-compose.dev.yml", ("devenv",)),
    ("ado", "docker-compose.dev.yaml", ()),
    ("ado", "docker-compose.staging.yaml", ()),
    ("ado", "docker-compose.prod.yaml", ()),
    ("ado", "docker-compose.prod.yaml", ("backup",)),
    ("agent-orchestrator", "docker-compose.yml", ()),
    ("agent-orchestrator", "docker-compose.yml:docker-compose.dev.yml", ()),
    ("agent-orchestrator", "docker-compose.yml:docker-compose.prod.yml", ()),
    ("telegram-bot", "docker-compose.yml", ()),
    ("telegram-bot", "docker-compose.yml", ("proxy",)),
    ("telegram-bot", "docker-compose.yml:docker-compose.dev.yml", ()),
    ("telegram-bot", "docker-compose.yml:docker-compose.prod.yml", ("proxy",)),
    ("modular", "docker-compose.yml", ()),
    ("modular", "docker-compose.yml", ("database", "ai", "monitoring")),
    ("modular", "docker-compose/environments/docker-compose.development.yml", ()),
    ("modular", "docker-compose/environments/docker-compose.staging.yml", ()),
    ("modular", "docker-compose/environments/docker-compose.production.yml", ("database",)),
]
# Services in the `devenv` profile: devenv lists them, plain Compose does not.
DEVENV_ONLY = {"telegram-bot": ["frontend"]}


ORCHESTRATOR_SERVICES = (
    *("postgres", "redis", "orchestrator", "workflow-runner"),
    *("http-worker", "hitl-worker", "agent-runner", "fanout"),
)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def file_args(file: str) -> list[str]:
    """`-f` for each of the `:`-separated files, in order."""
    return [arg for name in file.split(":") for arg in ("-f", name)]


def compose_services(example: str, file: str, profiles: tuple[str, ...]) -> list[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (the `dev` extra installs it)")
    args = [binary, *file_args(file)]
    for profile in profiles:
        args += ["--profile", profile]
    result = subprocess.run(
        [*args, "config", "--services"],
        cwd=EXAMPLES / example,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def devenv_services(example: str, file: str, profiles: tuple[str, ...]) -> list[str]:
    args = [*DEVENV, *file_args(file)]
    for profile in profiles:
        args += ["--profile", profile]
    result = subprocess.run(
        [*args, "config", "--services"],
        cwd=EXAMPLES / example,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


@pytest.mark.parametrize(("example", "file", "profiles"), FILES)
def test_docker_compose_and_devenv_read_it_alike(
    example: str, file: str, profiles: tuple[str, ...]
) -> None:
    if file.endswith(".dev.yml") and profiles == ("devenv",):
        # The services devenv runs locally have no image: Compose refuses them,
        # which is why they are in the `devenv` profile.
        assert devenv_services(example, file, profiles) == sorted(ORCHESTRATOR_SERVICES)
        return
    expected = compose_services(example, file, profiles) + DEVENV_ONLY.get(example, [])
    assert devenv_services(example, file, profiles) == sorted(expected)


def test_plain_compose_starts_only_the_infrastructure_from_the_orchestrators_dev_file() -> None:
    assert compose_services("orchestrator", "docker-compose.dev.yml", ()) == ["postgres", "redis"]


def test_the_orchestrators_dev_file_runs_the_services_as_local_processes() -> None:
    result = subprocess.run(
        [*DEVENV, "-f", "docker-compose.dev.yml", "--profile", "devenv", "config", "--json"],
        cwd=EXAMPLES / "orchestrator",
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name in ("orchestrator", "workflow-runner", "http-worker", "hitl-worker", "fanout"):
        block = services[name]["x-devenv"]
        assert block["build"] == f"go build -o bin/{name} ./cmd/{name}", name
        assert block["run"] == f"./bin/{name}", name
    assert services["http-worker"]["x-devenv"]["replicas"] in (2, "2")
    assert services["agent-runner"]["x-devenv"]["replicas"] in (2, "2")


def test_every_example_has_a_readme_and_an_env_example() -> None:
    for example in ("orchestrator", "ado", "agent-orchestrator", "telegram-bot", "modular"):
        directory: Path = EXAMPLES / example
        assert (directory / "README.md").is_file(), example
        assert (directory / ".env.example").is_file(), example


def test_the_modular_stacks_optional_parts_are_in_profiles() -> None:
    """MongoDB, Ollama and Prometheus (images a developer may not have) start
    only when their profile is asked for; nothing else needs them."""
    assert compose_services("modular", "docker-compose.yml", ()) == sorted(
        ["redis", "nestjs-api", "fastify-api", "gateway", "frontend"]
    )
    for profile, service in (
        ("database", "mongodb"),
        ("ai", "ollama"),
        ("monitoring", "prometheus"),
    ):
        assert service in devenv_services("modular", "docker-compose.yml", (profile,))
