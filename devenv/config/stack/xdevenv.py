"""The `x-devenv` block: its schema, its checks and its LocalProcess.

A service with `x-devenv` runs as a local process. The block is validated key by
key; an unknown key is an error naming the file, line and service with the
closest valid key as a hint. See docs/x-devenv.md for the reference.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from devenv.config.compose.durations import parse_duration
from devenv.config.compose.envfile import read_env_file
from devenv.config.compose.errors_at import error_at, type_name
from devenv.config.model import LocalProcess, ReadyProbe, RestartPolicy, frozen_map
from devenv.errors import ConfigError, did_you_mean

KEYS = (
    "run",
    "cwd",
    "shell",
    "environment",
    "env_file",
    "ports",
    "ready",
    "watch",
    "ignore",
    "replicas",
    "restart",
)
PROBE_KINDS = ("http", "tcp", "cmd", "log")
PROBE_KEYS = (*PROBE_KINDS, "status", "interval", "timeout", "start_period", "retries")
RESTARTS = ("no", "on-failure", "always")


class _Checker:
    def __init__(self, service: str, block: Mapping[str, Any]) -> None:
        self.service = service
        self.block = block

    def fail(
        self, node: Any, key: Any, dotted: str, message: str, hint: str | None = None
    ) -> ConfigError:
        return error_at(
            node, key, message, service=self.service, dotted=f"x-devenv.{dotted}", hint=hint
        )

    def string(self, node: Mapping[str, Any], key: str, dotted: str) -> str:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(node, key, dotted, f"must be a string, not {type_name(value)}")
        return str(value)

    def boolean(self, node: Mapping[str, Any], key: str, dotted: str) -> bool:
        value = node[key]
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.fail(node, key, dotted, f"must be true or false, not {value!r}")
        return value

    def integer(self, node: Mapping[str, Any], key: str, dotted: str, low: int, high: int) -> int:
        value = node[key]
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(str(value)) if isinstance(value, str) else int(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            raise self.fail(node, key, dotted, f"must be a whole number, not {value!r}") from None
        if not low <= number <= high:
            raise self.fail(node, key, dotted, f"must be between {low} and {high}, not {number}")
        return number

    def duration(self, node: Mapping[str, Any], key: str, dotted: str) -> float:
        try:
            return parse_duration(node[key])
        except ValueError as error:
            raise self.fail(
                node, key, dotted, str(error), hint="write e.g. 500ms, 2s, 1m30s"
            ) from None

    def string_list(self, node: Mapping[str, Any], key: str, dotted: str) -> list[str]:
        value = node[key]
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise self.fail(node, key, dotted, f"must be a list of strings, not {type_name(value)}")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(
                    value, index, f"{dotted}[{index}]", f"must be a string, not {type_name(item)}"
                )
            out.append(item)
        return out


def local_process(
    service: str,
    block: Any,
    *,
    project_dir: Path,
    variables: Mapping[str, str],
    develop_watch: tuple[Path, ...] = (),
    parent: Any = None,
) -> LocalProcess:
    """The LocalProcess for one service's `x-devenv` block (already interpolated)."""
    if not isinstance(block, dict):
        raise error_at(
            parent,
            "x-devenv",
            f"x-devenv must be a mapping, not {type_name(block)}",
            service=service,
            dotted="x-devenv",
            hint="write e.g. x-devenv: {run: python -m app}",
        )
    check = _Checker(service, block)
    for key in block:
        if key not in KEYS:
            raise check.fail(
                block,
                key,
                key,
                f"unknown key '{key}'",
                hint=did_you_mean(key, KEYS) or f"valid keys: {', '.join(KEYS)}",
            )
    if "run" not in block:
        raise error_at(
            parent,
            "x-devenv",
            "x-devenv needs `run`, the command to start",
            service=service,
            dotted="x-devenv.run",
            hint="add e.g. run: python -m app",
        )
    run_value = block["run"]
    if isinstance(run_value, list) and all(isinstance(p, str) for p in run_value):
        run = shlex.join(run_value)
    else:
        run = check.string(block, "run", "run")
    if not run.strip():
        raise check.fail(block, "run", "run", "must not be empty")

    cwd = project_dir
    if "cwd" in block:
        cwd = _path(check.string(block, "cwd", "cwd"), project_dir, variables)
    environment: dict[str, str] = {}
    env_files: list[Path] = []
    if "env_file" in block:
        for index, name in enumerate(check.string_list(block, "env_file", "env_file")):
            path = _path(name, project_dir, variables)
            env_files.append(path)
            # Read now to catch a missing file or a bad line early; the engine
            # reads it again at each start so that edits take effect.
            try:
                read_env_file(path, service=service, key=f"x-devenv.env_file[{index}]")
            except ConfigError as error:
                if error.line is None:
                    error.file, error.line = _where(block, "env_file")
                raise
    if "environment" in block:
        environment.update(_environment(check, block))
    ports: list[int] = []
    if "ports" in block:
        value = block["ports"]
        if not isinstance(value, list):
            raise check.fail(
                block,
                "ports",
                "ports",
                f"must be a list of port numbers, not {type_name(value)}",
                hint="write e.g. ports: [3000]",
            )
        for index in range(len(value)):
            ports.append(check.integer(value, index, f"ports[{index}]", 1, 65535))  # type: ignore[arg-type]
    watch: list[Path] = []
    if "watch" in block:
        watch = [
            _path(p, project_dir, variables) for p in check.string_list(block, "watch", "watch")
        ]
    for path in develop_watch:
        if path not in watch:
            watch.append(path)
    ignore = check.string_list(block, "ignore", "ignore") if "ignore" in block else []
    replicas = check.integer(block, "replicas", "replicas", 0, 1000) if "replicas" in block else 1
    restart = "no"
    if "restart" in block:
        value = block["restart"]
        restart = "no" if value is False else str(value)
        if restart not in RESTARTS:
            raise check.fail(
                block,
                "restart",
                "restart",
                f"unknown restart policy {value!r}",
                hint=did_you_mean(restart, RESTARTS) or "use no, on-failure or always",
            )
    shell = check.boolean(block, "shell", "shell") if "shell" in block else False
    ready = _ready(check, block) if "ready" in block else None
    return LocalProcess(
        run=run,
        cwd=cwd,
        shell=shell,
        environment=frozen_map(environment),
        env_files=tuple(env_files),
        ports=tuple(ports),
        ready=ready,
        watch=tuple(watch),
        ignore=tuple(ignore),
        replicas=replicas,
        restart=cast(RestartPolicy, restart),
        raw=frozen_map(block),
    )


