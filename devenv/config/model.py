"""The resolved, validated and immutable model of a stack.

This is the contract between `devenv.config` (which builds it from Compose files,
`x-devenv` blocks and `.env`) and everything downstream (engine, runtime, front
ends). Durations are seconds as floats; paths are absolute. Nothing here knows
how the model is loaded or what runs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from devenv.errors import SelectionError, did_you_mean

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return EMPTY


def frozen_map(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only view of a copy, so a Stack cannot be changed after it is built."""
    return MappingProxyType(dict(values or {}))


class Condition(StrEnum):
    """`depends_on` conditions, as in the Compose Specification."""

    STARTED = "service_started"
    HEALTHY = "service_healthy"
    COMPLETED = "service_completed_successfully"


# The Compose profile devenv always enables, on top of --profile/COMPOSE_PROFILES.
DEVENV_PROFILE = "devenv"

RestartPolicy = Literal["no", "on-failure", "always", "unless-stopped"]
Kind = Literal["process", "container"]  # how a unit runs
Mode = Literal["local", "container"]  # the same choice as a user writes it (`x-devenv.mode`)
WatchAction = Literal["rebuild", "restart", "sync", "sync+restart", "sync+exec"]
Handover = Literal["off", "proxy", "socket"]


def kind_of(mode: Mode) -> Kind:
    return "process" if mode == "local" else "container"


def mode_of(kind: Kind) -> Mode:
    return "local" if kind == "process" else "container"


@dataclass(frozen=True)
class Origin:
    """Where a piece of configuration came from, for error messages."""

    file: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)


@dataclass(frozen=True)
class PortMapping:
    """A port in Compose's long form. `published` is a string, as Compose keeps it
    (it may be a range like "8000-8010"); None when the engine picks the host port."""

    target: int
    published: str | None = None
    host_ip: str | None = None
    protocol: str = "tcp"
    mode: str = "ingress"
    name: str | None = None
    app_protocol: str | None = None


@dataclass(frozen=True)
class VolumeMount:
    """A volume in Compose's long form. Bind sources are absolute paths."""

    type: Literal["volume", "bind", "tmpfs", "npipe", "image", "cluster"]
    target: str
    source: str | None = None
    read_only: bool = False
    options: Mapping[str, Any] = field(
        default_factory=_empty
    )  # the `bind`/`volume`/`tmpfs` sub-mapping, as given


@dataclass(frozen=True)
class Healthcheck:
    """A Compose healthcheck. `test` is the exec form (["CMD", …] / ["CMD-SHELL", "…"]);
    durations in seconds; None where the file does not say (Docker's defaults apply)."""

    test: tuple[str, ...] | None = None
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    start_period: float | None = None
    start_interval: float | None = None
    disable: bool = False


@dataclass(frozen=True)
class Dependency:
    """One `depends_on` entry, long form."""

    service: str
    condition: Condition = Condition.STARTED
    required: bool = True
    restart: bool = False


ProbeKind = Literal["http", "tcp", "cmd", "log"]


@dataclass(frozen=True)
class ReadyProbe:
    """`x-devenv.ready`: how devenv decides a local service is ready.

    - http: `target` is the URL; ready when the status equals `status` (default 200).
    - tcp: `target` is "host:port" (host defaults to 127.0.0.1).
    - cmd: `target` is a shell command; ready when it exits 0.
    - log: `target` is a regular expression matched against the service's output.
    """

    kind: ProbeKind
    target: str
    status: int = 200
    interval: float = 0.1
    timeout: float = 1.0
    start_period: float = 0.0
    retries: int | None = None  # None: keep probing until the service exits
    # Once ready, how often the probe runs to tell healthy from unhealthy (0: never).
    health_interval: float = 10.0


