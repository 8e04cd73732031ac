"""The container unit on a real Docker Engine: health, ports, logs, reuse, data,
images and an unreachable engine."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS
from container_helpers import (
    Recorder,
    cleanup,
    free_port,
    make_context,
    make_stack,
    postgres,
    project_name,
    psql,
    redis,
    service,
    until,
)

from devenv.config.model import Healthcheck, frozen_map
from devenv.errors import DockerUnavailableError, ImageError, PortInUseError
from devenv.runtime import docker_connect
from devenv.runtime.container import ContainerUnit, prepare_project
from devenv.runtime.docker_project import down

pytestmark = pytest.mark.docker


@pytest.fixture
def project(docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DEVENV_EXTRA_LABELS", TEST_LABELS)
    name = project_name()
    yield name
    cleanup(docker_client, name)


async def test_healthcheck_gates_start_and_is_seen_before_dockers_interval(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    # Docker would first run the check after 30 s; devenv runs it itself meanwhile.
    pg = postgres(tmp_path, free_port(), interval=30.0)
    stack = make_stack(project, tmp_path, pg)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    unit = ContainerUnit(pg, 1, ctx, health_exec_interval=0.05)
    await unit.start()
    assert unit.running
    timing = unit.probe_timing
    assert timing is not None and timing.interval <= 0.1
    ok, detail = await until(lambda: _ready(unit), timeout=60)
    assert ok and detail == "healthy"
    docker_status = docker_client.api.inspect_container(unit.container_id)["State"]["Health"]
    assert docker_status["Status"] == "starting"  # proves the health came from devenv's check
    code, out = psql(docker_client, f"{project}-postgres-1", "select 1")
    assert (code, out) == (0, "1")
    await unit.stop()
    assert not unit.running


async def _ready(unit: ContainerUnit) -> tuple[bool, str] | None:
    ok, detail = await unit.check_ready()
    return (ok, detail) if ok else None


async def test_ports_bind_loopback_and_answer(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    port = free_port()
    rd = redis(tmp_path, port)
    stack = make_stack(project, tmp_path, rd)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    unit = ContainerUnit(rd, 1, ctx)
    await unit.start()
    assert unit.host_ports == (port,)
    info = docker_client.api.inspect_container(unit.container_id)
    assert info["HostConfig"]["PortBindings"]["6379/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": str(port)}
    ]
    assert await until(lambda: _redis_ping(port), timeout=30)
    await unit.stop()


async def test_explicit_host_address_is_honoured(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    port = free_port()
    rd = redis(tmp_path, port, host_ip="0.0.0.0")
    stack = make_stack(project, tmp_path, rd)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    unit = ContainerUnit(rd, 1, ctx)
    await unit.start()
    info = docker_client.api.inspect_container(unit.container_id)
    assert info["HostConfig"]["PortBindings"]["6379/tcp"][0]["HostIp"] == "0.0.0.0"
    await unit.stop(force=True)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def test_port_taken_on_the_host_is_a_clear_error(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        rd = redis(tmp_path, port)
        stack = make_stack(project, tmp_path, rd)
        ctx = make_context(stack, tmp_path, Recorder())
        await prepare_project(ctx)
        unit = ContainerUnit(rd, 1, ctx)
        with pytest.raises(PortInUseError) as caught:
            await unit.start()
    assert str(port) in str(caught.value)
    assert "service 'redis'" in str(caught.value)


async def test_logs_are_streamed_by_stream_and_exit_code_reported(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    script = "echo out-1; echo err-1 >&2; sleep 0.2; printf 'out-2'; exit 3"
    task = service("task", tmp_path, image="debian:bookworm-slim", command=("sh", "-c", script))
    stack = make_stack(project, tmp_path, task)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    await prepare_project(ctx)
    unit = ContainerUnit(task, 1, ctx)
    await unit.start()
    assert await unit.wait_exit() == 3
    await until(lambda: "out-2" in recorder.lines("stdout"), timeout=10)
    assert recorder.lines("stdout") == ["out-1", "out-2"]
    assert recorder.lines("stderr") == ["err-1"]
    assert not unit.running


async def test_unchanged_container_is_reused_changed_one_recreated(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    rd = redis(tmp_path, free_port())
    stack = make_stack(project, tmp_path, rd)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    first = ContainerUnit(rd, 1, ctx)
    await first.start()
    await first.stop()
    assert docker_client.containers.get(first.container_id).status == "exited"

    again = ContainerUnit(rd, 1, ctx)
    await again.start()
    assert again.reused and again.container_id == first.container_id
    await again.stop()

    changed_service = redis(tmp_path, free_port())
    changed = ContainerUnit(changed_service, 1, make_context(stack, tmp_path, Recorder()))
    await changed.start()
    assert not changed.reused and changed.container_id != first.container_id
    assert len(docker_client.containers.list(all=True, filters=_project(project))) == 1
    await changed.stop()


def _project(project: str) -> dict[str, str]:
    return {"label": f"com.docker.compose.project={project}"}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
async def test_docker_compose_lists_what_devenv_started(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    rd = redis(tmp_path, free_port())
    stack = make_stack(project, tmp_path, rd)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    unit = ContainerUnit(rd, 1, ctx)
    await unit.start()
    out = subprocess.run(
        ["docker-compose", "-p", project, "ps", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [(r["Name"], r["Service"], r["State"]) for r in rows] == [
        (f"{project}-redis-1", "redis", "running")
    ]
    info = docker_client.api.inspect_container(unit.container_id)
    assert "redis" in info["NetworkSettings"]["Networks"][f"{project}_default"]["Aliases"]
    await unit.stop(force=True)


async def test_volume_data_survives_stop_down_and_start_until_down_volumes(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    pg = postgres(tmp_path, free_port(), volume="pgdata")
    stack = make_stack(project, tmp_path, pg, pgdata={})
    container = f"{project}-postgres-1"

    async def up() -> ContainerUnit:
        ctx = make_context(stack, tmp_path, Recorder())
        await prepare_project(ctx)
        unit = ContainerUnit(pg, 1, ctx)
        await unit.start()
        await until(lambda: _ready(unit), timeout=60)
        return unit

    unit = await up()
    volume = docker_client.volumes.get(f"{project}_pgdata")
    assert volume.attrs["Labels"]["com.docker.compose.volume"] == "pgdata"
    assert (
        psql(docker_client, container, "create table t (v text); insert into t values ('kept')")[0]
        == 0
    )
    await unit.stop()

    unit = await up()  # stop and start
    assert psql(docker_client, container, "select v from t") == (0, "kept")
    await unit.stop()

    result = down(stack, remove_volumes=False)
    assert result.containers == [container] and result.volumes == []
    assert not docker_client.containers.list(all=True, filters=_project(project))
    assert not docker_client.networks.list(filters=_project(project))

    unit = await up()  # down and start: a new container on the same volume
    assert psql(docker_client, container, "select v from t") == (0, "kept")
    await unit.stop()

    result = down(stack, remove_volumes=True)
    assert result.volumes == [f"{project}_pgdata"]
    assert not docker_client.volumes.list(filters=_project(project))

    unit = await up()
    code, out = psql(docker_client, container, "select v from t")
    assert code != 0 and "does not exist" in out
    await unit.stop(force=True)


async def test_missing_image_that_cannot_be_pulled(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    image = "devenv-test/no-such-image:0"
    missing = service("ghost", tmp_path, image=image)
    stack = make_stack(project, tmp_path, missing)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    await prepare_project(ctx)
    unit = ContainerUnit(missing, 1, ctx)
    with pytest.raises(ImageError) as caught:
        await unit.start()
    message = str(caught.value)
    assert f"cannot pull image '{image}'" in message and "service 'ghost'" in message
    assert "\n  hint:" in message
    assert recorder.progress and recorder.progress[0].action == "pull"
    assert not unit.running


async def test_build_section_is_built_with_output_as_log(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nRUN echo built-marker > /marker\nCMD cat /marker\n"
    )
    built = service("app", tmp_path, build=frozen_map({"context": str(context)}), healthcheck=None)
    stack = make_stack(project, tmp_path, built)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    await prepare_project(ctx)
    unit = ContainerUnit(built, 1, ctx)
    try:
        await unit.start()
        assert await unit.wait_exit() == 0
        await until(lambda: "built-marker" in recorder.lines("stdout"), timeout=10)
        assert any("Step 2/3" in line for line in recorder.lines("stdout"))
        assert {p.action for p in recorder.progress} == {"build"}
    finally:
        cleanup(docker_client, project)
        docker_client.images.remove(f"{project}-app", force=True)


async def test_docker_unreachable_names_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    docker_connect.forget_clients()
    task = service("task", tmp_path, image="debian:bookworm-slim")
    stack = make_stack(project_name(), tmp_path, task)
    ctx = make_context(stack, tmp_path, Recorder())
    try:
        with pytest.raises(DockerUnavailableError) as caught:
            await prepare_project(ctx)
        with pytest.raises(DockerUnavailableError):
            await ContainerUnit(task, 1, ctx).start()
    finally:
        docker_connect.forget_clients()
    message = str(caught.value)
    assert "unix:///nonexistent.sock (from DOCKER_HOST)" in message
    assert "the socket does not exist" in message
    assert "hint:" in message and "devenv start <service>" in message
    assert message.count("\n") == 1


async def test_healthcheck_disabled_needs_no_probe(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    rd = redis(tmp_path, free_port())
    plain = service(
        "plain",
        tmp_path,
        image=rd.image,
        healthcheck=Healthcheck(disable=True),
        command=("redis-server", "--port", "6390"),
    )
    stack = make_stack(project, tmp_path, plain)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    unit = ContainerUnit(plain, 1, ctx)
    assert unit.probe_timing is None
    await unit.start()
    assert await unit.check_ready() == (True, "running")
    await unit.stop(force=True)


async def test_docker_reports_unhealthy_and_check_ready_says_so(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    sick = service(
        "sick",
        tmp_path,
        image="debian:bookworm-slim",
        command=("sleep", "60"),
        healthcheck=Healthcheck(
            test=("CMD-SHELL", "echo not today; exit 1"), interval=0.2, retries=1
        ),
        stop_grace_period=0.0,
    )
    stack = make_stack(project, tmp_path, sick)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    unit = ContainerUnit(sick, 1, ctx, health_exec_interval=0.05)
    await unit.start()
    ok, detail = await until(lambda: _detail_starts(unit, "unhealthy"), timeout=30, interval=0.1)
    assert not ok and detail == "unhealthy: not today"
    await unit.stop(force=True)


async def _detail_starts(unit: ContainerUnit, prefix: str) -> tuple[bool, str] | None:
    ok, detail = await unit.check_ready()
    return (ok, detail) if detail.startswith(prefix) else None


async def test_tty_container_output_is_stdout(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    task = service(
        "tty",
        tmp_path,
        image="debian:bookworm-slim",
        command=("sh", "-c", "echo one; echo two >&2"),
        extra=frozen_map({"tty": True}),
    )
    stack = make_stack(project, tmp_path, task)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    await prepare_project(ctx)
    unit = ContainerUnit(task, 1, ctx)
    await unit.start()
    assert await unit.wait_exit() == 0
    await until(lambda: len(recorder.lines("stdout")) >= 2, timeout=10)
    assert recorder.lines("stdout") == ["one", "two"] and recorder.lines("stderr") == []


async def test_current_docker_context_is_used_when_docker_host_is_unset(
    docker_client: Any, project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url = docker_client.api.base_url
    if not base_url.startswith("http+docker://localhost"):
        pytest.skip(f"the test engine is not on the default socket ({base_url})")
    config = tmp_path / "docker-config"
    for name, host in (("alive", "unix:///var/run/docker.sock"), ("dead", "unix:///nope.sock")):
        meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(
            json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}})
        )
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    task = service("task", tmp_path, image="debian:bookworm-slim", command=("true",))
    stack = make_stack(project, tmp_path, task)
    ctx = make_context(stack, tmp_path, Recorder())
    docker_connect.forget_clients()
    try:
        (config / "config.json").write_text(json.dumps({"currentContext": "dead"}))
        with pytest.raises(DockerUnavailableError) as caught:
            await prepare_project(ctx)
        assert "unix:///nope.sock (from docker context 'dead'" in str(caught.value)

        (config / "config.json").write_text(json.dumps({"currentContext": "alive"}))
        await prepare_project(ctx)
        unit = ContainerUnit(task, 1, ctx)
        await unit.start()
        assert await unit.wait_exit() == 0
    finally:
        docker_connect.forget_clients()


async def test_a_restarted_container_does_not_replay_its_old_output(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    task = service("again", tmp_path, image="debian:bookworm-slim", command=("echo", "run"))
    stack = make_stack(project, tmp_path, task)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    await prepare_project(ctx)
    unit = ContainerUnit(task, 1, ctx)
    for _ in range(2):
        await unit.start()
        assert await unit.wait_exit() == 0
        # The log thread ends once the stream (and its catch-up read) is done.
        await until(lambda: "devenv-logs-again" not in {t.name for t in threading.enumerate()})
        await asyncio.sleep(0)  # lines handed over with call_soon_threadsafe land here
    assert unit.reused
    assert recorder.lines("stdout") == ["run", "run"]


async def test_a_failing_build_is_an_image_error_with_its_output(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    context = tmp_path / "broken"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nRUN echo about-to-fail; exit 3\n"
    )
    broken = service("broken", tmp_path, build=frozen_map({"context": str(context)}))
    stack = make_stack(project, tmp_path, broken)
    recorder = Recorder()
    ctx = make_context(stack, tmp_path, recorder)
    await prepare_project(ctx)
    with pytest.raises(ImageError) as caught:
        await ContainerUnit(broken, 1, ctx).start()
    message = str(caught.value)
    assert f"cannot build image '{project}-broken'" in message and "code: 3" in message
    assert "about-to-fail" in recorder.lines("stdout")
    leftovers = docker_client.containers.list(
        all=True, filters={"ancestor": "debian:bookworm-slim"}
    )
    assert not [c for c in leftovers if "about-to-fail" in " ".join(c.attrs["Config"]["Cmd"] or [])]


async def test_a_start_cancelled_midway_leaves_no_running_container(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    sleeper = service(
        "sleeper",
        tmp_path,
        image="debian:bookworm-slim",
        command=("sleep", "60"),
        stop_grace_period=0.0,
    )
    stack = make_stack(project, tmp_path, sleeper)
    starting: list[asyncio.Task[None]] = []

    def on_log(unit: str, stream: str, line: str) -> None:
        # Created, about to be started in the worker thread: the engine gives up now.
        if line.startswith("created container") and starting:
            starting[0].cancel()

    ctx = make_context(stack, tmp_path, Recorder())
    ctx.on_log = on_log
    await prepare_project(ctx)
    unit = ContainerUnit(sleeper, 1, ctx)
    starting.append(asyncio.ensure_future(unit.start()))
    with pytest.raises(asyncio.CancelledError):
        await starting[0]
    container = docker_client.containers.get(f"{project}-sleeper-1")
    assert container.status != "running"
    assert not unit.running


async def test_cpu_and_memory_come_from_the_stats_api(
    docker_client: Any, project: str, tmp_path: Path
) -> None:
    busy = service(
        "busy",
        tmp_path,
        image="debian:bookworm-slim",
        command=("sh", "-c", "while :; do :; done"),
    )
    idle = service("idle", tmp_path, image="debian:bookworm-slim", command=("sleep", "300"))
    stack = make_stack(project, tmp_path, busy, idle)
    ctx = make_context(stack, tmp_path, Recorder())
    await prepare_project(ctx)
    units = [ContainerUnit(s, 1, ctx) for s in (busy, idle)]
    try:
        for unit in units:
            await unit.start()
            assert await unit.sample_usage() is None  # one sample is no rate yet

        async def both_sampled() -> list[tuple[float, int]] | None:
            await asyncio.sleep(0.3)
            samples = [await unit.sample_usage() for unit in units]
            return None if None in samples else samples  # type: ignore[return-value]

        (busy_cpu, busy_memory), (idle_cpu, _) = await until(both_sampled, timeout=30)
        # a spinning shell against a sleeping one (on a loaded machine the spinner
        # gets less than a core, but far more than the sleeper)
        assert busy_cpu > 5.0 and busy_cpu > 5 * idle_cpu
        assert busy_memory > 0
    finally:
        for unit in units:
            await unit.stop(force=True)
    assert await units[0].sample_usage() is None  # stopped: nothing to measure
