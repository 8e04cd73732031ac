"""The engine with real processes: order, conditions, probes, restarts, replicas,
stopping, process trees and output."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest
from engine_support import (
    PY,
    Recorder,
    fast_options,
    free_port,
    hang_guard,  # noqa: F401 (autouse fixture)
    make_stack,
    pid_alive,
    read_pids,
    service,
    unit_info,
    wait_state,
    wait_until,
    write_script,
)

from devenv.config.model import ReadyProbe
from devenv.engine.supervisor import Engine
from devenv.errors import PortInUseError
from devenv.events import StateChanged, UnitState

S = UnitState

SERVER = """
import os, socket, sys, time
port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ["PORT"])
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
time.sleep(delay)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
print("listening on", port, flush=True)
while True:
    c, _ = s.accept()
    c.recv(1024)
    c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    c.close()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_script(tmp_path, "server.py", SERVER)
    write_script(tmp_path, "sleeper.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    return tmp_path


async def test_dependencies_start_in_order_and_independents_in_parallel(project: Path) -> None:
    port = free_port()
    stack = make_stack(
        project,
        service("db", f"{PY} server.py {port} 0.3", project, ports=(port,)),
        service("api", f"{PY} sleeper.py", project, depends={"db": "service_healthy"}),
        service("side", f"{PY} sleeper.py", project),
    )
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_state(engine, "api", S.READY)
        # api waited for db to be ready; side did not wait for anything
        assert rec.first("db", S.READY) < rec.first("api", S.STARTING)
        assert rec.first("side", S.STARTING) < rec.first("db", S.READY)
        assert S.WAITING in rec.states("api")
        waiting = [
            e
            for e in rec.events
            if isinstance(e, StateChanged) and e.unit == "api" and e.state == S.WAITING
        ]
        assert "db" in waiting[0].detail
    finally:
        await engine.shutdown()
    # stopped in reverse order: api before db
    assert rec.first("api", S.STOPPED) < rec.first("db", S.STOPPED)


async def test_service_started_and_completed_conditions(project: Path) -> None:
    write_script(project, "task.py", "import time\ntime.sleep(0.2)\nprint('migrated')\n")
    stack = make_stack(
        project,
        service("migrate", f"{PY} task.py", project),
        service("worker", f"{PY} sleeper.py", project),
        service(
            "api",
            f"{PY} sleeper.py",
            project,
            depends={"migrate": "service_completed_successfully", "worker": "service_started"},
        ),
    )
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_state(engine, "api", S.READY)
        assert rec.first("migrate", S.COMPLETED) < rec.first("api", S.STARTING)
        assert rec.first("worker", S.STARTING) < rec.first("api", S.STARTING)
    finally:
        await engine.shutdown()


async def test_failed_dependency_leaves_dependent_waiting_with_reason(project: Path) -> None:
    write_script(project, "fail.py", "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n")
    stack = make_stack(
        project,
        service("migrate", f"{PY} fail.py", project),
        service(
            "api",
            f"{PY} sleeper.py",
            project,
            depends={"migrate": "service_completed_successfully"},
        ),
        service("other", f"{PY} sleeper.py", project),
    )
    engine = Engine(stack, fast_options(project))
    try:
        await asyncio.wait_for(engine.start(), 10)
        await wait_state(engine, "migrate", S.CRASHED)
        await wait_state(engine, "other", S.READY)
        await wait_until(lambda: "exit" in unit_info(engine, "api").detail, 5, "a reason")
        assert engine.state_of("api") == S.WAITING
        assert "migrate" in unit_info(engine, "api").detail
        assert unit_info(engine, "api").pid is None and unit_info(engine, "api").started_at is None
        assert any("boom" in r.text for r in engine.logs("migrate"))
    finally:
        await engine.shutdown()


async def test_probes_http_tcp_cmd_log(project: Path) -> None:
    p1, p2 = free_port(), free_port()
    stack = make_stack(
        project,
        service(
            "web",
            f"{PY} server.py {p1} 0.2",
            project,
            ready=ReadyProbe("http", f"http://127.0.0.1:{p1}/health", interval=0.05),
        ),
        service(
            "raw",
            f"{PY} server.py {p2} 0.2",
            project,
            ready=ReadyProbe("tcp", f"127.0.0.1:{p2}", interval=0.05),
        ),
        service(
            "flag",
            f"{PY} -c \"import time,pathlib; time.sleep(0.2); pathlib.Path('flag').touch(); "
            'time.sleep(60)"',
            project,
            ready=ReadyProbe("cmd", "test -f flag", interval=0.05),
        ),
        service(
            "logger",
            f"{PY} -c \"import time; time.sleep(0.2); print('Server is READY now', flush=True); "
            'time.sleep(60)"',
            project,
            ready=ReadyProbe("log", r"is READY", interval=0.05),
        ),
        service(
            "never",
            f"{PY} sleeper.py",
            project,
            ready=ReadyProbe("http", f"http://127.0.0.1:{p1}/", status=204, interval=0.05),
        ),
    )
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        for unit in ("web", "raw", "flag", "logger"):
            await wait_state(engine, unit, S.READY)
        await asyncio.sleep(0.3)
        assert engine.state_of("never") == S.STARTING
        assert "status 200, expected 204" in unit_info(engine, "never").detail
    finally:
        await engine.shutdown()


async def test_ports_default_probe_waits_for_first_port(project: Path) -> None:
    port = free_port()
    stack = make_stack(
        project, service("api", f"{PY} server.py {port} 0.3", project, ports=(port,))
    )
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        assert engine.state_of("api") == S.STARTING
        await wait_state(engine, "api", S.READY)
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        assert rec.states("api")[-1] == S.READY
    finally:
        await engine.shutdown()


async def test_unhealthy_after_ready(project: Path) -> None:
    write_script(
        project,
        "flaky.py",
        """
        import pathlib, time
        pathlib.Path("ok").touch()
        time.sleep(0.3)
        pathlib.Path("ok").unlink()
        time.sleep(60)
        """,
    )
    stack = make_stack(
        project,
        service(
            "api",
            f"{PY} flaky.py",
            project,
            ready=ReadyProbe("cmd", "test -f ok", interval=0.05, retries=2, health_interval=0.1),
        ),
    )
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "api", S.READY)
        await wait_state(engine, "api", S.UNHEALTHY)
    finally:
        await engine.shutdown()