@dataclass(frozen=True)
class WatchRule:
    """One watched path and what a change under it does to a local process.

    `x-devenv.watch` paths are `rebuild` rules (the build steps, if any, then a
    restart). `develop.watch` entries keep Compose's action: `sync` does nothing
    (the process reads the files where they are), `restart` and `sync+restart`
    restart it, `rebuild` builds and restarts, `sync+exec` runs `exec` in the
    service's working directory."""

    path: Path  # absolute
    action: WatchAction = "rebuild"
    ignore: tuple[str, ...] = ()  # globs, on top of the default ignores
    # develop.watch `include`: when given, only changes matching one of these
    # globs count (matched like `ignore`).
    include: tuple[str, ...] = ()
    exec: tuple[str, ...] | None = None  # sync+exec: the argv to run
    source: Literal["x-devenv", "develop"] = "x-devenv"


@dataclass(frozen=True)
class BuildStep:
    """One step of `x-devenv.build`, run in the service's working directory before
    the first start and before each restart a watched change causes. While the
    steps run, the running instance keeps serving; if one fails, it stays."""

    run: str  # as written, for display
    argv: tuple[str, ...]  # what runs (`/bin/sh -c run` for shell steps)
    when: tuple[Path, ...] = ()  # only when one of these changed (and at the first build)


@dataclass(frozen=True)
class LocalProcess:
    """The `x-devenv` block: the service runs as a local process instead of a container."""

    run: str
    cwd: Path
    shell: bool = False
    environment: Mapping[str, str] = field(default_factory=_empty)
    env_files: tuple[Path, ...] = ()
    ports: tuple[int, ...] = ()
    ready: ReadyProbe | None = None
    # Every watched path, absolute: the union of `watch_rules`' paths (x-devenv.watch,
    # develop.watch, build steps' `when`).
    watch: tuple[Path, ...] = ()
    ignore: tuple[str, ...] = ()  # x-devenv.ignore: globs, added to the default ignores
    replicas: int = 1  # x-devenv.replicas, else Compose's deploy.replicas / scale; 0 runs none
    restart: RestartPolicy = "no"
    build: tuple[BuildStep, ...] = ()
    # What each watched path does; `watch` above is the union of their paths.
    watch_rules: tuple[WatchRule, ...] = ()
    # Keep the service's port open across restarts: devenv owns `ports` and hands
    # connections to the newest ready instance ("proxy": the process listens on
    # $PORT, which devenv picks; "socket": it inherits the listening socket, fd 3,
    # LISTEN_FDS=1).
    handover: Handover = "off"
    raw: Mapping[str, Any] = field(
        default_factory=_empty
    )  # the block as written (after interpolation), for `config`


