"""The `x-devenv` block: its schema, its checks and its LocalProcess.

A service with `x-devenv.run` can run as a local process (by default it does,
unless `mode: container`). A block without `run` may only say how the service's
container behaves (`mode: container`, `rewrite`). The block is validated key by
key; an unknown key is an error naming the file, line and service with the
closest valid key as a hint. See docs/x-devenv.md for the reference.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from devenv.config.compose.envfile import X_DEVENV_MISSING_HINT, env_file_values
from devenv.config.compose.errors_at import error_at, type_name
from devenv.config.model import Handover, LocalProcess, Mode, RestartPolicy, frozen_map
from devenv.config.stack.build_steps import build_steps
from devenv.config.stack.checker import Checker, host_path
from devenv.config.stack.ready import ready_probe
from devenv.config.stack.watch_rules import watch_rules, watched_paths
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
    "build",
    "mode",
    "rewrite",
    "handover",
)
# Keys that make sense without `run`: they are about the service, not its process.
SERVICE_KEYS = ("mode", "rewrite")
RESTARTS = ("no", "on-failure", "always")
MODES = ("local", "container")
HANDOVERS = {"true": "proxy", "false": "off", "proxy": "proxy", "socket": "socket", "off": "off"}


@dataclass(frozen=True)
class XDevenv:
    """What one service's `x-devenv` block says."""

    local: LocalProcess | None  # None: the block has no `run`
    mode: Mode | None
    rewrite: bool = True


def read_xdevenv(
    service: str,
    block: Any,
    *,
    project_dir: Path,
    variables: Mapping[str, str],
    develop: Mapping[str, Any] | None = None,
    has_container: bool = False,
    replicas: int = 1,
    parent: Any = None,
) -> XDevenv:
    """One service's `x-devenv` block (already interpolated). `develop` is the
    service's canonical `develop` mapping; `has_container`: it has `image` or `build`;
    `replicas`: Compose's count (`deploy.replicas`/`scale`), the default of
    `x-devenv.replicas`."""
    if not isinstance(block, dict):
        raise error_at(
            parent,
            "x-devenv",
            f"x-devenv must be a mapping, not {type_name(block)}",
            service=service,
            dotted="x-devenv",
            hint="write e.g. x-devenv: {run: python -m app}",
        )
    check = Checker(service, block)
    for key in block:
        if key not in KEYS:
            raise check.fail(
                block,
                key,
                key,
                f"unknown key '{key}'",
                hint=did_you_mean(key, KEYS) or f"valid keys: {', '.join(KEYS)}",
            )
    mode: Mode | None = None
    if "mode" in block:
        value = check.string(block, "mode", "mode")
        if value not in MODES:
            raise check.fail(
                block,
                "mode",
                "mode",
                f"unknown mode {value!r}",
                hint=did_you_mean(value, MODES) or "use local or container",
            )
        mode = cast(Mode, value)
        if mode == "container" and not has_container:
            raise check.fail(
                block,
                "mode",
                "mode",
                "mode container needs the service's `image` or `build`",
                hint="add image: or build: to the service, or remove mode",
            )
    rewrite = check.boolean(block, "rewrite", "rewrite") if "rewrite" in block else True
    if "run" not in block and block and mode != "local" and all(k in SERVICE_KEYS for k in block):
        return XDevenv(local=None, mode=mode, rewrite=rewrite)
    if "run" not in block:
        raise error_at(
            parent,
            "x-devenv",
            "x-devenv needs `run`, the command to start",
            service=service,
            dotted="x-devenv.run",
            hint="add e.g. run: python -m app",
        )
    local = _local_process(check, block, project_dir, variables, develop, replicas)
    return XDevenv(local=local, mode=mode, rewrite=rewrite)


def _local_process(
    check: Checker,
    block: Mapping[str, Any],
    project_dir: Path,
    variables: Mapping[str, str],
    develop: Mapping[str, Any] | None,
    compose_replicas: int,
) -> LocalProcess:
    service = check.service
    run_value = block["run"]
    if isinstance(run_value, list) and all(isinstance(p, str) for p in run_value):
        run = shlex.join(run_value)
    else:
        run = check.string(block, "run", "run")
    if not run.strip():
        raise check.fail(block, "run", "run", "must not be empty")

    cwd = project_dir
    if "cwd" in block:
        cwd = host_path(check.string(block, "cwd", "cwd"), project_dir, variables)
    environment: dict[str, str] = {}
    env_files: list[Path] = []
    if "env_file" in block:
        for index, name in enumerate(check.string_list(block, "env_file", "env_file")):
            path = host_path(name, project_dir, variables)
            env_files.append(path)
            # Read now to catch a missing file or a bad line early; the engine
            # reads it again at each start so that edits take effect.
            try:
                env_file_values(
                    path,
                    variables,
                    service=service,
                    key=f"x-devenv.env_file[{index}]",
                    missing_hint=X_DEVENV_MISSING_HINT,
                )
            except ConfigError as error:
                if error.line is None and not path.is_file():
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
            ports.append(check.integer(value, index, f"ports[{index}]", 1, 65535))
    watch: list[Path] = []
    if "watch" in block:
        watch = [
            host_path(p, project_dir, variables) for p in check.string_list(block, "watch", "watch")
        ]
    ignore = check.string_list(block, "ignore", "ignore") if "ignore" in block else []
    replicas = compose_replicas
    if "replicas" in block:
        replicas = check.integer(block, "replicas", "replicas", 0, 1000)
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
    ready = ready_probe(check, block) if "ready" in block else None
    build = build_steps(check, block, project_dir, variables) if "build" in block else ()
    rules = watch_rules(watch, ignore, develop, build)
    handover = _handover(check, block, ports) if "handover" in block else "off"
    return LocalProcess(
        run=run,
        cwd=cwd,
        shell=shell,
        environment=frozen_map(environment),
        env_files=tuple(env_files),
        ports=tuple(ports),
        ready=ready,
        watch=watched_paths(rules),
        ignore=tuple(ignore),
        replicas=replicas,
        restart=cast(RestartPolicy, restart),
        build=build,
        watch_rules=rules,
        handover=handover,
        raw=frozen_map(block),
    )


def _handover(check: Checker, block: Mapping[str, Any], ports: list[int]) -> Handover:
    value = block["handover"]
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text not in HANDOVERS:
        raise check.fail(
            block,
            "handover",
            "handover",
            f"unknown handover {value!r}",
            hint=did_you_mean(text, HANDOVERS) or "use true (proxy), proxy, socket or false",
        )
    handover = cast(Handover, HANDOVERS[text])
    if handover != "off" and not ports:
        raise check.fail(
            block,
            "handover",
            "handover",
            "handover needs x-devenv.ports: the port devenv keeps open across restarts",
            hint="add e.g. ports: [3000]",
        )
    return handover


def _where(node: Any, key: str) -> tuple[str | None, int | None]:
    from devenv.config.compose.yamlload import where

    return where(node, key)


def _environment(check: Checker, block: Mapping[str, Any]) -> dict[str, str]:
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
