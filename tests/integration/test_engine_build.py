"""`x-devenv.build` and `develop.watch` actions with real processes: a build that
keeps the last good instance, builds cancelled by newer changes, steps that run
only when their files change, replicas sharing one build, and what each
Compose watch action does to a local process.

The "compiler" is Python itself: a build checks src/app.py's syntax and copies
it to bin/app.py, which serves its version over HTTP on $PORT."""

from __future__ import annotations

import asyncio
import urllib.request
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
    service,
    step,
    unit_info,
    wait_state,
    wait_until,
    write_script,
)

from devenv.config.model import ReadyProbe, WatchRule
from devenv.engine.supervisor import Engine
from devenv.events import UnitState

S = UnitState

APP = """
import http.server, os
VERSION = {version!r}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{{VERSION}} {{os.getpid()}}".encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
print("serving", VERSION, flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

COMPILE = f"{PY} -m py_compile src/app.py && mkdir -p bin && cp src/app.py bin/app.py"


def write_app(project: Path, version: str, broken: bool = False) -> None:
    source = APP.format(version=version) + ("\ndef broken(:\n" if broken else "")
    (project / "src").mkdir(exist_ok=True)
    (project / "src" / "app.py").write_text(source)


def answer(port: int) -> str:
    """What the instance on `port` says ("" while none answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


async def answer_async(port: int) -> str:
    return await asyncio.to_thread(answer, port)


def built_service(project: Path, port: int, *, build: str = COMPILE, **kw: object) -> object:
    return service(
        "app",
        f"{PY} bin/app.py",
        project,
        ports=(port,),
        ready=ReadyProbe("http", f"http://127.0.0.1:{port}/", interval=0.05),
        watch=(project / "src",),
        build=(step(build),),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_app(tmp_path, "v1")
    return tmp_path


async def test_a_broken_build_keeps_the_old_instance_and_a_fix_replaces_it(project: Path) -> None:
    port = free_port()
    stack = make_stack(project, built_service(project, port, build=f"sleep 0.5; {COMPILE}"))
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        assert S.BUILDING in rec.states("app")
        await wait_state(engine, "app", S.READY)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        first = await answer_async(port)
        assert first.startswith("v1 ")

        write_app(project, "v2", broken=True)
        await wait_until(lambda: unit_info(engine, "app").build == "building", 5, "building")
        assert await answer_async(port) == first  # the old one serves during the build
        await wait_until(
            lambda: (unit_info(engine, "app").build or "").startswith("build failed"), 10
        )
        assert await answer_async(port) == first  # and after a failed one
        assert engine.state_of("app") == S.READY
        log = [r.text for r in engine.logs("app")]
        assert any("SyntaxError" in line or "invalid syntax" in line for line in log), log
        assert any(line.startswith("build failed: exit 1") for line in log)

        write_app(project, "v3")
        await wait_until(lambda: answer(port).startswith("v3 "), 15, "v3 answers")
        assert unit_info(engine, "app").build is None
        assert unit_info(engine, "app").reloads == 1  # only the good build restarted it
        assert rec.states("app").count(S.STARTING) == 2
    finally:
        await engine.shutdown()


async def test_a_failing_first_build_fails_the_unit_until_a_change_fixes_it(
    project: Path,
) -> None:
    write_app(project, "v1", broken=True)
    port = free_port()
    stack = make_stack(project, built_service(project, port))
    engine = Engine(stack, fast_options(project))
    try:
        await engine.start()
        assert engine.state_of("app") == S.FAILED
        assert unit_info(engine, "app").detail.startswith("build failed: exit 1")
        await asyncio.wait_for(engine.watcher_ready(), 5)
        write_app(project, "v2")
        await wait_state(engine, "app", S.READY, timeout=15)
        assert (await answer_async(port)).startswith("v2 ")
    finally:
        await engine.shutdown()


async def test_a_change_during_a_build_cancels_it_and_builds_once_more(project: Path) -> None:
    port = free_port()
    slow = f"echo $$ >> build-pids; sleep 3; {COMPILE}"
    stack = make_stack(project, built_service(project, port, build=slow))
    engine = Engine(stack, fast_options(project))
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_state(engine, "app", S.READY, timeout=15)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        write_app(project, "v2")
        pids = project / "build-pids"
        await wait_until(lambda: len(pids.read_text().split()) == 2, 5, "the second build")
        write_app(project, "v3")  # while v2 builds
        await wait_until(lambda: len(pids.read_text().split()) == 3, 5, "a fresh build")
        cancelled = int(pids.read_text().split()[1])
        await wait_until(lambda: not pid_alive(cancelled), 5, "the cancelled build gone")
        await wait_until(lambda: answer(port).startswith("v3 "), 20, "v3 answers")
        assert rec.states("app").count(S.STARTING) == 2  # v2 never ran
        log = [r.text for r in engine.logs("app")]
        assert "build cancelled: newer changes" in log
    finally:
        await engine.shutdown()


async def test_steps_with_when_run_only_when_their_files_change(project: Path) -> None:
    port = free_port()
    (project / "deps.txt").write_text("a\n")
    deps = step("echo install >> steps.log", project / "deps.txt")
    compile_ = step(f"echo compile >> steps.log; {COMPILE}")
    app = built_service(project, port)
    from dataclasses import replace

    assert app.local is not None  # type: ignore[attr-defined]
    app = replace(app, local=replace(app.local, build=(deps, compile_)))  # type: ignore[attr-defined, type-var]
    engine = Engine(make_stack(project, app), fast_options(project))  # type: ignore[arg-type]
    log = project / "steps.log"
    try:
        await engine.start()
        await wait_state(engine, "app", S.READY, timeout=15)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        assert log.read_text().split() == ["install", "compile"]  # the first build: all
        write_app(project, "v2")
        await wait_until(lambda: answer(port).startswith("v2 "), 15)
        assert log.read_text().split() == ["install", "compile", "compile"]
        (project / "deps.txt").write_text("b\n")
        await wait_until(lambda: log.read_text().split().count("install") == 2, 15)
        await wait_until(lambda: log.read_text().split().count("compile") == 3, 15)
    finally:
        await engine.shutdown()


async def test_replicas_share_one_build(project: Path) -> None:
    port = free_port()
    while True:
        try:
            import socket

            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            port = free_port()
    app = built_service(project, port, build=f"echo b >> builds.log; {COMPILE}", replicas=2)
    engine = Engine(make_stack(project, app), fast_options(project))  # type: ignore[arg-type]
    try:
        await engine.start()
        await wait_state(engine, "app-1", S.READY, timeout=15)
        await wait_state(engine, "app-2", S.READY, timeout=15)
        assert (project / "builds.log").read_text().split() == ["b"]
        await asyncio.wait_for(engine.watcher_ready(), 5)
        write_app(project, "v2")
        await wait_until(lambda: answer(port).startswith("v2 "), 15)
        await wait_until(lambda: answer(port + 1).startswith("v2 "), 15)
        assert (project / "builds.log").read_text().split() == ["b", "b"]
    finally:
        await engine.shutdown()


async def test_develop_watch_actions(project: Path) -> None:
    write_script(project, "loop.py", "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    for name in ("synced", "restarted", "rebuilt", "executed"):
        (project / name).mkdir()
    rules = (
        WatchRule(project / "synced", "sync", source="develop"),
        WatchRule(project / "restarted", "sync+restart", source="develop"),
        WatchRule(project / "rebuilt", "rebuild", source="develop"),
        WatchRule(
            project / "executed",
            "sync+exec",
            source="develop",
            exec=("/bin/sh", "-c", "echo exec ran >> exec.log"),
        ),
    )
    app = service(
        "app",
        f"{PY} loop.py",
        project,
        watch=tuple(r.path for r in rules),
        watch_rules=rules,
        build=(step("echo built >> builds.log"),),
    )
    engine = Engine(make_stack(project, app), fast_options(project))
    rec = Recorder(engine)

    def starts() -> int:
        return rec.states("app").count(S.STARTING)

    def builds() -> int:
        path = project / "builds.log"
        return len(path.read_text().splitlines()) if path.exists() else 0

    try:
        await engine.start()
        await wait_state(engine, "app", S.READY)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        assert (starts(), builds()) == (1, 1)
        (project / "synced" / "a.txt").write_text("x")
        await asyncio.sleep(0.5)
        assert starts() == 1
        (project / "restarted" / "a.txt").write_text("x")
        await wait_until(lambda: starts() == 2, 5, "a restart")
        await wait_state(engine, "app", S.READY)
        assert builds() == 1  # no build for a restart
        (project / "rebuilt" / "a.txt").write_text("x")
        await wait_until(lambda: starts() == 3, 5, "a rebuild")
        assert builds() == 2
        (project / "executed" / "a.txt").write_text("x")
        await wait_until(lambda: (project / "exec.log").exists(), 5, "the exec")
        await asyncio.sleep(0.3)
        assert starts() == 3
    finally:
        await engine.shutdown()