@dataclass(frozen=True)
class Service:
    name: str
    origin: Origin
    image: str | None = None
    build: Mapping[str, Any] | None = None  # long form; `context` absolute
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    # Compose's resolved `environment` plus `env_file` contents; a None value means
    # "declared without a value and not set in the environment".
    environment: Mapping[str, str | None] = field(default_factory=_empty)
    ports: tuple[PortMapping, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    depends_on: Mapping[str, Dependency] = field(default_factory=_empty)
    healthcheck: Healthcheck | None = None
    profiles: tuple[str, ...] = ()
    working_dir: str | None = None
    restart: RestartPolicy | None = None
    replicas: int = 1
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    labels: Mapping[str, str] = field(default_factory=_empty)
    local: LocalProcess | None = None  # set when the service has `x-devenv.run`
    mode: Mode | None = None  # x-devenv.mode; None: local when it can, else container
    # x-devenv.rewrite: rewrite Compose-style addresses of other services in its
    # environment to where they run (a service without `run` may set it too).
    rewrite: bool = True
    # Every other key, as resolved (networks, secrets, build options, …): kept for
    # `devenv config` and for the container runtime, not interpreted.
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @property
    def kind(self) -> Kind:
        """How the service runs unless told otherwise."""
        if self.mode is not None:
            return kind_of(self.mode)
        return "process" if self.local is not None else "container"

    @property
    def is_process(self) -> bool:
        return self.kind == "process"

    @property
    def kinds(self) -> tuple[Kind, ...]:
        """The ways it can run: as a process with `x-devenv`, as a container with
        `image` or `build`."""
        found: list[Kind] = []
        if self.local is not None:
            found.append("process")
        if self.image is not None or self.build is not None:
            found.append("container")
        return tuple(found) or ("container",)

    def replica_count(self, kind: Kind | None = None) -> int:
        """How many instances run (0: scaled to zero)."""
        if (kind or self.kind) == "process" and self.local is not None:
            return self.local.replicas
        return self.replicas

    def unit_name(self, replica: int, kind: Kind | None = None) -> str:
        """`api` for a single instance, `api-2` for the second of several."""
        return f"{self.name}-{replica}" if self.replica_count(kind) > 1 else self.name

    def ports_for(self, replica: int) -> tuple[int, ...]:
        """The local process's ports for instance `replica` (from 1): each
        `x-devenv.ports` entry plus replica - 1."""
        if self.local is None:
            return ()
        return tuple(port + replica - 1 for port in self.local.ports)


@dataclass(frozen=True)
class Rewrite:
    """One value in a service's environment that devenv rewrote so that the
    addresses in it reach the services where they run now
    (`postgres://app@db:5432/app` -> `postgres://app@127.0.0.1:15432/app`)."""

    variable: str
    before: str
    after: str
    target: str  # the service addressed (several: "db, redis", in order of appearance)


@dataclass(frozen=True)
class Stack:
    """A whole project: its services in file order, plus the top-level resources."""

    name: str  # the normalised project name
    project_dir: Path
    files: tuple[Path, ...]
    services: Mapping[str, Service]
    volumes: Mapping[str, Any] = field(default_factory=_empty)  # top-level `volumes`, as resolved
    networks: Mapping[str, Any] = field(default_factory=_empty)
    extra: Mapping[str, Any] = field(
        default_factory=_empty
    )  # other top-level keys (secrets, configs, x-*)
    # The variables used for interpolation (.env overlaid by the process environment);
    # also the base of a local process's environment.
    variables: Mapping[str, str] = field(default_factory=_empty)
    env_file: Path | None = None  # the project's .env, when one was read
    # Every file the stack was read from (compose files, included and extended
    # ones, env files, .env): what a live session watches for edits.
    sources: tuple[Path, ...] = ()
    active_profiles: tuple[str, ...] = ()  # always includes DEVENV_PROFILE
    warnings: tuple[str, ...] = field(default=())

    def service(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise unknown_service(name, self.services) from None

    def dependencies_of(self, name: str) -> set[str]:
        """Every service `name` needs, transitively (not including itself)."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            for dep in self.service(todo.pop()).depends_on:
                if dep not in seen and dep in self.services:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    def select(self, names: Iterable[str]) -> Stack:
        """The named services plus everything they depend on, in file order.

        No names means the whole stack.
        """
        wanted = list(names)
        if not wanted:
            return self
        keep: set[str] = set()
        for name in wanted:
            self.service(name)  # raises SelectionError for an unknown name
            keep.add(name)
            keep |= self.dependencies_of(name)
        services = {n: s for n, s in self.services.items() if n in keep}
        return replace(self, services=frozen_map(services))

    def start_order(self) -> list[list[str]]:
        """Services in layers: each layer depends only on earlier ones."""
        remaining = dict(self.services)
        done: set[str] = set()
        layers: list[list[str]] = []
        while remaining:
            layer = [
                n
                for n, s in remaining.items()
                if all(d in done or d not in self.services for d in s.depends_on)
            ]
            if not layer:  # the loader rejects cycles; this guards a hand-built Stack
                raise SelectionError(f"dependency cycle among: {', '.join(sorted(remaining))}")
            layers.append(layer)
            done.update(layer)
            for n in layer:
                del remaining[n]
        return layers


def unknown_service(name: str, known: Iterable[str]) -> SelectionError:
    names = sorted(known)
    hint = did_you_mean(name, names)
    listing = ", ".join(names) if names else "(none)"
    return SelectionError(
        f"no service named '{name}'; the services are: {listing}",
        hint=hint,
    )
