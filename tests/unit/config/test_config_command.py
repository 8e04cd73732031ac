"""`devenv config` through the real CLI: YAML, JSON, --services, selection."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from config_helpers import run_cli, write

STACK = """\
services:
  db:
    image: postgres:16
    environment: {PASSWORD: "${DB_PASSWORD:-dev}", LITERAL: "a$$b"}
  api:
    depends_on: [db]
    x-devenv:
      run: python -m api --port ${PORT:-3000}
      ports: [3000]
  debug:
    image: busybox
    profiles: [debug]
"""


def test_yaml_output_is_the_resolved_stack(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": STACK})
    result = run_cli(tmp_path, "config", env={"DB_PASSWORD": "secret"})
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["name"] == tmp_path.name.lower()
    assert list(data["services"]) == ["db", "api"]
    assert data["services"]["db"]["environment"] == {"PASSWORD": "secret", "LITERAL": "a$$b"}
    assert data["services"]["api"]["x-devenv"] == {
        "run": "python -m api --port 3000",
        "ports": [3000],
    }
    assert data["services"]["api"]["depends_on"] == {
        "db": {"condition": "service_started", "required": True}
    }


def test_json_output_and_profiles(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": STACK})
    result = run_cli(tmp_path, "--profile", "debug", "config", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data["services"]) == ["db", "api", "debug"]
    assert data["services"]["debug"]["profiles"] == ["debug"]
    assert data["networks"]["default"]["name"] == f"{tmp_path.name.lower()}_default"


def test_services_and_selection(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": STACK})
    assert run_cli(tmp_path, "config", "--services").stdout.split() == ["db", "api"]
    assert run_cli(tmp_path, "config", "--services", "debug").stdout.split() == ["debug"]
    assert run_cli(tmp_path, "config", "--services", "api").stdout.split() == ["db", "api"]
    unknown = run_cli(tmp_path, "config", "apii")
    assert unknown.returncode != 0
    assert "did you mean api?" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_quiet_validates_only(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": STACK})
    result = run_cli(tmp_path, "config", "-q")
    assert (result.returncode, result.stdout) == (0, "")


def test_warnings_go_to_stderr(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a: {image: 'x${UNSET}'}\n"})
    result = run_cli(tmp_path, "config", "--services")
    assert result.stdout == "a\n"
    assert 'the "UNSET" variable is not set' in result.stderr


def test_help_describes_the_command(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "config", "--help")
    assert result.returncode == 0
    for text in ("--json", "--services", "docker compose config", "SERVICE", "examples:"):
        assert text in result.stdout
