"""From a Compose service to what Docker is asked to create, the way Compose names it.

Pure functions, no Docker: container, network and volume names and
`com.docker.compose.*` labels (so `docker compose -p <project> ps` lists what
devenv started and both share volumes), the container's configuration in the
Engine API's terms, and the hash that decides reuse versus recreate.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from devenv import __version__
from devenv.config.model import Healthcheck, Service, Stack

P = "com.docker.compose."
PROJECT = P + "project"
SERVICE = P + "service"
NUMBER = P + "container-number"
ONEOFF = P + "oneoff"
CONFIG_HASH = P + "config-hash"
IMAGE = P + "image"
WORKING_DIR = P + "project.working_dir"
CONFIG_FILES = P + "project.config_files"
ENV_FILE = P + "project.environment_file"
VERSION = P + "version"
DEPENDS_ON = P + "depends_on"
NETWORK = P + "network"
VOLUME = P + "volume"
MANAGED = "dev.devenv.managed"

# The version written into com.docker.compose.version: the Compose file format
# level devenv writes its resources for (Compose compares it, it does not parse ours).
COMPOSE_VERSION = "2.40.3"
DEFAULT_STOP_GRACE = 10.0
EXTRA_LABELS_ENV = "DEVENV_EXTRA_LABELS"  # "k=v,k2=v2" added to everything created (tests, CI)


def extra_labels(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    raw = (os.environ if environ is None else environ).get(EXTRA_LABELS_ENV, "")
    labels: dict[str, str] = {}
    for item in raw.split(","):
        key, _, value = item.strip().partition("=")
        if key:
            labels[key] = value
    return labels


def container_name(stack: Stack, service: Service, replica: int) -> str:
    explicit = service.extra.get("container_name")
    if isinstance(explicit, str) and explicit:
        return explicit
    return f"{stack.name}-{service.name}-{replica}"


def network_name(stack: Stack, key: str) -> str:
    return _resource_name(stack, stack.networks, key)


def volume_name(stack: Stack, key: str) -> str:
    return _resource_name(stack, stack.volumes, key)


def _resource_name(stack: Stack, resources: Mapping[str, Any], key: str) -> str:
    """Compose's name for a top-level network or volume: its `name:`, the key
    itself when external, else `<project>_<key>`."""
    spec = resources.get(key) or {}
    name = spec.get("name") if isinstance(spec, Mapping) else None
    if isinstance(name, str) and name:
        return name
    if isinstance(spec, Mapping) and spec.get("external"):
        return key
    return f"{stack.name}_{key}"


def is_external(resources: Mapping[str, Any], key: str) -> bool:
    spec = resources.get(key)
    return isinstance(spec, Mapping) and bool(spec.get("external"))


def project_labels(stack: Stack) -> dict[str, str]:
    return {PROJECT: stack.name, VERSION: COMPOSE_VERSION, MANAGED: __version__}


def network_labels(stack: Stack, key: str) -> dict[str, str]:
    spec = stack.networks.get(key) or {}
    own = dict(spec.get("labels") or {}) if isinstance(spec, Mapping) else {}
    return {**own, **project_labels(stack), NETWORK: key, **extra_labels()}


def volume_labels(stack: Stack, key: str) -> dict[str, str]:
    spec = stack.volumes.get(key) or {}
    own = dict(spec.get("labels") or {}) if isinstance(spec, Mapping) else {}
    return {**own, **project_labels(stack), VOLUME: key, **extra_labels()}


def service_networks(service: Service) -> dict[str, dict[str, Any]]:
    """The service's networks (key -> endpoint options); `default` when none are named."""
    if service.extra.get("network_mode"):
        return {}
    declared = service.extra.get("networks")
    if not declared:
        return {"default": {}}
    if isinstance(declared, Mapping):
        return {str(k): dict(v or {}) for k, v in declared.items()}
    return {str(k): {} for k in declared}


def image_name(stack: Stack, service: Service) -> str:
    """The image to run: `image:`, else Compose's name for a built one."""
    if service.image:
        return service.image
    return f"{stack.name}-{service.name}"