def _where(node: Any, key: str) -> tuple[str | None, int | None]:
    from devenv.config.compose.yamlload import where

    return where(node, key)


def _path(value: str, base: Path, variables: Mapping[str, str]) -> Path:
    import os

    if value == "~" or value.startswith("~/"):
        value = (variables.get("HOME") or os.path.expanduser("~")) + value[1:]
    path = Path(value)
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _environment(check: _Checker, block: Mapping[str, Any]) -> dict[str, str]:
    value = block["environment"]
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list):
                raise check.fail(
                    value, k, f"environment.{k}", f"must be a string, not {type_name(v)}"
                )
            out[str(k)] = (
                "" if v is None else ("true" if v is True else "false" if v is False else str(v))
            )
        return out
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise check.fail(value, index, f"environment[{index}]", "must be KEY=VALUE")
            name, _, val = str(item).partition("=")
            out[name] = val
        return out
    raise check.fail(
        block,
        "environment",
        "environment",
        f"must be a mapping or a list of KEY=VALUE, not {type_name(value)}",
    )


def _ready(check: _Checker, block: Mapping[str, Any]) -> ReadyProbe:
    spec = block["ready"]
    if not isinstance(spec, dict):
        raise check.fail(
            block,
            "ready",
            "ready",
            f"must be a mapping, not {type_name(spec)}",
            hint='write e.g. ready: {http: "http://localhost:3000/health"}',
        )
    for key in spec:
        if key not in PROBE_KEYS:
            raise check.fail(
                spec,
                key,
                f"ready.{key}",
                f"unknown key '{key}'",
                hint=did_you_mean(key, PROBE_KEYS) or f"valid keys: {', '.join(PROBE_KEYS)}",
            )
    kinds = [k for k in PROBE_KINDS if k in spec]
    if len(kinds) != 1:
        raise check.fail(
            block,
            "ready",
            "ready",
            "needs exactly one of http, tcp, cmd, log"
            if not kinds
            else f"has {' and '.join(kinds)}; give only one",
        )
    kind = kinds[0]
    target: str
    if kind == "tcp":
        value = spec["tcp"]
        if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isdigit()
        ):
            port = check.integer(spec, "tcp", "ready.tcp", 1, 65535)
            target = f"127.0.0.1:{port}"
        elif isinstance(value, str) and re.fullmatch(r".+:[0-9]+", value):
            port_text = value.rpartition(":")[2]
            if not 0 < int(port_text) <= 65535:
                raise check.fail(spec, "tcp", "ready.tcp", f"not a valid port: {port_text}")
            target = value
        else:
            raise check.fail(
                spec, "tcp", "ready.tcp", f"must be a port or host:port, not {value!r}"
            )
    else:
        target = check.string(spec, kind, f"ready.{kind}")
        if kind == "http" and not re.match(r"^https?://", target):
            raise check.fail(
                spec,
                "http",
                "ready.http",
                f"not an http(s) URL: {target!r}",
                hint="write e.g. http://localhost:3000/health",
            )
        if kind == "log":
            try:
                re.compile(target)
            except re.error as error:
                raise check.fail(
                    spec, "log", "ready.log", f"not a valid regular expression: {error}"
                ) from None
    probe: dict[str, Any] = {"kind": kind, "target": target}
    if "status" in spec:
        if kind != "http":
            raise check.fail(spec, "status", "ready.status", "only applies to an http probe")
        probe["status"] = check.integer(spec, "status", "ready.status", 100, 599)
    for key in ("interval", "timeout", "start_period"):
        if key in spec:
            probe[key] = check.duration(spec, key, f"ready.{key}")
    if "retries" in spec:
        probe["retries"] = check.integer(spec, "retries", "ready.retries", 0, 1_000_000)
    return ReadyProbe(**probe)