async def test_restart_on_failure_with_backoff_then_success(project: Path) -> None:
    write_script(
        project,
        "crashy.py",
        """
        import pathlib, sys, time
        counter = pathlib.Path("count")
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        if n < 3:
            sys.exit(1)
        time.sleep(60)
        """,
    )
    stack = make_stack(project, service("api", f"{PY} crashy.py", project, restart="on-failure"))
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_until(
            lambda: (project / "count").exists() and (project / "count").read_text() == "4"
        )
        await wait_state(engine, "api", S.READY)
        states = rec.states("api")
        assert states.count(S.CRASHED) == 3 and states.count(S.BACKOFF) == 3
        backoffs = [
            e.detail
            for e in rec.events
            if isinstance(e, StateChanged) and e.unit == "api" and e.state == S.BACKOFF
        ]
        assert "0.1s" in backoffs[1] and "0.2s" in backoffs[2]  # doubling, capped at 0.2
        assert engine.units()[0].restarts == 3
    finally:
        await engine.shutdown()


async def test_restart_policies_no_and_always(project: Path) -> None:
    write_script(project, "ok.py", "print('done')\n")
    stack = make_stack(
        project,
        service("once", f"{PY} ok.py", project, restart="on-failure"),
        service("loop", f"{PY} ok.py", project, restart="always"),
        service("plain", f"{PY} -c 'import sys; sys.exit(2)'", project),
    )
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_until(lambda: engine.units()[1].restarts >= 2, 10, "loop restarts")
        await wait_state(engine, "once", S.COMPLETED)
        await wait_state(engine, "plain", S.CRASHED)
        await asyncio.sleep(0.3)
        assert rec.states("once").count(S.STARTING) == 1
        assert rec.states("plain").count(S.STARTING) == 1
        assert engine.units()[2].exit_code == 2
    finally:
        await engine.shutdown()


