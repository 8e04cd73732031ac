"""Is a container ready? Its healthcheck, run early by devenv, and its published
ports, tried from the host.

Docker runs a healthcheck first after `interval` (often 10-30 s); while a
container starts, devenv runs the same check itself (`docker exec`) so that
dependents start as soon as it passes. That alone can be early: an image's
first-boot setup often runs a temporary server on a unix socket only (the
official postgres image does), which a socket-based check finds. So a
container that publishes ports is ready only when its check passes *and* its
published ports take connections from the host.

Through Docker's userland proxy a published port always accepts: the proxy
closes the connection at once when nothing listens in the container. So a
port counts as open when the connection stays open (or the server speaks)
for a moment, not when it merely connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from devenv.runtime import docker_spec as ds
from devenv.runtime.docker_images import api_reason

HEALTH_EXEC_AFTER_OK = 1.0  # once it passed, Docker's status is trusted for this long
PORT_SETTLE = 0.15  # how long a proxied connection must stay open to count


def published_bindings(info: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address to connect to, host port) of every published TCP port."""
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    found: list[tuple[str, int]] = []
    for key, bindings in ports.items():
        if not str(key).endswith("/tcp"):
            continue
        for binding in bindings or ():
            port = binding.get("HostPort")
            if not (port and str(port).isdigit()):
                continue
            address = binding.get("HostIp") or ""
            if address in ("", "0.0.0.0"):
                address = "127.0.0.1"
            elif address == "::":
                address = "::1"
            if (address, int(port)) not in found:
                found.append((address, int(port)))
    return found


def published_ports(info: dict[str, Any]) -> tuple[int, ...]:
    ports: list[int] = []
    for _, port in published_bindings(info):
        if port not in ports:
            ports.append(port)
    return tuple(ports)


async def port_answers(address: str, port: int, settle: float = PORT_SETTLE) -> tuple[bool, str]:
    """Whether something in the container takes connections on this published port."""
    where = f"{address}:{port}" if ":" not in address else f"[{address}]:{port}"
    try:
        async with asyncio.timeout(2.0):
            reader, writer = await asyncio.open_connection(address, port)
    except (OSError, TimeoutError) as error:
        return False, f"port {where}: {getattr(error, 'strerror', None) or error or 'timeout'}"
    try:
        try:
            async with asyncio.timeout(settle):
                data = await reader.read(1)
        except TimeoutError:
            return True, f"port {where} accepts"  # open, the server waits for us
        except OSError:
            data = b""
        if data:
            return True, f"port {where} answers"
        return False, f"port {where}: nothing listens in the container yet"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def ports_answer(bindings: list[tuple[str, int]]) -> tuple[bool, str]:
    results = await asyncio.gather(*(port_answers(a, p) for a, p in bindings))
    for ok, detail in results:
        if not ok:
            return False, detail
    return True, ""


class HealthCheck:
    """A container's healthcheck as devenv runs it while the container starts.
    Blocking calls: run `check` in a thread."""

    def __init__(self, api: Any, container_id: str) -> None:
        self.api = api
        self.container_id = container_id
        self._command: list[str] | None = None
        self._exec_at = 0.0
        self._exec_result: tuple[bool, str] = (False, "starting")

    def check(self) -> tuple[bool, str, dict[str, Any] | None]:
        """(healthy, detail, the inspected container or None when gone)."""
        import docker.errors

        try:
            info: dict[str, Any] = self.api.inspect_container(self.container_id)
        except docker.errors.NotFound:
            return False, "container removed", None
        state = info["State"]
        if not state.get("Running"):
            return False, f"exited with code {state.get('ExitCode')}", info
        health = state.get("Health")
        if not health:
            return True, "running", info
        status = health.get("Status")
        if status == "healthy":
            return True, "healthy", info
        if status == "unhealthy":
            return False, "unhealthy: " + last_health_output(health), info
        # Docker says "starting" until its first check after `interval`; run the
        # check ourselves so that dependents start as soon as it passes.
        if self._command is None:
            test = (info["Config"].get("Healthcheck") or {}).get("Test")
            self._command = ds.health_command(test) or []
        if not self._command:
            return False, "starting", info
        now = time.monotonic()
        if self._exec_result[0] and now - self._exec_at < HEALTH_EXEC_AFTER_OK:
            return (*self._exec_result, info)
        self._exec_at = now
        self._exec_result = self._exec()
        return (*self._exec_result, info)

    def _exec(self) -> tuple[bool, str]:
        import docker.errors

        try:
            exec_id = self.api.exec_create(
                self.container_id, self._command, stdout=True, stderr=True
            )
            output = self.api.exec_start(exec_id, stream=False)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError as error:
            return False, f"starting ({api_reason(error)})"
        if code == 0:
            return True, "healthy"
        text = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        return False, f"starting: {text.splitlines()[-1]}" if text else "starting"


def last_health_output(health: dict[str, Any]) -> str:
    log = health.get("Log") or []
    if not log:
        return "no output"
    text = str(log[-1].get("Output") or "").strip()
    return text.splitlines()[-1] if text else f"exit code {log[-1].get('ExitCode')}"
