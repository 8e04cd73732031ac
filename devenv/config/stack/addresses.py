"""Addresses follow the mode: a service's Compose environment addresses the
others the Compose way (`db:5432`, `postgres://app:pw@db:5432/app`); rewritten
here to where each of them is reachable from where the service runs.

- A local process reaches a container at `127.0.0.1:<published host port>`
  (the published port whose target is the addressed port; replica 1), and
  another local process at `127.0.0.1:<its x-devenv port>`.
- A container reaches a local process at `host.docker.internal:<its port>`
  (and then needs `extra_hosts: host.docker.internal:host-gateway`); it reaches
  other containers the Compose way, unchanged.

What counts as an address: `host:port` where `host` is a service name (or a
network alias or `container_name` of one), inside a URL (`scheme://[user:pw@]`
`host[:port][,host:port…]/…`; a URL without a port uses its scheme's default,
and is left alone when that port is not published), as a whole value or in a
list (`a:1,b:2`), or in a keyword DSN (`host=db port=5432`); outside a URL or a
DSN, only when the number is a port the service declares (`ports`, `expose`,
`x-devenv.ports`), so that an image tag such as `postgres:16` is not taken for
one. A host without a port (`SMTP_HOST: mailpit`) is left alone (with a note),
and so is everything that only looks like
an address: a time (`12:30`), an IPv6 literal, a Windows path, a host that is no
service, a service's name inside a longer word (`mydb:5432`, `db.example.com`).

Pure: the stack in, values out; no sockets, no Docker.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.config.compose.envfile import X_DEVENV_MISSING_HINT, env_file_values
from devenv.config.model import Kind, Rewrite, Service, Stack
from devenv.errors import ConfigError

DOCKER_HOST_ALIAS = "host.docker.internal"
EXTRA_HOST = f"{DOCKER_HOST_ALIAS}:host-gateway"  # Docker's ExtraHosts form
LOOPBACK = "127.0.0.1"
WILDCARDS = frozenset({"", "0.0.0.0", "::"})

# The port a URL means when it names none.
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "postgres": 5432,
    "postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "amqps": 5671,
    "mongodb": 27017,
    "nats": 4222,
    "memcached": 11211,
    "smtp": 25,
    "ldap": 389,
    "ldaps": 636,
}

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#\s\"'<>]*)")
_URL_HOST = re.compile(r"^(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[0-9]*))?$")
# host:port on its own: not part of a longer name, path or IPv6 literal
_HOST_PORT = re.compile(
    r"(?<![\w.\-:/\[%])(?P<host>[A-Za-z0-9_][A-Za-z0-9_.\-]*):(?P<port>[0-9]{1,5})"
    r"(?![\w.\-\]:])"
)
_KEYWORD_HOST = re.compile(r"(?i)(?<![\w.])host\s*=\s*(?P<host>[A-Za-z0-9_][A-Za-z0-9_.\-]*)")
_KEYWORD_PORT = re.compile(r"(?i)(?<![\w.])port\s*=\s*(?P<port>[0-9]{1,5})\b")


_Add = Callable[[int, int, str, str], None]  # (start, end, replacement, service addressed)


@dataclass(frozen=True)
class RewrittenEnvironment:
    """A service's Compose environment (`environment` + `env_file`) as it runs."""

    environment: Mapping[str, str | None]
    rewrites: tuple[Rewrite, ...] = ()
    # For a container that reaches a local process: what its ExtraHosts need.
    extra_hosts: tuple[str, ...] = ()
    # Values that name a service but were left alone, and why (for `config --resolved`).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Reach:
    host: str
    port: int

    def host_port(self) -> str:
        return f"{_bracketed(self.host)}:{self.port}"


def rewrite_environment(
    stack: Stack, service: Service, kinds: Mapping[str, Kind]
) -> RewrittenEnvironment:
    """`service`'s Compose environment with the addresses of other services
    rewritten for where each runs (`kinds[name]`, default: its `kind`). `stack`
    is the whole stack: every service an address may name.

    Nothing is rewritten when the service has `x-devenv.rewrite: false`; for a
    local process, variables that `x-devenv.environment` or `x-devenv.env_file`
    set are left as they are (those win). Raises ConfigError for an address whose
    port is not reachable from where the service runs (naming both services, the
    variable and the fix)."""
    kind = kinds.get(service.name, service.kind)
    environment = dict(service.environment)
    if not service.rewrite:
        return RewrittenEnvironment(environment)
    overridden = _overridden(stack, service) if kind == "process" else set()
    scanner = _Scanner(stack, service, kind, kinds)
    rewrites: list[Rewrite] = []
    notes: list[str] = []
    for variable, value in service.environment.items():
        if value is None or variable in overridden:
            continue
        after, targets, value_notes = scanner.value(variable, value)
        notes.extend(value_notes)
        if after != value:
            environment[variable] = after
            rewrites.append(Rewrite(variable, value, after, ", ".join(targets)))
    extra_hosts: tuple[str, ...] = ()
    if scanner.used_host_alias and not _has_host_alias(service):
        extra_hosts = (EXTRA_HOST,)
    return RewrittenEnvironment(environment, tuple(rewrites), extra_hosts, tuple(notes))