async def test_replicas_get_offset_ports_and_replica_env(project: Path) -> None:
    base = free_port()
    while not all(_free(base + i) for i in range(3)):
        base = free_port()
    write_script(
        project,
        "replica.py",
        """
        import os, socket, time
        s = socket.socket(); s.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen()
        env = os.environ
        print("replica", env["DEVENV_REPLICA"], "port", env["DEVENV_PORT"], flush=True)
        time.sleep(60)
        """,
    )
    stack = make_stack(
        project, service("api", f"{PY} replica.py", project, ports=(base,), replicas=3)
    )
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        names = [u.name for u in engine.units()]
        assert names == ["api-1", "api-2", "api-3"]
        for n in (1, 2, 3):
            await wait_state(engine, f"api-{n}", S.READY)
            lines = [r.text for r in engine.logs(f"api-{n}")]
            assert f"replica {n} port {base + n - 1}" in lines
        assert [u.ports for u in engine.units()] == [(base,), (base + 1,), (base + 2,)]
    finally:
        await engine.shutdown()


async def test_each_replica_is_probed_on_its_own_port(project: Path) -> None:
    base = free_port()
    while not all(_free(base + i) for i in range(3)):
        base = free_port()
    write_script(
        project,
        "web.py",
        """
        import http.server, os, time
        if os.environ["DEVENV_REPLICA"] == "2":
            time.sleep(60)  # replica 2 never listens
        server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])),
                                        http.server.SimpleHTTPRequestHandler)
        server.serve_forever()
        """,
    )
    probe = ReadyProbe("http", f"http://127.0.0.1:{base}/", interval=0.05)
    stack = make_stack(
        project,
        service("web", f"{PY} web.py", project, ports=(base,), replicas=3, ready=probe),
    )
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "web-1", S.READY)
        await wait_state(engine, "web-3", S.READY)
        await asyncio.sleep(0.5)
        assert engine.state_of("web-2") == S.STARTING
        assert str(base + 1) in unit_info(engine, "web-2").detail
    finally:
        await engine.shutdown()


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(project: Path) -> None:
    write_script(
        project,
        "stubborn.py",
        """
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
        print("up", flush=True)
        while True:
            time.sleep(1)
        """,
    )
    stack = make_stack(project, service("api", f"{PY} stubborn.py", project, grace=0.3))
    engine = Engine(stack, fast_options(project, stop_grace=None))
    try:
        await engine.start()
        await wait_until(lambda: any(r.text == "up" for r in engine.logs("api")))
        pid = engine.units()[0].pid
        assert pid is not None
        await engine.stop(["api"])
        assert engine.state_of("api") == S.STOPPED
        assert not pid_alive(pid)
        texts = [r.text for r in engine.logs("api")]
        assert "ignoring SIGTERM" in texts
        assert any("killing" in t for t in texts)
    finally:
        await engine.shutdown()


async def test_custom_stop_signal_reaches_the_service(project: Path) -> None:
    write_script(
        project,
        "graceful.py",
        """
        import signal, sys, time
        def bye(*a):
            print("got SIGINT", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGINT, bye)
        print("up", flush=True)
        time.sleep(60)
        """,
    )
    stack = make_stack(project, service("api", f"{PY} graceful.py", project, stop_signal="SIGINT"))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_until(lambda: any(r.text == "up" for r in engine.logs("api")))
        await engine.stop()
        assert "got SIGINT" in [r.text for r in engine.logs("api")]
    finally:
        await engine.shutdown()


FORKER = """
import os, subprocess, sys, time
pids = open("pids", "a")
# a child and a grandchild in the same group
child = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; "
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "open('pids', 'a').write(f'{g.pid}\\\\n'); time.sleep(120)"])
pids.write(f"{child.pid}\\n")
# an escapee: double fork + setsid, ignoring SIGTERM
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open("pids", "a").write(f"{os.getpid()}\\n")
        time.sleep(120)
    os._exit(0)
pids.close()
print("forked", flush=True)
time.sleep(120)
"""


