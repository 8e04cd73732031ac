"""Which host ports the services about to start claim, and which claims clash.

Compose accepts two services publishing the same host port (an `extends` copy
of a service on the same port is common); only starting both together fails.
So this is not a load-time check: the engine asks it at start, over the
services it is about to start, each in the kind it will run as. Pure: no
sockets, no Docker (devenv.runtime.ports adds those).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devenv.config.model import Kind, Service, Stack

WILDCARD_HOSTS = frozenset({None, "", "0.0.0.0", "::"})
# Where devenv publishes a container port when the file names no address
# (devenv.runtime.docker_spec does the same).
CONTAINER_DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class PortClaim:
    """One host port one unit will listen on (a process) or publish (a container)."""

    service: str
    unit: str  # "api", or "api-2" for a replica
    kind: Kind
    port: int
    protocol: str = "tcp"
    # The host address: for a container, where devenv publishes it; None for a
    # process, which may bind any address.
    host_ip: str | None = None
    key: str = ""  # where it is configured: "ports[0]" or "x-devenv.ports[0]"

    def describe(self) -> str:
        who = f"service '{self.service}'"
        if self.unit != self.service:
            who += f" (replica {self.unit})"
        return f"{who} {self.key}" if self.key else who

    def overlaps(self, other: PortClaim) -> bool:
        """Both would need the same socket: same port and protocol, and addresses
        that meet (a wildcard meets every address)."""
        if (self.port, self.protocol) != (other.port, other.protocol):
            return False
        return (
            self.host_ip in WILDCARD_HOSTS
            or other.host_ip in WILDCARD_HOSTS
            or self.host_ip == other.host_ip
        )


@dataclass(frozen=True)
class PortClash:
    """Two claims on one host port."""

    first: PortClaim
    second: PortClaim

    @property
    def port(self) -> int:
        return self.first.port

    def message(self) -> str:
        port = f"{self.first.port}/{self.first.protocol}"
        if self.first.unit == self.second.unit:
            return (
                f"host port {port} is claimed twice by service '{self.first.service}': "
                f"{self.first.key} and {self.second.key}"
            )
        if self.first.service == self.second.service:
            return (
                f"host port {port} is claimed twice by service '{self.first.service}': "
                f"{self.first.unit} and {self.second.unit} ({self.first.key})"
            )
        return (
            f"host port {port} is claimed by {self.first.describe()} "
            f"and by {self.second.describe()}"
        )

    def hint(self) -> str:
        if self.first.unit == self.second.unit:
            return "give one of them another host port"
        if self.first.service == self.second.service:
            if self.first.kind == "container":
                return "publish a range (e.g. '8000-8003:80') or no host port, or run one replica"
            return "give each replica its own port (replica n gets each port + n-1)"
        return (
            "give one of them another host port, or start them apart "
            f"(devenv start {self.first.service} / devenv start {self.second.service})"
        )


def host_port_claims(stack: Stack, kinds: Mapping[str, Kind]) -> list[PortClaim]:
    """Every host port claimed by the services of `stack` (pass the selected
    stack), each in `kinds[name]` (default: its `kind`), all replicas: a local
    process's `x-devenv.ports` plus the replica offset, or a container's
    published ports (a range claims each of its ports)."""
    claims: list[PortClaim] = []
    for name, service in stack.services.items():
        kind = kinds.get(name, service.kind)
        if kind == "process" and service.local is not None:
            claims.extend(_process_claims(service))
        elif kind == "container":
            claims.extend(_container_claims(service))
    return claims


def host_port_clashes(stack: Stack, kinds: Mapping[str, Kind]) -> list[PortClash]:
    """Pairs of claims on the same host port, in file order (each pair once)."""
    clashes: list[PortClash] = []
    seen: list[PortClaim] = []
    for claim in host_port_claims(stack, kinds):
        for earlier in seen:
            if earlier.overlaps(claim):
                clashes.append(PortClash(earlier, claim))
                break
        seen.append(claim)
    return clashes


def _process_claims(service: Service) -> list[PortClaim]:
    claims: list[PortClaim] = []
    for replica in range(1, service.replica_count("process") + 1):
        for index, port in enumerate(service.ports_for(replica)):
            claims.append(
                PortClaim(
                    service=service.name,
                    unit=service.unit_name(replica, "process"),
                    kind="process",
                    port=port,
                    key=f"x-devenv.ports[{index}]",
                )
            )
    return claims


def _container_claims(service: Service) -> list[PortClaim]:
    count = service.replica_count("container")
    claims: list[PortClaim] = []
    for index, mapping in enumerate(service.ports):
        if not mapping.published:
            continue  # the engine picks a free host port
        first, last = _port_range(mapping.published)
        # A fixed port is claimed by every replica (Docker refuses the second);
        # a range is shared out among the replicas, so it is claimed once.
        replicas = range(1, count + 1) if first == last else range(1, min(count, 1) + 1)
        for replica in replicas:
            for port in range(first, last + 1):
                claims.append(
                    PortClaim(
                        service=service.name,
                        unit=service.unit_name(replica, "container"),
                        kind="container",
                        port=port,
                        protocol=mapping.protocol or "tcp",
                        host_ip=mapping.host_ip or CONTAINER_DEFAULT_HOST,
                        key=f"ports[{index}]",
                    )
                )
    return claims


def _port_range(published: str) -> tuple[int, int]:
    start, _, end = published.partition("-")
    return int(start), int(end or start)
