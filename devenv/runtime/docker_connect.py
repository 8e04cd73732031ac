"""Where the Docker Engine is, and one shared client for it.

The engine is found the way the docker CLI finds it: `DOCKER_HOST`, else the
context named by `DOCKER_CONTEXT` or `currentContext` in the docker config
(`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`), else the
default socket. `docker` itself is imported only when a client is made, so
that importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.errors import DockerUnavailableError

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Each container holds two long-lived connections (its log stream and its wait);
# a pool smaller than that makes urllib3 warn on stderr, under the TUI.
POOL_SIZE = 64
# Reaching the engine must fail fast (a remote host that does not answer would
# otherwise hold the UI for the whole request timeout); later calls get longer.
CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class Endpoint:
    """A Docker Engine address and what told us to use it."""

    host: str
    source: str  # "DOCKER_HOST", "docker context 'x' (path)", "the default socket"
    context: str | None = None  # the context's name, when one was used


def docker_config_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path.home() / ".docker"


def current_context_name(environ: Mapping[str, str]) -> str | None:
    """The context the docker CLI would use, or None for the default one."""
    name = environ.get("DOCKER_CONTEXT")
    if not name:
        try:
            config = json.loads((docker_config_dir(environ) / "config.json").read_text())
        except (OSError, ValueError):
            return None
        name = config.get("currentContext") if isinstance(config, dict) else None
    return name if name and name != "default" else None


def context_meta_file(environ: Mapping[str, str], name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return docker_config_dir(environ) / "contexts" / "meta" / digest / "meta.json"


def resolve_endpoint(environ: Mapping[str, str] | None = None) -> Endpoint:
    """Where to look, without connecting."""
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST")
    if host:
        return Endpoint(host, "DOCKER_HOST")
    name = current_context_name(env)
    if name:
        meta = context_meta_file(env, name)
        try:
            data = json.loads(meta.read_text())
            context_host = data["Endpoints"]["docker"]["Host"]
        except (OSError, ValueError, KeyError, TypeError):
            context_host = None
        if isinstance(context_host, str) and context_host:
            return Endpoint(context_host, f"docker context '{name}' ({meta})", name)
        return Endpoint(DEFAULT_HOST, f"docker context '{name}' (not found: {meta})", name)
    return Endpoint(DEFAULT_HOST, "the default socket")


_lock = threading.Lock()
_clients: dict[str, Any] = {}


def connect(environ: Mapping[str, str] | None = None, *, timeout: float = 60) -> Any:
    """A `docker.DockerClient` for the resolved engine, pinged; shared per address.

    Raises DockerUnavailableError naming where it looked and what to do."""
    endpoint = resolve_endpoint(environ)
    with _lock:
        client = _clients.get(endpoint.host)
        if client is not None:
            return client
        client = _make_client(endpoint, environ)
        client.api.timeout = timeout
        _clients[endpoint.host] = client
        return client


def forget_clients() -> None:
    """Close and drop cached clients (tests that switch DOCKER_HOST)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def _make_client(endpoint: Endpoint, environ: Mapping[str, str] | None) -> Any:
    import docker
    import docker.errors

    env = dict(os.environ if environ is None else environ)
    try:
        if endpoint.source == "DOCKER_HOST":
            client = docker.DockerClient.from_env(
                environment=env, timeout=CONNECT_TIMEOUT, max_pool_size=POOL_SIZE
            )
        elif endpoint.context is not None:
            from docker.context import ContextAPI

            tls = None
            try:
                tls = ContextAPI.get_context(endpoint.context).TLSConfig
            except docker.errors.DockerException:
                tls = None
            client = docker.DockerClient(
                base_url=endpoint.host, tls=tls, timeout=CONNECT_TIMEOUT, max_pool_size=POOL_SIZE
            )
        else:
            client = docker.DockerClient(
                base_url=endpoint.host, timeout=CONNECT_TIMEOUT, max_pool_size=POOL_SIZE
            )
        client.ping()
    except Exception as error:  # any failure to reach the engine is reported the same way
        raise unavailable(endpoint, error) from None
    return client


def unavailable(endpoint: Endpoint, error: BaseException) -> DockerUnavailableError:
    reason = short_reason(error)
    return DockerUnavailableError(
        f"cannot reach the Docker Engine at {endpoint.host} (from {endpoint.source}): {reason}",
        hint="start Docker (Docker Desktop, or `sudo systemctl start docker`), or point "
        "DOCKER_HOST or `docker context use` at a running engine; services that run as "
        "local processes can still be started by name: devenv start <service>",
    )


def short_reason(error: BaseException) -> str:
    """The innermost useful part of docker-py's and requests' nested messages."""
    text = str(error) or error.__class__.__name__
    for marker in ("Error while fetching server API version: ", "Connection aborted., "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = text.strip("()'\" ")
    if "FileNotFoundError" in text or "No such file or directory" in text:
        return "the socket does not exist"
    if "ConnectionRefusedError" in text or "Connection refused" in text:
        return "connection refused"
    if "PermissionError" in text or "Permission denied" in text:
        return "permission denied (is your user in the `docker` group?)"
    return text if len(text) <= 200 else text[:197] + "..."
