"""The x-devenv schema: every key's checks, each error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import load, write

from devenv.errors import ConfigError


def stack_with(block: str, tmp_path: Path, extra: dict[str, str] | None = None) -> object:
    write(
        tmp_path, {"compose.yaml": f"services:\n  api:\n    x-devenv: {block}\n", **(extra or {})}
    )
    return load(tmp_path)


@pytest.mark.parametrize(
    ("block", "key", "message"),
    [
        ("[run, x]", "x-devenv", "must be a mapping"),
        ("{run: ''}", "x-devenv.run", "must not be empty"),
        ("{run: {a: 1}}", "x-devenv.run", "must be a string"),
        ("{run: x, shell: maybe}", "x-devenv.shell", "true or false"),
        ("{run: x, cwd: [a]}", "x-devenv.cwd", "must be a string"),
        ("{run: x, environment: 5}", "x-devenv.environment", "mapping or a list"),
        ("{run: x, environment: {A: [1]}}", "x-devenv.environment.A", "must be a string"),
        ("{run: x, env_file: nope.env}", "x-devenv.env_file[0]", "not found"),
        ("{run: x, ports: 3000}", "x-devenv.ports", "list of port numbers"),
        ("{run: x, ports: [70000]}", "x-devenv.ports[0]", "between 1 and 65535"),
        ("{run: x, ready: http}", "x-devenv.ready", "must be a mapping"),
        ("{run: x, ready: {}}", "x-devenv.ready", "exactly one of"),
        ("{run: x, ready: {http: 'http://a', tcp: 1}}", "x-devenv.ready", "give only one"),
        ("{run: x, ready: {http: 'localhost:3000'}}", "x-devenv.ready.http", "not an http"),
        ("{run: x, ready: {tcp: 'host'}}", "x-devenv.ready.tcp", "port or host:port"),
        ("{run: x, ready: {tcp: 'h:99999'}}", "x-devenv.ready.tcp", "not a valid port"),
        ("{run: x, ready: {log: '(unclosed'}}", "x-devenv.ready.log", "regular expression"),
        ("{run: x, ready: {tcp: 1, status: 200}}", "x-devenv.ready.status", "only applies"),
        ("{run: x, ready: {http: 'http://a', status: 1000}}", "x-devenv.ready.status", "100"),
        ("{run: x, ready: {cmd: 'true', interval: soon}}", "x-devenv.ready.interval", "duration"),
        ("{run: x, ready: {cmd: 'true', retries: -1}}", "x-devenv.ready.retries", "between"),
        (
            "{run: x, ready: {cmd: 'true', timout: 1s}}",
            "x-devenv.ready.timout",
            "did you mean timeout?",
        ),
        ("{run: x, watch: {a: 1}}", "x-devenv.watch", "list of strings"),
        ("{run: x, ignore: [1]}", "x-devenv.ignore[0]", "must be a string"),
        ("{run: x, replicas: two}", "x-devenv.replicas", "whole number"),
        ("{run: x, restart: unless-stopped}", "x-devenv.restart", "no, on-failure or always"),
        ("{run: x, replica: 2}", "x-devenv.replica", "did you mean replicas?"),
    ],
)
def test_bad_blocks(tmp_path: Path, block: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        stack_with(block, tmp_path)
    error = caught.value
    assert error.service == "api"
    assert error.key == key
    assert message in str(error)
    assert error.file is not None and error.file.endswith("compose.yaml")
    assert error.line == 3


def test_values_are_interpolated_and_typed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "compose.yaml": "services:\n  api:\n    x-devenv:\n"
            "      run: serve --port ${PORT}\n      ports: ['${PORT}']\n"
            "      replicas: '${N}'\n      shell: '${SHELLY}'\n"
            "      ready: {tcp: '${PORT}', timeout: '${T}'}\n"
        },
    )
    api = load(tmp_path, {"PORT": "4000", "N": "2", "SHELLY": "true", "T": "250ms"}).service("api")
    assert api.local is not None
    assert api.local.run == "serve --port 4000"
    assert api.local.ports == (4000,)
    assert api.local.replicas == 2
    assert api.local.shell is True
    assert api.local.ready is not None
    assert (api.local.ready.target, api.local.ready.timeout) == ("127.0.0.1:4000", 0.25)
    assert api.local.raw["ports"] == ["4000"]  # as written, after interpolation


def test_a_process_service_needs_no_image_but_may_have_one(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"compose.yaml": "services:\n  a:\n    image: app\n    x-devenv: {run: x}\n"},
    )
    service = load(tmp_path).service("a")
    assert service.kind == "process"
    assert service.image == "app"


def test_defaults(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": "services:\n  a:\n    x-devenv: {run: x}\n"})
    local = load(tmp_path).service("a").local
    assert local is not None
    assert (local.cwd, local.shell, local.replicas, local.restart) == (tmp_path, False, 1, "no")
    assert (local.ports, local.watch, local.ignore, local.ready) == ((), (), (), None)
