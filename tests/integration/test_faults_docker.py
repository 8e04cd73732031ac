"""The engine under the faults a real day brings to containers, on the real
Docker Engine: the API going away and coming back, containers stopped and
started by hand, restarts in quick succession, a quit during an image build,
a database whose first-boot server is not the real one.

Each test runs the real engine in-process on a small compose project of its
own (random project name, free ports, labelled and swept)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS
from container_helpers import cleanup, free_port, project_name
from engine_support import hang_guard, unit_info  # noqa: F401 (autouse fixture)

from devenv.config import LoadOptions, load_stack
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.events import Event, StateChanged, UnitState
from devenv.runtime.docker_connect import forget_clients

pytestmark = pytest.mark.docker
S = UnitState
HERE = Path(__file__).parent
# A line every 0.1 s, numbered and stamped: a replayed or lost line is visible.
# (`$$` is Compose's escape for a `$` the shell is to see.)
TICKER = [
    "sh",
    "-c",
    'i=0; while :; do i=$$((i+1)); echo "tick $$i $$(date +%s%N)"; sleep 0.1; done',
]


@pytest.fixture
def project(tmp_path: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    name = project_name()
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", name)
    monkeypatch.setenv("DEVENV_EXTRA_LABELS", TEST_LABELS)
    forget_clients()
    yield tmp_path
    forget_clients()
    cleanup(docker_client, name)


def write(project: Path, compose: str, files: dict[str, str] | None = None) -> None:
    (project / "compose.yaml").write_text(textwrap.dedent(compose))
    for name, text in (files or {}).items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def engine_for(project: Path, **options: Any) -> tuple[Engine, list[Event]]:
    stack = load_stack(LoadOptions(cwd=project, environ=dict(os.environ)))
    values: dict[str, Any] = {
        "state_dir": project / ".devenv",
        "watch": False,
        "stop_grace": 5.0,
        "backoff_base": 0.2,
    }
    values.update(options)
    engine = Engine(stack, EngineOptions(**values))
    events: list[Event] = []
    engine.subscribe(events.append, lines=False)
    return engine, events


async def until(check: Any, timeout: float = 60.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def ticks(engine: Engine, unit: str) -> list[str]:
    return [r.text for r in engine.logs(unit) if r.text.startswith("tick ")]


def file_ticks(project: Path, unit: str) -> list[str]:
    path = project / ".devenv" / "logs" / f"{unit}.log"
    return [line.split(" ", 2)[2] for line in path.read_text().splitlines() if " tick " in line]


def container_of(docker_client: Any, project: Path, service: str) -> Any:
    name = os.environ["COMPOSE_PROJECT_NAME"]
    return docker_client.containers.get(f"{name}-{service}-1")


class Proxy:
    """A socket proxy in front of the Engine that the test can kill and restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "socket_proxy.py"), str(self.path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "listening"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


async def test_losing_the_docker_api_is_a_state_of_the_connection(
    project: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    sock = Path(tmp_path_factory.mktemp("proxy")) / "docker.sock"
    proxy = Proxy(sock)
    proxy.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    port = free_port()
    write(
        project,
        f"""
        services:
          redis:
            image: redis:7-alpine
            ports: ["127.0.0.1:{port}:6379"]
            healthcheck: {{test: ["CMD", "redis-cli", "ping"], interval: 1s}}
            stop_grace_period: 2s
          ticker:
            image: debian:bookworm-slim
            command: {TICKER!r}
            stop_signal: SIGKILL
        """,
    )
    engine, events = engine_for(project)
    try:
        await engine.start()
        await until(lambda: engine.state_of("redis") == S.READY, what="redis ready")
        await until(lambda: len(ticks(engine, "ticker")) >= 5, what="ticks")
        proxy.kill()  # the API is gone for 5 s
        await until(lambda: engine.status().docker == "unreachable", 15, "unreachable")
        await asyncio.sleep(5)
        assert engine.state_of("redis") == S.READY
        assert engine.state_of("ticker") == S.READY
        crashed = [e for e in events if isinstance(e, StateChanged) and e.state != S.READY]
        seen = len(ticks(engine, "ticker"))
        proxy.start()
        await until(lambda: engine.status().docker == "connected", 30, "connected again")
        await until(lambda: len(ticks(engine, "ticker")) > seen + 60, what="the outage's lines")
        assert [e for e in events if isinstance(e, StateChanged) and e.state != S.READY] == crashed
        assert not any(e.state in (S.CRASHED, S.FAILED) for e in crashed)
        # every line once, in order, none lost during the outage
        numbers = [int(t.split()[1]) for t in ticks(engine, "ticker")]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        # and the engine still drives the containers
        await engine.stop(["redis"])
        assert container_of(docker_client, project, "redis").attrs["State"]["Running"] is False
    finally:
        await engine.shutdown()
        proxy.close()
    assert container_of(docker_client, project, "ticker").attrs["State"]["Running"] is False


async def test_a_stop_during_the_outage_happens_once_docker_answers(
    project: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    sock = Path(tmp_path_factory.mktemp("proxy")) / "docker.sock"
    proxy = Proxy(sock)
    proxy.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    write(
        project,
        f"""
        services:
          ticker:
            image: debian:bookworm-slim
            command: {TICKER!r}
            stop_signal: SIGKILL
        """,
    )
    engine, _ = engine_for(project)
    try:
        await engine.start()
        await until(lambda: engine.state_of("ticker") == S.READY)
        proxy.kill()
        await until(lambda: engine.status().docker == "unreachable", 15, "unreachable")
        stopping = asyncio.ensure_future(engine.shutdown())
        await asyncio.sleep(2)
        assert not stopping.done()
        proxy.start()
        await asyncio.wait_for(stopping, 60)
    finally:
        await engine.shutdown()
        proxy.close()
    assert container_of(docker_client, project, "ticker").attrs["State"]["Running"] is False


async def test_a_container_stopped_and_started_by_hand(project: Path, docker_client: Any) -> None:
    write(
        project,
        f"""
        services:
          ticker:
            image: debian:bookworm-slim
            command: {TICKER!r}
            restart: unless-stopped
            stop_signal: SIGKILL
        """,
    )
    engine, events = engine_for(project)
    try:
        await engine.start()
        await until(lambda: engine.state_of("ticker") == S.READY)
        await until(lambda: len(ticks(engine, "ticker")) >= 3)
        container = container_of(docker_client, project, "ticker")
        container.stop(timeout=1)
        await until(lambda: engine.state_of("ticker") == S.STOPPED, 10, "stopped")
        assert unit_info(engine, "ticker").detail == "outside devenv"
        await asyncio.sleep(2)  # Docker would not restart it: neither does devenv
        assert engine.state_of("ticker") == S.STOPPED
        container.reload()
        assert container.attrs["State"]["Running"] is False
        before = len(ticks(engine, "ticker"))
        container.start()
        await until(lambda: engine.state_of("ticker") == S.READY, 10, "followed again")
        await until(lambda: len(ticks(engine, "ticker")) >= before + 5, what="new output")
        container.kill()
        await until(lambda: engine.state_of("ticker") == S.STOPPED, 10, "killed by hand")
        container.start()
        await until(lambda: engine.state_of("ticker") == S.READY, 10, "followed again")
        count = len(ticks(engine, "ticker"))
        await until(lambda: len(ticks(engine, "ticker")) >= count + 5, what="output again")
    finally:
        await engine.shutdown()
    lines = ticks(engine, "ticker")
    assert len(lines) == len(set(lines)), "a line was replayed"
    assert sorted(file_ticks(project, "ticker")) == sorted(lines)
    states = [e.state for e in events if isinstance(e, StateChanged) and e.unit == "ticker"]
    assert S.CRASHED not in states and S.BACKOFF not in states


async def test_restart_restart_on_a_container_replays_nothing_and_stops_it_gracefully(
    project: Path, docker_client: Any
) -> None:
    port = free_port()
    write(
        project,
        f"""
        services:
          ticker:
            image: debian:bookworm-slim
            command: {TICKER!r}
            stop_signal: SIGKILL
          db:
            image: postgres:16-alpine
            environment: {{POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: app}}
            ports: ["127.0.0.1:{port}:5432"]
            volumes: [data:/var/lib/postgresql/data]
            healthcheck: {{test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U app"], interval: 5s}}
            stop_grace_period: 20s
        volumes:
          data: {{}}
        """,
    )
    engine, _ = engine_for(project, stop_grace=None)
    try:
        await engine.start()
        await until(lambda: engine.state_of("db") == S.READY, 90, "db ready")
        await until(lambda: len(ticks(engine, "ticker")) >= 3)
        await asyncio.gather(engine.restart(["ticker", "db"]), engine.restart(["ticker", "db"]))
        await until(lambda: engine.state_of("db") == S.READY, 90, "db ready again")
        await engine.restart(["db"])
        await until(lambda: engine.state_of("db") == S.READY, 90, "db ready a third time")
        count = len(ticks(engine, "ticker"))
        await until(lambda: len(ticks(engine, "ticker")) >= count + 3)
    finally:
        await engine.shutdown()
    lines = ticks(engine, "ticker")
    assert len(lines) == len(set(lines)), "a line was replayed"
    db_log = [r.text for r in engine.logs("db")]
    assert not any("not properly shut down" in line for line in db_log), db_log
    assert sum("database system is shut down" in line for line in db_log) >= 2


async def test_quit_during_an_image_build_cancels_it_and_creates_nothing(
    project: Path, docker_client: Any
) -> None:
    tag = f"devenv-test-slow-{uuid.uuid4().hex[:8]}"
    write(
        project,
        f"""
        services:
          slow:
            build: {{context: ./slow}}
            image: {tag}
        """,
        {"slow/Dockerfile": "FROM debian:bookworm-slim\nRUN sleep 30\n"},
    )
    engine, _ = engine_for(project)
    starting = asyncio.ensure_future(engine.start())
    try:
        await until(lambda: engine.state_of("slow") == S.BUILDING, 30, "building")
        await asyncio.sleep(1.0)  # well into `RUN sleep 30`
        began = time.monotonic()
        await engine.shutdown()
        took = time.monotonic() - began
        await starting
    finally:
        await engine.shutdown()
    assert took < 10, f"quit took {took:.1f}s"
    assert engine.state_of("slow") == S.STOPPED
    name = os.environ["COMPOSE_PROJECT_NAME"]
    found = docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={name}"}
    )
    assert found == []
    with pytest.raises(Exception, match=r"No such image|not found"):
        docker_client.images.get(tag)


def query(port: int) -> str:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user="app", password="pw", dbname="app", connect_timeout=3
    ) as conn:
        row = conn.execute("select count(*) from seeded").fetchone()
    return str(row[0] if row else None)


async def test_ready_is_never_early_for_a_first_boot_server(
    project: Path, docker_client: Any
) -> None:
    port = free_port()
    write(
        project,
        f"""
        services:
          db:
            image: postgres:16-alpine
            environment: {{POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: app}}
            ports: ["127.0.0.1:{port}:5432"]
            volumes: ["./init:/docker-entrypoint-initdb.d:ro"]
            # on the socket: the image's temporary first-boot server answers it too
            healthcheck: {{test: ["CMD-SHELL", "pg_isready -U app"], interval: 10s}}
        """,
        {
            "init/01-slow.sh": "sleep 3\n",
            "init/02-seed.sql": "create table seeded (n int); insert into seeded values (1);\n",
        },
    )
    engine, _ = engine_for(project)
    answers: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, StateChanged) and event.unit == "db" and event.state == S.READY:
            try:  # at once, from the host, as a local service started now would
                answers.append(query(port))
            except Exception as error:
                answers.append(f"failed: {error}")

    engine.subscribe(on_event, lines=False)
    try:
        await engine.start()
        await until(lambda: engine.state_of("db") == S.READY, 90, "db ready")
    finally:
        await engine.shutdown()
    assert answers == ["1"]


def test_published_port_check_sees_through_the_userland_proxy() -> None:
    """A port that accepts and closes at once (Docker's proxy with nothing behind
    it) is not open; one that keeps the connection, or greets, is."""
    from devenv.runtime.docker_health import port_answers

    def server(behaviour: str) -> tuple[socket.socket, int]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        def serve() -> None:
            conn, _ = sock.accept()
            if behaviour == "close":
                conn.close()
            elif behaviour == "greet":
                conn.sendall(b"220 hello\r\n")
                time.sleep(0.5)
                conn.close()
            else:
                time.sleep(0.5)
                conn.close()

        import threading

        threading.Thread(target=serve, daemon=True).start()
        return sock, port

    results = {}
    for behaviour in ("close", "greet", "wait"):
        sock, port = server(behaviour)
        results[behaviour] = asyncio.run(port_answers("127.0.0.1", port))[0]
        sock.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    results["refused"] = asyncio.run(port_answers("127.0.0.1", port))[0]
    assert results == {"close": False, "greet": True, "wait": True, "refused": False}
