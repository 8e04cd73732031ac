"""Building a process's argv and environment."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import pytest

from devenv.config.model import LocalProcess, Origin, Service, frozen_map
from devenv.errors import DevenvError
from devenv.runtime.process import build_argv, build_env, parse_signal


def make(tmp_path: Path, run: str = "python app.py", **local: object) -> Service:
    return Service(
        name="api",
        origin=Origin(tmp_path / "compose.yaml"),
        environment=frozen_map({"A": "service", "B": "service", "UNSET": None}),
        local=LocalProcess(run=run, cwd=tmp_path, **local),  # type: ignore[arg-type]
    )


def test_argv_is_split_shell_style_or_given_to_a_shell(tmp_path: Path) -> None:
    assert build_argv(make(tmp_path, "python -c 'print(1)' --x \"a b\"")) == [
        "python",
        "-c",
        "print(1)",
        "--x",
        "a b",
    ]
    assert build_argv(make(tmp_path, "echo $HOME && ls", shell=True)) == [
        "/bin/sh",
        "-c",
        "echo $HOME && ls",
    ]
    with pytest.raises(DevenvError, match="cannot split"):
        build_argv(make(tmp_path, "echo 'unclosed"))


def test_environment_layers_in_documented_order(tmp_path: Path) -> None:
    (tmp_path / "x.env").write_text("B=file\nC=file\n")
    svc = make(
        tmp_path,
        env_files=(tmp_path / "x.env",),
        environment=frozen_map({"C": "xdevenv", "PORT": "9999"}),
    )
    env = build_env(
        svc,
        {"DOT": "dotenv", "A": "dotenv", "SHELL_WINS": "dotenv"},
        unit="api-2",
        replica=2,
        ports=(3001,),
        instance="run/api-2/1/",
        base={"PATH": "/bin", "SHELL_WINS": "shell"},
    )
    assert env["PATH"] == "/bin"
    assert env["DOT"] == "dotenv"
    assert env["A"] == "service"  # service environment over .env
    assert env["B"] == "file"  # x-devenv env_file over service environment
    assert env["C"] == "xdevenv"  # x-devenv.environment over everything
    assert "UNSET" not in env
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["DEVENV_REPLICA"] == "2" and env["DEVENV_PORT"] == "3001"
    assert env["PORT"] == "9999"  # set by the user: kept
    assert env["DEVENV_INSTANCE"] == "run/api-2/1/"


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    svc = make(tmp_path, env_files=(tmp_path / "missing.env",))
    with pytest.raises(DevenvError, match="not found"):
        build_env(svc, {}, unit="api", replica=1, ports=(), instance="x/", base={})


def test_signals_by_name_or_number() -> None:
    assert parse_signal(None) == signal.SIGTERM
    assert parse_signal("SIGINT") == signal.SIGINT
    assert parse_signal("quit") == signal.SIGQUIT
    assert parse_signal("9") == 9
    with pytest.raises(DevenvError):
        parse_signal("SIGNOPE")


def test_replace_keeps_model_usable(tmp_path: Path) -> None:
    svc = make(tmp_path)
    assert svc.local is not None
    assert replace(svc.local, replicas=3).replicas == 3


def test_unit_environment_shows_what_devenv_sets(tmp_path: Path) -> None:
    from devenv.config.model import Stack
    from devenv.runtime.base import UnitContext
    from devenv.runtime.process import ProcessUnit

    svc = make(tmp_path, environment=frozen_map({"X": "1"}))
    stack = Stack(name="t", project_dir=tmp_path, files=(), services=frozen_map({"api": svc}))
    ctx = UnitContext(stack, lambda *a: None, lambda p: None, tmp_path / ".devenv")
    env = ProcessUnit(svc, 1, ctx).environment
    assert env["X"] == "1" and env["A"] == "service" and env["DEVENV_UNIT"] == "api"
    assert "PATH" not in env


def test_compose_addresses_are_rewritten_for_the_process(tmp_path: Path) -> None:
    """The Compose environment addresses postgres the container way; the process
    gets the published port on 127.0.0.1, and x-devenv.environment still wins."""
    from devenv.config import LoadOptions, load_stack

    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  postgres:\n    image: postgres:16-alpine\n    ports: ['127.0.0.1:15432:5432']\n"
        "  api:\n    image: api\n"
        "    environment:\n      DATABASE_URL: postgresql://app:dev@postgres:5432/app\n"
        "      CACHE: postgres:5432\n"
        "    x-devenv: {run: x, environment: {CACHE: mine}}\n"
    )
    stack = load_stack(LoadOptions(cwd=tmp_path, environ={"PATH": "/bin"}))
    env = build_env(
        stack.service("api"),
        dict(stack.variables),
        unit="api",
        replica=1,
        ports=(),
        instance="x/",
        base={},
        stack=stack,
    )
    assert env["DATABASE_URL"] == "postgresql://app:dev@127.0.0.1:15432/app"
    assert env["CACHE"] == "mine"
