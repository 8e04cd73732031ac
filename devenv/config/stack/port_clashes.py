"""Two services may not publish the same host port: checked at load time,
not discovered when the second one fails to start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devenv.config.compose.errors_at import error_at
from devenv.config.model import Service

WILDCARD_HOSTS = {None, "", "0.0.0.0", "::"}


def _published_ports(published: str) -> range:
    start, _, end = published.partition("-")
    return range(int(start), int(end or start) + 1)


def check_port_clashes(services: Mapping[str, Service], specs: Mapping[str, Any]) -> None:
    taken: dict[tuple[str, int], list[tuple[str, str | None]]] = {}
    for name, service in services.items():
        claims: list[tuple[int, str, str | None, Any, Any, str]] = []
        # A process service's Compose `ports` are what plain `docker compose` would
        # publish for its container; devenv publishes only `x-devenv.ports` for it.
        compose_ports = service.ports if service.local is None else ()
        for index, port in enumerate(compose_ports):
            if port.published:
                for number in _published_ports(port.published):
                    claims.append(
                        (number, port.protocol, port.host_ip, specs[name].get("ports"), index, "")
                    )
        if service.local is not None:
            raw_ports = service.local.raw.get("ports")
            for index, number in enumerate(service.local.ports):
                # Replica n listens on port + n - 1 (see devenv.runtime.process).
                for offset in range(max(service.local.replicas, 1)):
                    claims.append((number + offset, "tcp", None, raw_ports, index, "x-devenv."))
        for number, protocol, host_ip, node, index, prefix in claims:
            for owner, owner_ip in taken.get((protocol, number), []):
                if host_ip in WILDCARD_HOSTS or owner_ip in WILDCARD_HOSTS or host_ip == owner_ip:
                    on = f" on {host_ip}" if host_ip not in WILDCARD_HOSTS else ""
                    by = "twice by this service" if owner == name else f"by service '{owner}'"
                    raise error_at(
                        node,
                        index,
                        f"host port {number}/{protocol}{on} is also published {by}",
                        service=name,
                        dotted=f"{prefix}ports[{index}]",
                        hint="give one of them another host port",
                    )
            taken.setdefault((protocol, number), []).append((name, host_ip))
