"""From the merged canonical model to the Stack: profiles, environment files,
dependency checks and the typed model objects. (Host ports that clash are a
question for the start: see port_clashes.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from devenv.config.compose.durations import parse_duration
from devenv.config.compose.envfile import env_file_values
from devenv.config.compose.errors_at import error_at
from devenv.config.compose.schema import RESTART_POLICIES
from devenv.config.compose.yamlload import YDict, where
from devenv.config.model import (
    Condition,
    Dependency,
    Healthcheck,
    Origin,
    PortMapping,
    RestartPolicy,
    Service,
    Stack,
    VolumeMount,
    frozen_map,
)
from devenv.config.stack.graph import find_cycle
from devenv.config.stack.resources import file_resource, used_resources
from devenv.config.stack.resources import networks as networks_of
from devenv.config.stack.resources import volumes as volumes_of
from devenv.config.stack.xdevenv import XDevenv, read_xdevenv
from devenv.errors import ConfigError, did_you_mean

# Keys the Service model carries as typed fields; everything else goes to `extra`.
MODELLED = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "profiles",
    "working_dir",
    "restart",
    "stop_signal",
    "stop_grace_period",
    "labels",
    "x-devenv",
}


def is_active(service: Mapping[str, Any], enabled: Sequence[str]) -> bool:
    profiles = service.get("profiles") or []
    return not profiles or "*" in enabled or any(p in enabled for p in profiles)


def build_stack(
    model: YDict,
    *,
    name: str,
    project_dir: Path,
    files: tuple[Path, ...],
    variables: Mapping[str, str],
    env_file: Path | None,
    profiles: tuple[str, ...],
    warnings: list[str],
    targeted: tuple[str, ...] = (),
) -> Stack:
    services: Mapping[str, Any] = model.get("services") or {}
    for service_name, spec in services.items():
        _check_dependencies(service_name, spec, services)
    enabled = _with_dependencies([n for n in targeted if n in services], services)
    active = {n: s for n, s in services.items() if n in enabled or is_active(s, profiles)}
    for service_name, spec in active.items():
        for dep, entry in (spec.get("depends_on") or {}).items():
            if dep not in active and entry.get("required", True):
                wanted = services[dep].get("profiles") or []
                raise error_at(
                    spec.get("depends_on"),
                    dep,
                    f"depends on '{dep}', which is only in profile(s) {', '.join(wanted)}",
                    service=service_name,
                    dotted=f"depends_on.{dep}",
                    hint=f"enable it with --profile {wanted[0]}" if wanted else None,
                )
    cycle = find_cycle({n: list(s.get("depends_on") or {}) for n, s in active.items()})
    if cycle:
        first = active[cycle[0]]
        raise error_at(
            first.get("depends_on"),
            cycle[1],
            "dependency cycle: " + " -> ".join(cycle),
            service=cycle[0],
            dotted=f"depends_on.{cycle[1]}",
            hint="remove one of these depends_on entries",
        )

    built: dict[str, Service] = {}
    for service_name, spec in active.items():
        built[service_name] = _service(service_name, spec, project_dir, variables)
    warnings = [*warnings, *_process_warnings(built, active)]
    used = used_resources(built)
    uses_default = "default" in used["networks"]
    extra = {k: v for k, v in model.items() if k not in ("services", "volumes", "networks", "name")}
    for key in ("secrets", "configs"):
        # As Compose: resources no active service uses are left out.
        if key in extra:
            kept = {
                n: file_resource(v, n, name, project_dir)
                for n, v in extra[key].items()
                if n in used[key]
            }
            if kept:
                extra[key] = kept
            else:
                del extra[key]
    volumes = {n: v for n, v in (model.get("volumes") or {}).items() if n in used["volumes"]}
    networks = {n: v for n, v in (model.get("networks") or {}).items() if n in used["networks"]}
    return Stack(
        name=name,
        project_dir=project_dir,
        files=files,
        services=frozen_map(built),
        volumes=frozen_map(volumes_of(volumes, name)),
        networks=frozen_map(networks_of(networks, name, uses_default)),
        extra=frozen_map(extra),
        variables=frozen_map(variables),
        env_file=env_file,
        active_profiles=profiles,
        warnings=tuple(warnings),
    )


def _process_warnings(services: Mapping[str, Service], specs: Mapping[str, Any]) -> list[str]:
    """Container-only keys on a service devenv runs as a local process: kept for
    `docker compose`, but devenv does not use them, which may surprise."""
    out: list[str] = []
    for name, service in services.items():
        local = service.local
        if local is None or service.kind != "process":
            continue  # as a container, its Compose ports and healthcheck apply
        spec = specs[name]
        if "healthcheck" in spec and local.ready is None:
            file, line = where(spec, "healthcheck")
            out.append(
                f"{file}:{line}: service '{name}': healthcheck applies to the container only; "
                "devenv runs this service as a local process (use x-devenv.ready)"
            )
        if spec.get("ports") and not local.ports:
            file, line = where(spec, "ports")
            out.append(
                f"{file}:{line}: service '{name}': ports apply to the container only; "
                "list the ports the local process listens on in x-devenv.ports"
            )
    return out


def _with_dependencies(names: list[str], services: Mapping[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(d for d in services[name].get("depends_on") or {} if d in services)
    return seen


def _check_dependencies(name: str, spec: Mapping[str, Any], services: Mapping[str, Any]) -> None:
    for dep in spec.get("depends_on") or {}:
        if dep not in services:
            raise error_at(
                spec.get("depends_on"),
                dep,
                f"depends on an unknown service '{dep}'",
                service=name,
                dotted=f"depends_on.{dep}",
                hint=did_you_mean(dep, services) or f"the services are: {', '.join(services)}",
            )


def _environment(
    name: str, spec: Mapping[str, Any], variables: Mapping[str, str]
) -> dict[str, str | None]:
    env: dict[str, str | None] = {}
    for index, entry in enumerate(spec.get("env_file") or []):
        path = Path(entry["path"])
        if not path.is_file() and not entry.get("required", True):
            continue
        try:
            values = env_file_values(
                path,
                variables,
                earlier={k: v for k, v in env.items() if v is not None},
                service=name,
                key=f"env_file[{index}]",
            )
        except ConfigError as error:
            if error.line is None and not path.is_file():  # point at the env_file entry
                error.file, error.line = where(spec.get("env_file"), index)
                error.message = f"env file not found: {path}"
            raise
        env.update(values)
    for key, value in (spec.get("environment") or {}).items():
        env[key] = variables.get(key) if value is None else value
    return env


def _service(
    name: str, spec: Mapping[str, Any], project_dir: Path, variables: Mapping[str, str]
) -> Service:
    file, line = (
        spec.file if isinstance(spec, YDict) else None,
        spec.line if isinstance(spec, YDict) else None,
    )
    origin = Origin(Path(file) if file else project_dir, line)
    replicas = _replicas(name, spec)
    has_container = bool(spec.get("image") or spec.get("build"))
    xdevenv = XDevenv(local=None, mode=None)
    if "x-devenv" in spec:
        block = spec["x-devenv"]
        xdevenv = read_xdevenv(
            name,
            block,
            project_dir=Path(block.base_dir) if getattr(block, "base_dir", None) else project_dir,
            variables=variables,
            develop=spec.get("develop"),
            has_container=has_container,
            replicas=replicas,
            parent=spec,
        )
    if xdevenv.local is None and not has_container:
        raise error_at(
            spec,
            None,
            "has neither an image nor a build, nor an x-devenv block with `run`",
            service=name,
            hint="add `image:`, `build:`, or `x-devenv: {run: ...}` to run it locally",
        )
    build = None
    if isinstance(spec.get("build"), dict):
        build = dict(spec["build"])
        if "dockerfile" not in build and "dockerfile_inline" not in build:
            build["dockerfile"] = "Dockerfile"
    health = spec.get("healthcheck")
    healthcheck = None
    if health is not None:
        healthcheck = Healthcheck(
            test=tuple(health["test"]) if health.get("test") is not None else None,
            interval=_seconds(health.get("interval")),
            timeout=_seconds(health.get("timeout")),
            retries=health.get("retries"),
            start_period=_seconds(health.get("start_period")),
            start_interval=_seconds(health.get("start_interval")),
            disable=bool(health.get("disable", False)),
        )
    restart = spec.get("restart")
    if restart is not None:
        policy = str(restart).split(":")[0]
        if policy not in RESTART_POLICIES:
            raise error_at(
                spec,
                "restart",
                f"unknown restart policy {restart!r}",
                service=name,
                dotted="restart",
                hint=did_you_mean(policy, RESTART_POLICIES)
                or "use no, always, on-failure or unless-stopped",
            )
    extra = {k: v for k, v in spec.items() if k not in MODELLED}
    if restart is not None and ":" in str(restart):
        extra["restart"] = restart  # on-failure:N: the model keeps the policy, render the count
    if "network_mode" not in spec and "networks" not in spec:
        extra["networks"] = {"default": None}
    return Service(
        name=name,
        origin=origin,
        image=spec.get("image"),
        build=frozen_map(build) if build is not None else None,
        command=tuple(spec["command"]) if spec.get("command") is not None else None,
        entrypoint=tuple(spec["entrypoint"]) if spec.get("entrypoint") is not None else None,
        environment=frozen_map(_environment(name, spec, variables)),
        ports=tuple(_port(p) for p in spec.get("ports") or []),
        volumes=tuple(_volume(v) for v in spec.get("volumes") or []),
        depends_on=frozen_map(
            {
                dep: Dependency(
                    service=dep,
                    condition=Condition(entry.get("condition", "service_started")),
                    required=bool(entry.get("required", True)),
                    restart=bool(entry.get("restart", False)),
                )
                for dep, entry in (spec.get("depends_on") or {}).items()
            }
        ),
        healthcheck=healthcheck,
        profiles=tuple(spec.get("profiles") or ()),
        working_dir=spec.get("working_dir"),
        restart=cast(RestartPolicy, str(restart).split(":")[0]) if restart is not None else None,
        replicas=replicas,
        stop_signal=spec.get("stop_signal"),
        stop_grace_period=_seconds(spec.get("stop_grace_period")),
        labels=frozen_map(spec.get("labels") or {}),
        local=xdevenv.local,
        mode=xdevenv.mode,
        rewrite=xdevenv.rewrite,
        extra=frozen_map(extra),
    )


def _replicas(name: str, spec: Mapping[str, Any]) -> int:
    """`deploy.replicas`, else `scale`, else 1; both set and different is an error,
    as in Compose."""
    deploy = spec.get("deploy") or {}
    replicas, scale = deploy.get("replicas"), spec.get("scale")
    if replicas is not None and scale is not None and replicas != scale:
        raise error_at(
            spec,
            "scale",
            f"scale ({scale}) and deploy.replicas ({replicas}) differ",
            service=name,
            dotted="scale",
            hint="keep one of them (docker compose refuses both with distinct values)",
        )
    count = replicas if replicas is not None else scale
    return 1 if count is None else int(count)


def _seconds(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


def _port(entry: Mapping[str, Any]) -> PortMapping:
    return PortMapping(
        target=int(entry["target"]),
        published=entry.get("published"),
        host_ip=entry.get("host_ip"),
        protocol=entry.get("protocol", "tcp"),
        mode=entry.get("mode", "ingress"),
        name=entry.get("name"),
        app_protocol=entry.get("app_protocol"),
    )


def _volume(entry: Mapping[str, Any]) -> VolumeMount:
    kind = entry["type"]
    options = entry.get(kind) if kind in ("bind", "volume", "tmpfs", "image") else None
    return VolumeMount(
        type=kind,
        target=entry["target"],
        source=entry.get("source"),
        read_only=bool(entry.get("read_only", False)),
        options=frozen_map(options if isinstance(options, dict) else {}),
    )
