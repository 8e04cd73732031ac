"""Stack -> the mapping `docker compose config --format json` prints.

Strings are escaped as Compose escapes them (`$` -> `$$`) so the output can be
read back. Unlike `docker compose config --format json`, which drops
service-level `x-*` keys, the `x-devenv` block is kept (as written, after
interpolation); other service-level `x-*` keys are kept too, as Compose's YAML
output does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devenv.config.compose.durations import format_duration
from devenv.config.model import Healthcheck, Kind, PortMapping, Service, Stack, VolumeMount


def escape(value: Any) -> Any:
    """Every string with `$` doubled, recursively (mapping keys are left alone)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, Mapping):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """Read-only mappings and tuples made into dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def render_stack(stack: Stack) -> dict[str, Any]:
    out: dict[str, Any] = {"name": stack.name}
    if stack.networks:
        out["networks"] = plain(stack.networks)
    out["services"] = {name: render_service(s) for name, s in stack.services.items()}
    if stack.volumes:
        out["volumes"] = plain(stack.volumes)
    for key, value in stack.extra.items():
        out[key] = plain(value)
    return escape(out)  # type: ignore[no-any-return]


def render_service(service: Service) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if service.profiles:
        out["profiles"] = list(service.profiles)
    if service.build is not None:
        out["build"] = plain(service.build)
    out["command"] = list(service.command) if service.command is not None else None
    if service.depends_on:
        out["depends_on"] = {
            name: {
                "condition": dep.condition.value,
                **({"restart": True} if dep.restart else {}),
                "required": dep.required,
            }
            for name, dep in service.depends_on.items()
        }
    out["entrypoint"] = list(service.entrypoint) if service.entrypoint is not None else None
    if service.environment:
        out["environment"] = dict(service.environment)
    if service.healthcheck is not None:
        out["healthcheck"] = render_healthcheck(service.healthcheck)
    if service.image is not None:
        out["image"] = service.image
    if service.labels:
        out["labels"] = dict(service.labels)
    if service.ports:
        out["ports"] = [render_port(p) for p in service.ports]
    if service.restart is not None:
        out["restart"] = service.restart
    if service.stop_grace_period is not None:
        out["stop_grace_period"] = format_duration(service.stop_grace_period)
    if service.stop_signal is not None:
        out["stop_signal"] = service.stop_signal
    if service.volumes:
        out["volumes"] = [render_volume(v) for v in service.volumes]
    if service.working_dir is not None:
        out["working_dir"] = service.working_dir
    for key, value in service.extra.items():
        out[key] = plain(value)
    if service.local is not None:
        out["x-devenv"] = plain(service.local.raw)
    return out


def render_port(port: PortMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if port.name is not None:
        out["name"] = port.name
    out["mode"] = port.mode
    if port.host_ip:
        out["host_ip"] = port.host_ip
    out["target"] = port.target
    if port.published is not None:
        out["published"] = port.published
    out["protocol"] = port.protocol
    if port.app_protocol is not None:
        out["app_protocol"] = port.app_protocol
    return out


def render_volume(volume: VolumeMount) -> dict[str, Any]:
    out: dict[str, Any] = {"type": volume.type}
    if volume.source is not None:
        out["source"] = volume.source
    out["target"] = volume.target
    if volume.read_only:
        out["read_only"] = True
    if volume.type in ("bind", "volume", "tmpfs", "image") and (
        volume.options or volume.type == "volume"
    ):
        out[volume.type] = plain(volume.options)
    return out


def render_healthcheck(check: Healthcheck) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if check.test is not None:
        out["test"] = list(check.test)
    for key in ("timeout", "interval", "start_period", "start_interval"):
        value = getattr(check, key)
        if value is not None:
            out[key] = format_duration(value)
    if check.retries is not None:
        out["retries"] = check.retries
    if check.disable:
        out["disable"] = True
    return out


def render_resolved(
    stack: Stack, kinds: Mapping[str, Kind], names: list[str] | None = None
) -> dict[str, Any]:
    """Each service's environment where it runs (`devenv config --resolved`):
    `stack` is the whole stack (every service an address may name), `names` the
    services to show (default: all)."""
    from devenv.config.stack.environment import service_environment

    out: dict[str, Any] = {}
    for name in names if names is not None else list(stack.services):
        service = stack.service(name)
        resolved = service_environment(stack, service, kinds)
        entry: dict[str, Any] = {
            "mode": "local" if resolved.kind == "process" else "container",
            "environment": dict(resolved.environment),
            "rewrites": [
                {"variable": r.variable, "before": r.before, "after": r.after, "target": r.target}
                for r in resolved.rewrites
            ],
        }
        if resolved.extra_hosts:
            entry["extra_hosts"] = list(resolved.extra_hosts)
        if resolved.notes:
            entry["notes"] = list(resolved.notes)
        out[name] = entry
    return out


def format_resolved(resolved: Mapping[str, Any]) -> str:
    """The text form of `render_resolved`."""
    lines: list[str] = []
    for name, entry in resolved.items():
        lines.append(f"{name} ({entry['mode']})")
        lines.append("  environment:" if entry["environment"] else "  environment: (none)")
        lines.extend(f"    {k}={v}" for k, v in entry["environment"].items())
        if entry["rewrites"]:
            lines.append("  rewrites:")
            lines.extend(
                f"    {r['variable']}: {r['before']} -> {r['after']}" for r in entry["rewrites"]
            )
        if entry.get("extra_hosts"):
            lines.append("  extra_hosts: " + ", ".join(entry["extra_hosts"]))
        lines.extend(f"  note: {note}" for note in entry.get("notes", []))
    return "\n".join(lines) + "\n" if lines else ""
