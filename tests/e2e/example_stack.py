"""What the end-to-end tests of examples/ share: a copy of an example in a temp
dir, free ports, `devenv start --no-tui` as a user runs it (and a stop that
leaves nothing behind), polling with deadlines, a minimal WebSocket reader,
and the check that the toolchains the examples need are installed."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import TEST_LABELS, docker_required
from hostports import free_port, free_ports  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def require_tools(*names: str) -> None:
    """Skip (fail in CI, where .ci/toolchains.sh installs them) without these programs."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (bash .ci/toolchains.sh installs them)"
        if docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def require_paths(*paths: Path, hint: str) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        message = f"missing {', '.join(missing)} ({hint})"
        if docker_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def holds(check: Callable[[], Any], seconds: float, what: str) -> None:
    """`check` stays true for `seconds` (polled every 100 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        assert value, f"{what}: stopped holding ({value!r})"
        time.sleep(0.1)


def http(method: str, url: str, body: Any = None, timeout: float = 5) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None
    except (OSError, ValueError):
        return 0, None


def health(url: str) -> dict[str, Any] | None:
    """The /health body when the service answers 200, else None."""
    status, body = http("GET", url, timeout=2)
    return body if status == 200 and isinstance(body, dict) else None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_under(directory: Path) -> list[str]:
    """Live processes whose working directory is `directory` or below it."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE or not proc.info["cwd"]:
            continue
        cwd = Path(proc.info["cwd"])
        if cwd == directory or directory in cwd.parents:
            found.append(f"{proc.info['pid']}: {' '.join(proc.info['cmdline'] or [])}")
    return found


def copy_example(name: str, target: Path, ignore: Iterable[str] = ()) -> Path:
    copy = target / name
    shutil.copytree(
        EXAMPLES / name,
        copy,
        ignore=shutil.ignore_patterns(
            "__pycache__", ".devenv", ".env", "bin", "dist", "backups", *ignore
        ),
        symlinks=True,
    )
    return copy


def remove_project(docker_client: Any, project: str) -> None:
    flt = {"label": f"com.docker.compose.project={project}"}
    for container in docker_client.containers.list(all=True, filters=flt):
        container.remove(force=True, v=True)
    for network in docker_client.networks.list(filters=flt):
        network.remove()
    for volume in docker_client.volumes.list(filters=flt):
        volume.remove(force=True)


STATE_LINE = re.compile(r"^(\S+)\s+\| -- (\w[\w ]*?)(?::|$)")


def devenv_init(
    copy: Path,
    compose: list[str],
    env: dict[str, object],
    environ: dict[str, str] | None = None,
) -> None:
    """`devenv init` in the copy (in `environ`, default this process's), as the
    README says, then this test's values appended to the .env it wrote."""
    init = subprocess.run(
        [sys.executable, "-m", "devenv", *compose, "init"],
        cwd=copy,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    with (copy / ".env").open("a") as f:
        f.writelines(f"{name}={value}\n" for name, value in env.items())


def until_healthy(
    run: DevenvRun, endpoints: dict[str, str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Every endpoint's /health body, once all of them answer (devenv must keep running)."""

    def all_up() -> dict[str, dict[str, Any]] | None:
        assert run.running(), f"devenv exited\n{run.tail()}"
        found = {name: health(url) for name, url in endpoints.items()}
        return found if all(found.values()) else None  # type: ignore[return-value]

    result: dict[str, dict[str, Any]] = until(all_up, timeout, "every service's /health")
    return result


@dataclass
class DevenvRun:
    """`devenv ... start --no-tui` in an example's copy, its output in a file."""

    directory: Path
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "devenv.out"

    def start(self) -> DevenvRun:
        env = {**os.environ, "DEVENV_EXTRA_LABELS": TEST_LABELS, "NO_COLOR": "1", **self.env}
        env.pop("DEVENV_INSTANCE", None)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devenv", *self.args, "start", "--no-tui"],
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return self.output()[-chars:]

    def unit_log(self, unit: str) -> str:
        path = self.directory / ".devenv" / "logs" / f"{unit}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def states(self) -> list[tuple[str, str]]:
        """(unit, state) for each `unit | -- state` line, in order."""
        out = []
        for line in self.output().splitlines():
            match = STATE_LINE.match(line)
            if match:
                out.append((match.group(1), match.group(2).strip()))
        return out

    def first(self, unit: str, state: str) -> int:
        """Index of the first `unit | -- state` line (AssertionError when none)."""
        for index, entry in enumerate(self.states()):
            if entry == (unit, state):
                return index
        raise AssertionError(f"no '{unit} | -- {state}' line\n{self.tail()}")

    def assert_started_after_ready(self, unit: str, dependencies: Iterable[str]) -> None:
        started = self.first(unit, "starting")
        for dep in dependencies:
            ready = self.first(dep, "ready")
            assert ready < started, (
                f"{unit} started (line {started}) before {dep} was ready (line {ready})"
                f"\n{self.tail()}"
            )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM, as Ctrl-C in a terminal; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise AssertionError(f"devenv did not stop within {timeout}s\n{self.tail()}") from None


class WebSocket:
    """Just enough of a WebSocket client (RFC 6455) to read a server's text
    messages: the handshake, unmasked frames from the server, and a masked
    close frame from us."""

    def __init__(self, port: int, path: str = "/", timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {head!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"no upgrade: {head.decode(errors='replace')}")

    def _exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def receive(self) -> str:
        """The next text message (pings and other control frames are skipped)."""
        while True:
            first, second = self._exact(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("the server closed the WebSocket")
            if opcode == 0x1:
                return payload.decode()

    def messages_until(self, predicate: Callable[[Any], bool], timeout: float) -> list[Any]:
        """JSON messages received until one satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        seen: list[Any] = []
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self.receive())
            except TimeoutError:
                break
            seen.append(message)
            if predicate(message):
                return seen
        raise AssertionError(f"no matching WebSocket message within {timeout}s: {seen}")

    def close(self) -> None:
        mask = os.urandom(4)
        payload = struct.pack(">H", 1000)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with contextlib.suppress(OSError):
            self.sock.sendall(bytes([0x88, 0x80 | len(payload)]) + mask + masked)
        self.sock.close()
