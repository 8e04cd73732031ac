"""Is a port free, and if not, who holds it; the pre-flight check of every host
port before a stack starts."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devenv.config.model import Kind, Stack
from devenv.config.stack.port_clashes import (
    WILDCARD_HOSTS,
    PortClaim,
    host_port_claims,
    host_port_clashes,
)
from devenv.errors import DevenvError, PortInUseError


def port_is_free(port: int, host: str = "0.0.0.0", protocol: str = "tcp") -> bool:
    """Try to bind it, the way the service will. SO_REUSEADDR so that sockets in
    TIME_WAIT (our own previous instance) do not count as taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_holder(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on `port`, when it can be seen."""
    import psutil

    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            if conn.pid is None:
                return None
            try:
                proc = psutil.Process(conn.pid)
                command = " ".join(proc.cmdline()) or proc.name()
            except psutil.Error:
                command = "?"
            return conn.pid, command
    return None


def unseen_holder_fix(port: int) -> str:
    """The first fix to offer when nothing is seen listening on a taken port.
    In the kernel's ephemeral range that is most often an outgoing connection
    that drew the port as its local end; it comes back at random, so say so."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(part) for part in f.read().split()[:2])
    except (OSError, ValueError):
        return "free the port"
    if low <= port <= high:
        return (
            f"free the port ({port} is in the kernel's range for outgoing connections, "
            f"{low}-{high}, where any connection may take it: prefer a port below {low})"
        )
    return "free the port"


def check_ports_free(ports: tuple[int, ...], service: str) -> None:
    """Raise PortInUseError naming the holder of the first taken port."""
    for port in ports:
        if port_is_free(port):
            continue
        holder = port_holder(port)
        if holder:
            pid, command = holder
            who = f"pid {pid} ({command[:200]})"
            hint = f"stop pid {pid}, or change the port in x-devenv.ports"
        else:
            who = "another process"
            hint = f"{unseen_holder_fix(port)}, or change it in x-devenv.ports"
        raise PortInUseError(
            f"port {port} is already in use by {who}",
            hint=hint,
            service=service,
            key="x-devenv.ports",
        )


# --- pre-flight -------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A host port a running container publishes, as Docker reports it."""

    container: str
    port: int
    protocol: str
    host_ip: str
    project: str | None  # com.docker.compose.project
    service: str | None  # com.docker.compose.service


def preflight_ports(
    stack: Stack,
    kinds: Mapping[str, Kind],
    *,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Before anything of `stack` (the services about to start) starts: raise
    PortInUseError for two of them claiming one host port (naming both), or for
    a port something else holds (naming it: pid and command, or the container
    that publishes it). Docker is asked only when a service runs as a container
    or when Docker's userland proxy holds a port;
    a container of this project publishing its own service's port is not in the
    way of that service's container (the engine reuses or replaces it), but is of
    its local process."""
    clashes = host_port_clashes(stack, kinds)
    if clashes:
        clash = clashes[0]
        raise PortInUseError(
            clash.message(),
            hint=clash.hint(),
            service=clash.second.service,
            key=clash.second.key,
        )
    claims = host_port_claims(stack, kinds)
    if not claims:
        return
    docker_is_local = True
    published: list[Published] = []
    if any(claim.kind == "container" for claim in claims):
        published, docker_is_local = docker_published_ports(environ)
    for claim in claims:
        holder = _container_holding(claim, published, stack.name)
        if holder is not None:
            own = holder.project == stack.name and holder.service == claim.service
            if own and claim.kind == "container":
                continue  # this service's own container: reused or replaced at start
            raise _taken(claim, f"container '{holder.container}'", _container_hint(holder))
        if claim.kind == "container" and not docker_is_local:
            continue  # published on the Docker host, not here
        host = claim.host_ip or "0.0.0.0"
        if port_is_free(claim.port, host, claim.protocol):
            continue
        found = port_holder(claim.port)
        if found is not None and "docker-proxy" in found[1] and not published:
            # Docker's userland proxy: name the container behind it instead.
            published, _ = docker_published_ports(environ)
            holder = _container_holding(claim, published, stack.name)
            if holder is not None:
                raise _taken(claim, f"container '{holder.container}'", _container_hint(holder))
        if found is not None:
            pid, command = found
            raise _taken(claim, f"pid {pid} ({command[:200]})", f"stop pid {pid}")
        raise _taken(claim, "another process", unseen_holder_fix(claim.port))


def docker_published_ports(
    environ: Mapping[str, str] | None = None,
) -> tuple[list[Published], bool]:
    """Host ports the running containers publish, and whether the engine runs on
    this machine (a unix socket). Nothing when Docker cannot be reached: the start
    that follows reports that itself."""
    from devenv.runtime.docker_connect import connect, resolve_endpoint

    local = resolve_endpoint(environ).host.startswith(("unix://", "npipe://"))
    try:
        client = connect(environ)
        containers = client.containers.list()
    except DevenvError:
        return [], local
    except Exception:  # an engine that fails mid-list: same as unreachable here
        return [], local
    out: list[Published] = []
    for container in containers:
        out.extend(_published_by(container))
    return out, local


def _published_by(container: Any) -> list[Published]:
    labels = container.labels or {}
    ports: Mapping[str, Any] = container.ports or {}
    out: list[Published] = []
    for key, bindings in ports.items():
        _, _, protocol = str(key).partition("/")
        for binding in bindings or []:
            try:
                port = int(binding.get("HostPort") or 0)
            except ValueError:
                continue
            if port:
                out.append(
                    Published(
                        container=container.name,
                        port=port,
                        protocol=protocol or "tcp",
                        host_ip=binding.get("HostIp") or "0.0.0.0",
                        project=labels.get("com.docker.compose.project"),
                        service=labels.get("com.docker.compose.service"),
                    )
                )
    return out


def _container_holding(
    claim: PortClaim, published: list[Published], project: str
) -> Published | None:
    """The container publishing the claimed port, this project's own for the same
    service first (so that it is recognised rather than reported)."""
    matches = [
        p
        for p in published
        if (p.port, p.protocol) == (claim.port, claim.protocol)
        and (
            claim.host_ip in WILDCARD_HOSTS
            or p.host_ip in WILDCARD_HOSTS
            or p.host_ip == claim.host_ip
        )
    ]
    matches.sort(key=lambda p: not (p.project == project and p.service == claim.service))
    return matches[0] if matches else None


def _container_hint(holder: Published) -> str:
    if holder.project:
        return (
            f"stop it (docker stop {holder.container}, or docker compose -p {holder.project} stop)"
        )
    return f"stop it (docker stop {holder.container})"


def _taken(claim: PortClaim, who: str, first_fix: str) -> PortInUseError:
    where = "x-devenv.ports" if claim.kind == "process" else "ports:"
    unit = f" for {claim.unit}" if claim.unit != claim.service else ""
    return PortInUseError(
        f"host port {claim.port}/{claim.protocol}{unit} is already in use by {who}",
        hint=f"{first_fix}, or change the port in {where}",
        service=claim.service,
        key=claim.key,
    )