def _overridden(stack: Stack, service: Service) -> set[str]:
    local = service.local
    if local is None:
        return set()
    names = set(local.environment)
    for index, path in enumerate(local.env_files):
        names.update(x_devenv_env_file(stack, service, index, path))
    return names


def x_devenv_env_file(
    stack: Stack, service: Service, index: int, path: Path, earlier: Mapping[str, str] | None = None
) -> dict[str, str]:
    """One of `x-devenv.env_file`, read now (edits take effect at the next start)."""
    return env_file_values(
        path,
        stack.variables,
        earlier=earlier,
        service=service.name,
        key=f"x-devenv.env_file[{index}]",
        missing_hint=X_DEVENV_MISSING_HINT,
    )


def _has_host_alias(service: Service) -> bool:
    hosts = service.extra.get("extra_hosts") or []
    return any(str(entry).split("=")[0].split(":")[0] == DOCKER_HOST_ALIAS for entry in hosts)


class _Scanner:
    """Finds and rewrites the addresses in one service's values."""

    def __init__(
        self, stack: Stack, consumer: Service, kind: Kind, kinds: Mapping[str, Kind]
    ) -> None:
        self.stack = stack
        self.consumer = consumer
        self.kind = kind
        self.kinds = kinds
        self.names = _dns_names(stack)
        self.used_host_alias = False
        self.notes: list[str] = []  # of the value being scanned

    def value(self, variable: str, value: str) -> tuple[str, list[str], list[str]]:
        """The rewritten value, the services it addresses (rewritten), notes."""
        edits: list[tuple[int, int, str]] = []
        targets: list[str] = []
        taken: list[tuple[int, int]] = []

        def add(start: int, end: int, text: str, target: str) -> None:
            edits.append((start, end, text))
            if target not in targets:
                targets.append(target)

        for match in _URL.finditer(value):
            taken.append(match.span())
            self._url(variable, match, add)
        keyword_host = _single(_KEYWORD_HOST, value)
        keyword_port = _single(_KEYWORD_PORT, value)
        if keyword_host and keyword_port and not _inside(keyword_host.start(), taken):
            self._keywords(variable, keyword_host, keyword_port, add)
            taken += [keyword_host.span(), keyword_port.span()]
        for match in _HOST_PORT.finditer(value):
            if _inside(match.start(), taken):
                continue
            target = self.names.get(match["host"].lower())
            if target is None:
                continue
            reach = self._reach(
                variable, target, int(match["port"]), match[0], explicit=True, bare=True
            )
            if reach is not None:
                add(match.start(), match.end(), reach.host_port(), target)
        notes = self.notes
        self.notes = []
        bare = self.names.get(value.strip().lower())
        if bare is not None and self._would_rewrite(bare):
            notes.append(
                f"{variable}={value} names service '{bare}' without a port: left as it is "
                "(give the port in the value, or set it in x-devenv.environment)"
            )
        for start, end, text in sorted(edits, reverse=True):
            value = value[:start] + text + value[end:]
        return value, targets, notes

    def _url(self, variable: str, match: re.Match[str], add: _Add) -> None:
        scheme = match["scheme"].lower().split("+")[0]
        authority = match["authority"]
        offset = match.start("authority")
        userinfo, at, hosts = authority.rpartition("@")
        offset += len(userinfo) + len(at)
        for item in hosts.split(","):
            parsed = _URL_HOST.match(item)
            if parsed is not None and not parsed["host"].startswith("["):
                target = self.names.get(parsed["host"].lower())
                port_text = parsed["port"]
                port = int(port_text) if port_text else DEFAULT_PORTS.get(scheme)
                if target is not None and port is not None and 0 < port < 65536:
                    shown = f"{parsed['host']}:{port}"
                    reach = self._reach(variable, target, port, shown, explicit=bool(port_text))
                    if reach is not None:
                        add(offset, offset + len(item), reach.host_port(), target)
            offset += len(item) + 1

    def _keywords(self, variable: str, host: re.Match[str], port: re.Match[str], add: _Add) -> None:
        target = self.names.get(host["host"].lower())
        if target is None:
            return
        shown = f"host={host['host']} port={port['port']}"
        reach = self._reach(variable, target, int(port["port"]), shown, explicit=True)
        if reach is not None:
            add(host.start("host"), host.end("host"), reach.host, target)
            add(port.start("port"), port.end("port"), str(reach.port), target)

    def _would_rewrite(self, target: str) -> bool:
        return self.kind == "process" or self._kind_of(target) == "process"

    def _kind_of(self, name: str) -> Kind:
        return self.kinds.get(name, self.stack.services[name].kind)

    def _reach(
        self,
        variable: str,
        target: str,
        port: int,
        shown: str,
        *,
        explicit: bool,
        bare: bool = False,
    ) -> _Reach | None:
        """Where `target`'s `port` is reachable from the consumer; None: leave the
        address as it is (both containers; an implicit port not published; a bare
        `name:number` whose number is no port the target declares, such as an
        image tag `postgres:16`)."""
        target_kind = self._kind_of(target)
        service = self.stack.services[target]
        if target_kind == "container":
            if self.kind == "container":
                return None  # the Compose network resolves it
            published = _published(service, port)
            if published is not None:
                return published
            if not explicit:
                return None
            if bare and port not in _declared_ports(service):
                self.notes.append(
                    f"{variable}: {shown} looks like an address of service '{target}', which "
                    f"declares no port {port} (ports, expose): left as it is"
                )
                return None
            raise self._error(
                variable,
                f"addresses service '{target}' at {shown}, but '{target}' does not publish "
                f"port {port} to the host",
                hint=f'publish it in {target}\'s ports (e.g. "127.0.0.1:{port}:{port}"), '
                f"or set {variable} in {self.consumer.name}'s x-devenv.environment",
            )
        if bare and port not in _declared_ports(service):
            self.notes.append(
                f"{variable}: {shown} looks like an address of service '{target}', which "
                f"declares no port {port}: left as it is"
            )
            return None
        local_port = _local_port(service, port)
        if local_port is None:
            if not explicit:
                return None
            listed = ", ".join(map(str, service.ports_for(1))) or "none"
            raise self._error(
                variable,
                f"addresses service '{target}' at {shown}, but '{target}' runs locally and "
                f"its x-devenv.ports ({listed}) do not say which port that is",
                hint=f"list {port} in {target}'s x-devenv.ports, or publish it in its ports "
                f'("{port}:{port}") with that host port in x-devenv.ports',
            )
        if self.kind == "container":
            self.used_host_alias = True
            return _Reach(DOCKER_HOST_ALIAS, local_port)
        return _Reach(LOOPBACK, local_port)

    def _error(self, variable: str, message: str, hint: str) -> ConfigError:
        origin = self.consumer.origin
        return ConfigError(
            f"{variable} {message}",
            file=origin.file,
            line=origin.line,
            service=self.consumer.name,
            key=f"environment.{variable}",
            hint=hint + " (or x-devenv.rewrite: false)",
        )