async def test_stop_kills_children_grandchildren_and_escapees(project: Path) -> None:
    write_script(project, "forker.py", FORKER)
    stack = make_stack(project, service("api", f"{PY} forker.py", project))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_until(lambda: len(read_pids(project / "pids")) == 3, 10, "3 descendants")
        pids = read_pids(project / "pids")
        assert all(pid_alive(p) for p in pids)
        await engine.stop()
        await wait_until(lambda: not any(pid_alive(p) for p in pids), 5, "descendants gone")
    finally:
        await engine.shutdown()


async def test_natural_exit_leaves_no_children(project: Path) -> None:
    write_script(
        project,
        "leaver.py",
        """
        import subprocess, sys
        c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open("pids", "w").write(f"{c.pid}\\n")
        """,
    )
    stack = make_stack(project, service("task", f"{PY} leaver.py", project))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "task", S.COMPLETED)
        pids = read_pids(project / "pids")
        await wait_until(lambda: not any(pid_alive(p) for p in pids), 5, "child gone")
    finally:
        await engine.shutdown()


async def test_garbage_output_is_survived(project: Path) -> None:
    write_script(
        project,
        "garbage.py",
        r"""
        import sys, time
        out = sys.stdout.buffer
        out.write(b"bad \xff\xfe bytes\n")
        out.write(b"\x1b[31mred\x1b[0m\n")
        out.write(b"progress 10%\rprogress 50%\rprogress 100%\n")
        out.write(b"crlf line\r\n")
        out.write(b"x" * (1024 * 1024) + b"\n")
        out.write("snow \u2603 man\n".encode())
        out.write(b"no newline at end")
        out.flush()
        """,
    )
    stack = make_stack(project, service("junk", f"{PY} garbage.py", project))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "junk", S.COMPLETED)
        texts = [r.text for r in engine.logs("junk") if r.stream == "stdout"]
        assert texts[0] == "bad \ufffd\ufffd bytes"
        assert texts[1] == "\x1b[31mred\x1b[0m"
        assert texts[2] == "progress 100%"
        assert texts[3] == "crlf line"
        big = texts[4:-2]  # the megabyte line, cut into marked pieces of 64 KiB at most
        assert big[0].endswith("\u2026") and big[1].startswith("\u2026[+63 KiB] ")
        content = [re.sub(r"^\u2026\[\+[^]]+\] ", "", t).removesuffix("\u2026") for t in big]
        assert "".join(content) == "x" * (1024 * 1024)
        assert max(len(t.encode()) for t in big) <= 64 * 1024
        assert "snow \u2603 man" in texts
        assert texts[-1] == "no newline at end"
        log_file = project / ".devenv" / "logs" / "junk.log"
        await wait_until(lambda: log_file.exists() and "no newline" in log_file.read_text())
    finally:
        await engine.shutdown()


async def test_port_taken_fails_with_holder(project: Path) -> None:
    import os

    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    stack = make_stack(
        project,
        service("api", f"{PY} sleeper.py", project, ports=(port,)),
        service("web", f"{PY} sleeper.py", project, depends={"api": "service_started"}),
    )
    engine = Engine(stack, fast_options(project))
    try:
        # before anything starts (the pre-flight): nothing is launched
        with pytest.raises(PortInUseError, match=f"port {port}/tcp is already in use by pid"):
            await engine.start()
        assert engine.failed_units() == [] and unit_info(engine, "api").pid is None
        # taken later (the pre-flight passed, then someone took it): the unit fails
        # naming the holder, and what depends on it waits, saying why
        holder.close()
        await engine.start()
        await wait_state(engine, "web", S.READY)
        await engine.stop(["api"])
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        await engine.restart(["api"])
        assert engine.state_of("api") == S.FAILED
        detail = unit_info(engine, "api").detail
        assert f"port {port}" in detail and str(os.getpid()) in detail
        assert engine.failed_units() == ["api"]
        await engine.restart(["web"])
        await wait_state(engine, "web", S.WAITING)
        assert "api failed" in unit_info(engine, "web").detail
    finally:
        holder.close()
        await engine.shutdown()


