"""The pre-flight port check on real sockets and a real container: a port held
by a process is reported with its pid and command, one published by a
container with the container's name; two selected services on one port are
reported together; a service's own container is not in its way."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABEL, TEST_RUN
from container_helpers import free_port, project_name

from devenv.config import LoadOptions, Stack, load_stack
from devenv.errors import PortInUseError
from devenv.runtime.ports import preflight_ports

REPO = Path(__file__).resolve().parents[2]


def stack_from(tmp_path: Path, text: str, name: str | None = None) -> Stack:
    (tmp_path / "compose.yaml").write_text(text)
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG"):
        if key in os.environ:
            environ[key] = os.environ[key]
    return load_stack(LoadOptions(cwd=tmp_path, environ=environ, project_name=name))


@pytest.fixture
def listening() -> Iterator[int]:
    """A port this test process listens on, on every address."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_held_by_a_process_names_its_pid_and_command(tmp_path: Path, listening: int) -> None:
    stack = stack_from(
        tmp_path, f"services:\n  api:\n    x-devenv: {{run: x, ports: [{listening}]}}\n"
    )
    with pytest.raises(PortInUseError) as caught:
        preflight_ports(stack, {})
    error = caught.value
    assert (error.service, error.key) == ("api", "x-devenv.ports[0]")
    assert f"host port {listening}/tcp is already in use by pid {os.getpid()}" in error.message
    assert "pytest" in error.message or "python" in error.message
    assert error.hint is not None and f"stop pid {os.getpid()}" in error.hint


def test_a_port_taken_by_an_outgoing_connection_says_why(tmp_path: Path) -> None:
    """Nothing listens on it: the local end of a connection the kernel gave an
    ephemeral port. The hint says the range and to choose below it (CI once lost
    a replica's port that way)."""
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.connect(server.getsockname())
        taken = client.getsockname()[1]
        stack = stack_from(
            tmp_path, f"services:\n  api:\n    x-devenv: {{run: x, ports: [{taken}]}}\n"
        )
        with pytest.raises(PortInUseError) as caught:
            preflight_ports(stack, {})
    error = caught.value
    assert f"host port {taken}/tcp is already in use by another process" in error.message
    low = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
    assert error.hint is not None and f"prefer a port below {low}" in error.hint


def test_free_ports_pass_and_a_replicas_offset_port_is_checked(
    tmp_path: Path, listening: int
) -> None:
    # replica 2 of api listens on listening; replica 1 on listening - 1
    text = f"services:\n  api:\n    x-devenv: {{run: x, ports: [{listening - 1}], replicas: 2}}\n"
    stack = stack_from(tmp_path, text)
    with pytest.raises(PortInUseError, match=f"{listening}/tcp for api-2"):
        preflight_ports(stack, {})
    free = free_port()
    preflight_ports(stack_from(tmp_path, text.replace(str(listening - 1), str(free))), {})


def test_two_selected_services_on_one_port_are_named_together(tmp_path: Path) -> None:
    port = free_port()
    text = (
        f"services:\n  web:\n    image: nginx\n    ports: ['{port}:80']\n"
        f"  web-debug:\n    extends: web\n"
    )
    stack = stack_from(tmp_path, text)
    preflight_ports(stack.select(["web"]), {})  # fine alone (no Docker holder either)
    with pytest.raises(PortInUseError) as caught:
        preflight_ports(stack, {})
    assert "'web' ports[0]" in caught.value.message
    assert "'web-debug' ports[0]" in caught.value.message
    assert caught.value.hint is not None and "devenv start web" in caught.value.hint


def test_a_process_only_stack_never_imports_docker(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  api:\n    x-devenv: {{run: x, ports: [{port}]}}\n"
    )
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from devenv.config import LoadOptions, load_stack\n"
        "from devenv.runtime.ports import preflight_ports\n"
        f"preflight_ports(load_stack(LoadOptions(cwd=Path({str(tmp_path)!r}))), {{}})\n"
        "print(json.dumps('docker' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": "unix:///nonexistent.sock"},
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) is False


@pytest.fixture
def publishing(docker_client: Any) -> Iterator[tuple[Any, int, str]]:
    """A running container that publishes a free port on 127.0.0.1, labelled as a
    Compose project's service."""
    port = free_port()
    project = project_name()
    container = docker_client.containers.run(
        "debian:bookworm-slim",
        ["sleep", "300"],
        detach=True,
        name=f"{project}-db-1",
        ports={"5432/tcp": ("127.0.0.1", port)},
        labels={
            TEST_LABEL: TEST_RUN,
            "com.docker.compose.project": project,
            "com.docker.compose.service": "db",
        },
        stop_signal="SIGKILL",
    )
    try:
        yield container, port, project
    finally:
        container.remove(force=True)


def test_a_port_published_by_a_container_names_the_container(
    tmp_path: Path, publishing: tuple[Any, int, str]
) -> None:
    container, port, _ = publishing
    text = (
        f"services:\n  db:\n    image: postgres:16-alpine\n    ports: ['{port}:5432']\n"
        f"  api:\n    x-devenv: {{run: x, ports: [{port}]}}\n"
    )
    stack = stack_from(tmp_path, text, name="another-project")
    with pytest.raises(PortInUseError) as caught:
        preflight_ports(stack.select(["db"]), {})
    assert f"by container '{container.name}'" in caught.value.message
    assert caught.value.hint is not None and f"docker stop {container.name}" in caught.value.hint
    assert (caught.value.service, caught.value.key) == ("db", "ports[0]")
    # a local process on that port is in the way of the container too
    with pytest.raises(PortInUseError, match=f"container '{container.name}'"):
        preflight_ports(stack.select(["api"]), {})


def test_a_services_own_container_is_not_in_its_way(
    tmp_path: Path, publishing: tuple[Any, int, str]
) -> None:
    container, port, project = publishing
    text = (
        f"services:\n  db:\n    image: postgres:16-alpine\n    ports: ['{port}:5432']\n"
        f"    x-devenv: {{run: x, ports: [{port}]}}\n"
    )
    stack = stack_from(tmp_path, text, name=project)
    preflight_ports(stack, {"db": "container"})  # the engine reuses or replaces it
    # ...but the same service run as a local process cannot bind the port
    with pytest.raises(PortInUseError, match=f"container '{container.name}'"):
        preflight_ports(stack, {"db": "process"})
