"""Short syntax to long syntax, as `docker compose config` writes it.

`canonical_service` dispatches each key of one service to its handler
(in `shapes`, `ports`, `volumes` and `compose_keys`), which takes the
raw (interpolated) value and returns the canonical form: ports and
volumes as lists of mappings, `depends_on` and `environment` as
mappings, `command` as a list, relative paths made absolute.
Merging and the model work on these canonical forms only.
"""

from __future__ import annotations

from typing import Any

from devenv.config.compose.canonical import Context, integer, new_like
from devenv.config.compose.develop import develop
from devenv.config.compose.errors_at import type_name
from devenv.config.compose.keys import (
    build,
    depends_on,
    deploy,
    duration_key,
    env_file,
    healthcheck,
    mounts,
)
from devenv.config.compose.ports import ports
from devenv.config.compose.schema import (
    SERVICE_KEYS,
)
from devenv.config.compose.shapes import (
    bytes,
    command,
    devices,
    environment,
    expose,
    extra_hosts,
    false_is_absent,
    labels,
    networks,
    one_or_list,
    profiles,
    string,
    sysctls,
)
from devenv.config.compose.volumes import volumes
from devenv.config.compose.yamlload import YDict, copy_meta
from devenv.errors import did_you_mean


def canonical_service(raw: Any, ctx: Context) -> YDict:
    """One service in canonical form; raises ConfigError on anything malformed."""
    if raw is None:
        raw = YDict()
    if not isinstance(raw, dict):
        raise ctx.fail(
            None,
            None,
            "",
            f"a service must be a mapping, not {type_name(raw)}",
            hint="write the service's keys indented under its name",
        )
    out = new_like(raw)
    for key, value in raw.items():
        if key.startswith("x-"):
            if key == "x-devenv" and isinstance(value, dict):
                value = copy_meta(value, YDict(value))
                value.base_dir = str(ctx.base_dir)
            out[key] = value
            continue
        if key not in SERVICE_KEYS:
            raise ctx.fail(
                raw,
                key,
                key,
                f"unknown key '{key}' (docker compose rejects it too)",
                hint=did_you_mean(key, SERVICE_KEYS) or "see the Compose Specification",
            )
        handler = _HANDLERS.get(key)
        result = handler(raw, key, value, ctx) if handler else value
        if result is None and key in _FALSE_IS_ABSENT:
            continue
        out[key] = result
    return out


# Keys left out when their handler returns None (`privileged: false`, `develop:`).
_FALSE_IS_ABSENT = {"privileged", "read_only", "stdin_open", "tty", "oom_kill_disable", "develop"}


_HANDLERS: dict[str, Any] = {
    "command": command,
    "entrypoint": command,
    "environment": environment,
    "labels": labels,
    "annotations": labels,
    "profiles": profiles,
    "expose": expose,
    "networks": networks,
    "build": build,
    "env_file": env_file,
    "ports": ports,
    "volumes": volumes,
    "depends_on": depends_on,
    "healthcheck": healthcheck,
    "stop_grace_period": duration_key,
    "develop": develop,
    "deploy": deploy,
    "scale": integer,
    "dns": one_or_list,
    "dns_search": one_or_list,
    "dns_opt": one_or_list,
    "tmpfs": one_or_list,
    "mem_limit": bytes,
    "mem_reservation": bytes,
    "memswap_limit": bytes,
    "shm_size": bytes,
    "privileged": false_is_absent,
    "read_only": false_is_absent,
    "stdin_open": false_is_absent,
    "tty": false_is_absent,
    "oom_kill_disable": false_is_absent,
    "extra_hosts": extra_hosts,
    "devices": devices,
    "secrets": mounts,
    "configs": mounts,
    "sysctls": sysctls,
    "image": string,
    "working_dir": string,
    "restart": string,
    "stop_signal": string,
    "container_name": string,
    "user": string,
    "hostname": string,
    "platform": string,
}