def healthcheck_api(check: Healthcheck | None) -> dict[str, Any] | None:
    """The Engine API's HealthConfig (durations in nanoseconds), or None for the image's."""
    if check is None:
        return None
    if check.disable:
        return {"Test": ["NONE"]}
    config: dict[str, Any] = {}
    if check.test:
        config["Test"] = list(check.test)
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
    ):
        if value is not None:
            config[key] = int(value * 1_000_000_000)
    if check.retries is not None:
        config["Retries"] = check.retries
    return config or None


def health_command(test: list[str] | tuple[str, ...] | None) -> list[str] | None:
    """A healthcheck test as an argv for exec, or None when there is nothing to run."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:])
    return ["/bin/sh", "-c", " ".join(test)]


@dataclass(frozen=True)
class ContainerSpec:
    """What to create, in Engine API terms; everything that decides reuse is in here."""

    name: str
    image: str
    command: list[str] | None
    entrypoint: list[str] | None
    environment: dict[str, str]
    labels: dict[str, str]  # the service's own plus Compose's, without the hash
    working_dir: str | None
    user: str | None
    tty: bool
    stdin_open: bool
    hostname: str | None
    stop_signal: str | None
    stop_grace: float
    healthcheck: dict[str, Any] | None
    # "5432/tcp" -> [(host_ip, host_port or None)]; host_ip is 127.0.0.1 unless given
    ports: dict[str, list[tuple[str, str | None]]]
    mounts: list[dict[str, Any]]  # Engine API Mount objects
    networks: dict[str, list[str]]  # network name -> aliases, first one at create
    network_mode: str | None
    host_options: dict[str, Any] = field(default_factory=dict)  # extra HostConfig keys

    @property
    def env_list(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.environment.items()]

    def config_hash(self) -> str:
        data = asdict(self)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _ports(service: Service) -> dict[str, list[tuple[str, str | None]]]:
    ports: dict[str, list[tuple[str, str | None]]] = {}
    for port in service.ports:
        key = f"{port.target}/{port.protocol or 'tcp'}"
        # Loopback unless the file names an address: a dev database must not be
        # reachable from the rest of the network.
        host_ip = port.host_ip or "127.0.0.1"
        ports.setdefault(key, []).append((host_ip, port.published or None))
    return ports


def _mounts(stack: Stack, service: Service) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    for volume in service.volumes:
        mount: dict[str, Any] = {
            "Target": volume.target,
            "Type": volume.type,
            "ReadOnly": volume.read_only,
        }
        options = dict(volume.options or {})
        if volume.type == "volume":
            if volume.source:
                mount["Source"] = volume_name(stack, volume.source)
            if options.get("nocopy"):
                mount["VolumeOptions"] = {"NoCopy": True}
        elif volume.type == "bind":
            mount["Source"] = volume.source
            if options.get("propagation"):
                mount["BindOptions"] = {"Propagation": options["propagation"]}
        elif volume.type == "tmpfs":
            if options.get("size"):
                mount["TmpfsOptions"] = {"SizeBytes": int(options["size"])}
        elif volume.source:
            mount["Source"] = volume.source
        mounts.append(mount)
    return mounts


_HOST_OPTIONS = {
    # Compose key -> Engine API HostConfig key, for keys passed through as they are
    "cap_add": "CapAdd",
    "cap_drop": "CapDrop",
    "privileged": "Privileged",
    "init": "Init",
    "read_only": "ReadonlyRootfs",
    "security_opt": "SecurityOpt",
    "dns": "Dns",
    "sysctls": "Sysctls",
    "pid": "PidMode",
    "ipc": "IpcMode",
}


def _host_options(service: Service) -> dict[str, Any]:
    extra = service.extra
    options = {api: extra[key] for key, api in _HOST_OPTIONS.items() if key in extra}
    hosts = extra.get("extra_hosts")
    if isinstance(hosts, Mapping):
        options["ExtraHosts"] = [f"{h}:{ip}" for h, ip in hosts.items()]
    elif hosts:
        options["ExtraHosts"] = [str(h).replace("=", ":", 1) for h in hosts]
    if "shm_size" in extra:
        options["ShmSize"] = _bytes(extra["shm_size"])
    if "tmpfs" in extra:
        tmpfs = extra["tmpfs"]
        options["Tmpfs"] = {str(t): "" for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)}
    return options


def _bytes(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().rstrip("b")
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def container_spec(stack: Stack, service: Service, replica: int) -> ContainerSpec:
    name = container_name(stack, service, replica)
    depends = ",".join(
        f"{dep}:{d.condition.value}:{str(d.restart).lower()}"
        for dep, d in service.depends_on.items()
    )
    labels = {
        **dict(service.labels),
        PROJECT: stack.name,
        SERVICE: service.name,
        NUMBER: str(replica),
        ONEOFF: "False",
        WORKING_DIR: str(stack.project_dir),
        CONFIG_FILES: ",".join(str(f) for f in stack.files),
        VERSION: COMPOSE_VERSION,
        DEPENDS_ON: depends,
        MANAGED: __version__,
    }
    if stack.env_file is not None:
        labels[ENV_FILE] = str(stack.env_file)
    environment = {k: v for k, v in service.environment.items() if v is not None}
    networks: dict[str, list[str]] = {}
    for key, options in service_networks(service).items():
        aliases = [name, service.name, *[str(a) for a in options.get("aliases") or ()]]
        networks[network_name(stack, key)] = list(dict.fromkeys(aliases))
    extra = service.extra
    return ContainerSpec(
        name=name,
        image=image_name(stack, service),
        command=_argv(service.command),
        entrypoint=_argv(service.entrypoint),
        environment=environment,
        labels=labels,
        working_dir=service.working_dir,
        user=str(extra["user"]) if extra.get("user") is not None else None,
        tty=bool(extra.get("tty", False)),
        stdin_open=bool(extra.get("stdin_open", False)),
        hostname=str(extra["hostname"]) if extra.get("hostname") else None,
        stop_signal=service.stop_signal,
        stop_grace=(
            service.stop_grace_period
            if service.stop_grace_period is not None
            else DEFAULT_STOP_GRACE
        ),
        healthcheck=healthcheck_api(service.healthcheck),
        ports=_ports(service),
        mounts=_mounts(stack, service),
        networks=networks,
        network_mode=str(extra["network_mode"]) if extra.get("network_mode") else None,
        host_options=_host_options(service),
    )


def command_text(spec: ContainerSpec) -> str:
    parts = [spec.image]
    if spec.entrypoint:
        parts.append(shlex.join(spec.entrypoint))
    if spec.command:
        parts.append(shlex.join(spec.command))
    return " ".join(parts)


def create_config(
    spec: ContainerSpec, image_id: str, config_hash: str
) -> tuple[dict[str, Any], list[tuple[str, list[str]]]]:
    """The body of `POST /containers/create` for `spec`, and the networks to join
    after creating it (API versions before 1.44 take one network at create)."""
    labels = {**spec.labels, CONFIG_HASH: config_hash, IMAGE: image_id, **extra_labels()}
    bindings = {
        key: [{"HostIp": ip, "HostPort": port or ""} for ip, port in binds]
        for key, binds in spec.ports.items()
    }
    networks = list(spec.networks.items())
    host_config: dict[str, Any] = {
        "PortBindings": bindings,
        "Mounts": spec.mounts,
        "NetworkMode": spec.network_mode or (networks[0][0] if networks else "default"),
        **spec.host_options,
    }
    config: dict[str, Any] = {
        "Image": spec.image,
        "Env": spec.env_list,
        "Labels": labels,
        "Tty": spec.tty,
        "OpenStdin": spec.stdin_open,
        "AttachStdout": True,
        "AttachStderr": True,
        "ExposedPorts": {key: {} for key in spec.ports},
        "StopTimeout": math.ceil(spec.stop_grace),
        "HostConfig": host_config,
    }
    optional = {
        "Cmd": spec.command,
        "Entrypoint": spec.entrypoint,
        "WorkingDir": spec.working_dir,
        "User": spec.user,
        "Hostname": spec.hostname,
        "StopSignal": spec.stop_signal,
        "Healthcheck": spec.healthcheck,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if networks and spec.network_mode is None:
        first, aliases = networks[0]
        config["NetworkingConfig"] = {"EndpointsConfig": {first: {"Aliases": aliases}}}
        return config, networks[1:]
    return config, []