async def test_command_not_found_fails(project: Path) -> None:
    stack = make_stack(project, service("api", "no-such-command-xyz --flag", project))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        assert engine.state_of("api") == S.FAILED
        assert "command not found: no-such-command-xyz" in unit_info(engine, "api").detail
    finally:
        await engine.shutdown()


async def test_environment_merge_and_shell(project: Path) -> None:
    (project / "extra.env").write_text("FROM_FILE=file\nOVERRIDE=file\n")
    svc = service(
        "env",
        'echo "$FROM_DOTENV $FROM_FILE $OVERRIDE $PYTHONUNBUFFERED $DEVENV_REPLICA"',
        project,
        shell=True,
        environment={"OVERRIDE": "xdevenv"},
    )
    from dataclasses import replace

    assert svc.local is not None
    svc = replace(svc, local=replace(svc.local, env_files=(project / "extra.env",)))
    stack = make_stack(project, svc, variables={"FROM_DOTENV": "dotenv"})
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "env", S.COMPLETED)
        texts = [r.text for r in engine.logs("env") if r.stream == "stdout"]
        assert texts == ["dotenv file xdevenv 1 1"]
    finally:
        await engine.shutdown()


async def test_manual_restart_and_status_file(project: Path) -> None:
    stack = make_stack(project, service("api", f"{PY} sleeper.py", project))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "api", S.READY)
        first = engine.units()[0].pid
        await engine.restart(["api"])
        await wait_state(engine, "api", S.READY)
        assert engine.units()[0].pid != first and first is not None and not pid_alive(first)
        assert engine.units()[0].reloads == 1 and engine.units()[0].restarts == 0
        status = project / ".devenv" / "status.json"
        await wait_until(lambda: status.exists() and '"ready"' in status.read_text())
        assert (project / ".devenv" / "devenv.pid").exists()
    finally:
        await engine.shutdown()
    assert not (project / ".devenv" / "devenv.pid").exists()


async def test_docker_unavailable_fails_only_container_units(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devenv.config.model import Origin, Service

    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-docker.sock")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    db = Service(name="db", origin=Origin(project / "compose.yaml"), image="redis:7-alpine")
    stack = make_stack(
        project,
        db,
        service("api", f"{PY} sleeper.py", project, depends={"db": "service_healthy"}),
        service("other", f"{PY} sleeper.py", project),
    )
    engine = Engine(stack, fast_options(project))
    try:
        await asyncio.wait_for(engine.start(), 30)
        assert engine.state_of("db") == S.FAILED
        assert unit_info(engine, "db").detail
        assert engine.state_of("api") == S.WAITING
        assert unit_info(engine, "api").detail.startswith("db failed:")
        await wait_state(engine, "other", S.READY)
    finally:
        await engine.shutdown()


async def test_stats_sampling_reports_cpu_and_memory(project: Path) -> None:
    from devenv.events import Stats

    stack = make_stack(project, service("api", f"{PY} sleeper.py", project))
    engine = Engine(stack, fast_options(project, stats_interval=0.05))
    rec = Recorder(engine)
    try:
        await engine.start()
        engine.request_stats(True)

        # The first sample may catch the child between fork and exec, so wait for
        # one that sees the interpreter's memory.
        def sampled() -> list[Stats]:
            return [e for e in rec.events if isinstance(e, Stats) and e.memory_bytes > 1_000_000]

        await wait_until(lambda: bool(sampled()), 5, "stats")
        assert sampled()[0].unit == "api"
        assert (engine.units()[0].memory_bytes or 0) > 1_000_000
        engine.request_stats(False)
    finally:
        await engine.shutdown()


async def test_log_probe_is_ready_on_the_line_not_on_the_next_poll(project: Path) -> None:
    stack = make_stack(
        project,
        service(
            "api",
            f"{PY} -c \"import time; time.sleep(0.3); print('listening', flush=True); "
            'time.sleep(60)"',
            project,
            ready=ReadyProbe("log", "listening", interval=60.0),
        ),
    )
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        await wait_state(engine, "api", S.READY, timeout=10)
    finally:
        await engine.shutdown()