def _dns_names(stack: Stack) -> dict[str, str]:
    """Every name another container may use for a service (its name, network
    aliases, container_name), lowercased -> the service."""
    names: dict[str, str] = {}
    for name, service in stack.services.items():
        aliases = [service.extra.get("container_name")]
        networks = service.extra.get("networks")
        if isinstance(networks, Mapping):
            for spec in networks.values():
                if isinstance(spec, Mapping):
                    aliases.extend(spec.get("aliases") or [])
        for alias in aliases:
            if isinstance(alias, str) and alias:
                names.setdefault(alias.lower(), name)
    for name in stack.services:  # service names win over aliases
        names[name.lower()] = name
    return names


def _published(service: Service, port: int) -> _Reach | None:
    """Replica 1's host address for container port `port`, when it is published
    on a fixed host port (tcp first)."""
    mappings = sorted(service.ports, key=lambda m: (m.protocol or "tcp") != "tcp")
    for mapping in mappings:
        if not mapping.published:
            continue
        target_first, target_last = _range(str(mapping.target))
        if not target_first <= port <= target_last:
            continue
        host_first, host_last = _range(mapping.published)
        # "8000-8010:8000-8010" maps port for port; "8000-8010:80" lets Docker pick
        offset = port - target_first if host_last - host_first == target_last - target_first else 0
        host = mapping.host_ip or ""
        return _Reach(LOOPBACK if host in WILDCARDS else host, host_first + offset)
    return None


def _declared_ports(service: Service) -> set[int]:
    """Every port the service says it has: container ports in `ports` and
    `expose`, and its local process's ports."""
    declared: set[int] = set(service.ports_for(1))
    entries = [str(m.target) for m in service.ports]
    entries += [str(e).split("/")[0] for e in service.extra.get("expose") or []]
    for entry in entries:
        try:
            first, last = _range(entry)
        except ValueError:
            continue
        declared.update(range(first, last + 1))
    return declared


def _local_port(service: Service, port: int) -> int | None:
    """The port of replica 1 of `service`, run locally, that stands for its
    container port `port`: the same number in x-devenv.ports; else the host port
    Compose publishes `port` on, when the process listens there; else its only port."""
    ports = service.ports_for(1)
    if port in ports:
        return port
    published = _published(service, port)
    if published is not None and published.port in ports:
        return published.port
    return ports[0] if len(ports) == 1 else None


def _range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def _single(pattern: re.Pattern[str], value: str) -> re.Match[str] | None:
    matches = list(pattern.finditer(value))
    return matches[0] if len(matches) == 1 else None


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _bracketed(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
