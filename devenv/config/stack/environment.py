"""The environment a service's configuration gives it, where it runs: one place
for the order of the layers devenv configures.

As a local process, later layers winning: the Compose `environment`/`env_file`
(addresses rewritten for a process), `x-devenv.env_file`, `x-devenv.environment`.
As a container: the Compose part (addresses of local processes rewritten for a
container). The base a process inherits (devenv's own environment and the
project's variables) and devenv's per-run variables (`DEVENV_*`, `PORT`) are the
runtime's (devenv.runtime.process)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devenv.config.model import Kind, Rewrite, Service, Stack
from devenv.config.stack.addresses import rewrite_environment, x_devenv_env_file


@dataclass(frozen=True)
class ServiceEnvironment:
    service: str
    kind: Kind
    environment: Mapping[str, str]  # variables declared without a value and unset are left out
    rewrites: tuple[Rewrite, ...] = ()
    extra_hosts: tuple[str, ...] = ()  # Docker ExtraHosts entries a container needs
    notes: tuple[str, ...] = ()


def service_environment(
    stack: Stack, service: Service, kinds: Mapping[str, Kind]
) -> ServiceEnvironment:
    """`service`'s configured environment when it runs as `kinds[name]` (default:
    its `kind`), the other services as `kinds` says. Reads `x-devenv.env_file`
    (ConfigError when one is missing or malformed)."""
    kind = kinds.get(service.name, service.kind)
    rewritten = rewrite_environment(stack, service, kinds)
    env = {k: v for k, v in rewritten.environment.items() if v is not None}
    if kind == "process" and service.local is not None:
        for index, path in enumerate(service.local.env_files):
            env.update(x_devenv_env_file(stack, service, index, path, earlier=env))
        env.update(service.local.environment)
    return ServiceEnvironment(
        service=service.name,
        kind=kind,
        environment=env,
        rewrites=rewritten.rewrites,
        extra_hosts=rewritten.extra_hosts,
        notes=rewritten.notes,
    )
