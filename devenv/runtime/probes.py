"""One-shot readiness checks: http, tcp and cmd. Each returns (ok, detail) and
never raises for a failed check; the caller decides timing and retries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit


async def tcp_probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as error:
        return False, f"tcp {host}:{port}: {_reason(error)}"
    writer.close()
    return True, f"tcp {host}:{port} accepts"


def parse_hostport(target: str) -> tuple[str, int]:
    """ "5432", ":5432", "host:5432" -> (host, port); host defaults to 127.0.0.1."""
    host, _, port = target.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def with_port_offset(url: str, ports: tuple[int, ...], offset: int) -> str:
    """The URL replica n probes: when it names one of the service's own ports,
    that port plus n-1 (where replica n listens)."""
    parts = urlsplit(url)
    if not offset or parts.port is None or parts.port not in ports:
        return url
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port + offset}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    return parts._replace(netloc=netloc).geturl()


async def http_probe(url: str, expected: int, timeout: float) -> tuple[bool, str]:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    context: ssl.SSLContext | None = None
    if secure:  # local dev certificates are usually self-signed
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    "User-Agent: devenv-probe\r\nConnection: close\r\n\r\n".encode()
                )
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as error:
        return False, f"GET {url}: {_reason(error)}"
    fields = status_line.split()
    if len(fields) < 2 or not fields[1].isdigit():
        return False, f"GET {url}: no HTTP response"
    status = int(fields[1])
    if status != expected:
        return False, f"GET {url}: status {status}, expected {expected}"
    return True, f"GET {url}: {status}"


async def cmd_probe(
    command: str, cwd: Path, env: Mapping[str, str], timeout: float
) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as error:
        return False, f"{command}: {_reason(error)}"
    try:
        async with asyncio.timeout(timeout):
            code = await proc.wait()
    except TimeoutError:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"{command}: timed out after {timeout:g}s"
    if code != 0:
        return False, f"{command}: exit {code}"
    return True, f"{command}: exit 0"


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
