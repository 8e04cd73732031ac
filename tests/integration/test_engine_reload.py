"""Hot reload with a real watcher and real processes: routing, ignores, coalescing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from engine_support import (
    PY,
    Recorder,
    fast_options,
    hang_guard,  # noqa: F401 (autouse fixture)
    make_stack,
    service,
    wait_state,
    wait_until,
    write_script,
)

from devenv.config.model import ReadyProbe
from devenv.engine.supervisor import Engine
from devenv.events import Reloaded, UnitState

S = UnitState

APP = """
import os, signal, sys, time
slow = float(os.environ.get("SLOW_STOP", "0"))
def bye(*a):
    time.sleep(slow)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("started", flush=True)
while True:
    time.sleep(1)
"""


def starts(rec: Recorder, unit: str) -> int:
    return rec.states(unit).count(S.STARTING)


def reloads(rec: Recorder, unit: str) -> list[Reloaded]:
    return [e for e in rec.events if isinstance(e, Reloaded) and e.unit == unit]


async def two_watchers(
    tmp_path: Path, quiet: float = 0.05, backend: str = "auto", **env: str
) -> tuple[Engine, Recorder]:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text("x = 1\n")
    write_script(tmp_path, "app.py", APP)
    # ready once the script runs (its SIGTERM handler is installed by then)
    started = ReadyProbe("log", "^started$", interval=0.02)
    stack = make_stack(
        tmp_path,
        service(
            "alpha",
            f"{PY} app.py",
            tmp_path,
            watch=(tmp_path / "a",),
            ignore=("*.tmp", "generated/*"),
            environment=env,
            ready=started,
        ),
        service(
            "beta",
            f"{PY} app.py",
            tmp_path,
            watch=(tmp_path / "b",),
            environment=env,
            ready=started,
        ),
    )
    engine = Engine(stack, fast_options(tmp_path, watch_quiet=quiet, watch_backend=backend))
    rec = Recorder(engine)
    await engine.start()
    await wait_state(engine, "alpha", S.READY)
    await wait_state(engine, "beta", S.READY)
    await asyncio.wait_for(engine.watcher_ready(), 5)
    return engine, rec


@pytest.mark.parametrize("backend", ["auto", "watchfiles"])
async def test_change_restarts_only_the_service_watching_it(tmp_path: Path, backend: str) -> None:
    engine, rec = await two_watchers(tmp_path, backend=backend)
    assert engine.watch_backend == ("watchfiles" if backend == "watchfiles" else "inotify")
    try:
        (tmp_path / "a" / "app.py").write_text("x = 2\n")
        await wait_until(lambda: starts(rec, "alpha") == 2, 5, "alpha restarted")
        await wait_state(engine, "alpha", S.READY)
        assert reloads(rec, "alpha")[0].changes == ("a/app.py",)
        assert any("reloading: a/app.py changed" in r.text for r in engine.logs("alpha"))
        (tmp_path / "b" / "app.py").write_text("x = 3\n")
        await wait_until(lambda: starts(rec, "beta") == 2, 5, "beta restarted")
        assert starts(rec, "alpha") == 2
        assert engine.units()[0].reloads == 1 and engine.units()[0].restarts == 0
    finally:
        await engine.shutdown()


async def test_ignored_files_do_not_restart(tmp_path: Path) -> None:
    engine, rec = await two_watchers(tmp_path)
    try:
        a = tmp_path / "a"
        (a / "__pycache__").mkdir()
        (a / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
        (a / ".app.py.swp").write_text("swap")
        (a / "4913").write_text("")
        (a / "notes.tmp").write_text("user ignore")
        (a / "generated").mkdir()
        (a / "generated" / "out.py").write_text("user ignore by path")
        (a / ".git").mkdir()
        (a / ".git" / "index").write_text("git")
        await asyncio.sleep(0.02)
        (a / "app.py").write_text("x = 2\n")
        await wait_until(lambda: starts(rec, "alpha") == 2, 5, "alpha restarted")
        await asyncio.sleep(0.3)
        assert starts(rec, "alpha") == 2
        changes = {c for r in reloads(rec, "alpha") for c in r.changes}
        assert changes == {"a/app.py"}
    finally:
        await engine.shutdown()


async def test_burst_of_writes_gives_one_restart(tmp_path: Path) -> None:
    # The burst comes from another thread, as from an editor or git, so that a
    # busy test machine cannot stretch it; the quiet window is wider than the
    # default so that scheduling hiccups on a loaded machine do not split it.
    engine, rec = await two_watchers(tmp_path, quiet=0.25)
    try:
        target = tmp_path / "a" / "app.py"

        def burst() -> None:
            for i in range(200):  # 200 writes in ~100 ms, plus new files
                target.write_text(f"x = {i}\n")
                if i % 40 == 0:
                    (tmp_path / "a" / f"new{i}.py").write_text("")
                time.sleep(0.0005)

        await asyncio.to_thread(burst)
        await wait_until(lambda: starts(rec, "alpha") >= 2, 5, "alpha restarted")
        await wait_state(engine, "alpha", S.READY)
        await asyncio.sleep(0.4)
        assert starts(rec, "alpha") == 2, rec.states("alpha")
        assert len(reloads(rec, "alpha")) == 1
        assert starts(rec, "beta") == 1
    finally:
        await engine.shutdown()


async def test_changes_during_a_restart_join_it_and_later_ones_restart_once_more(
    tmp_path: Path,
) -> None:
    engine, rec = await two_watchers(tmp_path, SLOW_STOP="0.6")
    try:
        target = tmp_path / "a" / "app.py"
        target.write_text("x = 2\n")
        await wait_until(lambda: S.STOPPING in rec.states("alpha"), 5, "alpha stopping")
        # while the old instance takes its time to stop, more changes arrive: the
        # new instance has not started yet, so they belong to this restart
        for i in range(3):
            (tmp_path / "a" / f"mod{i}.py").write_text(f"x = {i}\n")
            await asyncio.sleep(0.1)
        await wait_until(lambda: starts(rec, "alpha") >= 2, 10, "the restart")
        await wait_state(engine, "alpha", S.READY)
        await asyncio.sleep(0.5)
        assert starts(rec, "alpha") == 2, rec.states("alpha")
        lines = [r.text for r in engine.logs("alpha") if r.text.startswith("reloading")]
        # said before the stop, naming what started it; the others joined it
        assert lines == ["reloading: a/app.py changed"]
        said = next(i for i, e in enumerate(rec.events) if isinstance(e, Reloaded))
        assert said < rec.first("alpha", S.STOPPING)
        # changes after the new instance started: exactly one more restart
        for i in range(3):
            target.write_text(f"x = {i + 10}\n")
            await asyncio.sleep(0.005)
        await wait_until(lambda: starts(rec, "alpha") >= 3, 10, "one more restart")
        await wait_state(engine, "alpha", S.READY)
        await asyncio.sleep(0.9)
        assert starts(rec, "alpha") == 3, rec.states("alpha")
    finally:
        await engine.shutdown()


async def test_change_restarts_a_crashed_service(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "mode").write_text("crash")
    write_script(
        tmp_path,
        "svc.py",
        """
        import pathlib, sys, time
        if pathlib.Path("src/mode").read_text() == "crash":
            sys.exit(1)
        print("fixed", flush=True)
        time.sleep(60)
        """,
    )
    stack = make_stack(tmp_path, service("api", f"{PY} svc.py", tmp_path, watch=(src,)))
    engine = Engine(stack, fast_options(tmp_path))
    try:
        await engine.start()
        await wait_state(engine, "api", S.CRASHED)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        (src / "mode").write_text("ok")
        await wait_state(engine, "api", S.READY)
        await wait_until(lambda: any(r.text == "fixed" for r in engine.logs("api")))
    finally:
        await engine.shutdown()


async def test_watched_file_survives_atomic_saves(tmp_path: Path) -> None:
    write_script(tmp_path, "app.py", APP)
    config = tmp_path / "settings.toml"
    config.write_text("v = 0\n")
    stack = make_stack(
        tmp_path,
        service(
            "api",
            f"{PY} app.py",
            tmp_path,
            watch=(config,),
            ready=ReadyProbe("log", "^started$", interval=0.02),
        ),
    )
    engine = Engine(stack, fast_options(tmp_path))
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_state(engine, "api", S.READY)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        for n in (1, 2):  # an editor's save: write a temp file, rename it over
            tmp = tmp_path / f".settings.toml.{n}.new"
            tmp.write_text(f"v = {n}\n")
            tmp.replace(config)
            await wait_until(lambda n=n: starts(rec, "api") == n + 1, 5, f"restart {n}")
            await wait_state(engine, "api", S.READY)
        (tmp_path / "unrelated.txt").write_text("x")
        await asyncio.sleep(0.3)
        assert starts(rec, "api") == 3
    finally:
        await engine.shutdown()


async def test_new_directories_are_watched_and_ignored_ones_are_not(tmp_path: Path) -> None:
    engine, rec = await two_watchers(tmp_path)
    try:
        a = tmp_path / "a"
        (a / "node_modules" / "pkg").mkdir(parents=True)  # ignored: never restarts
        (a / "node_modules" / "pkg" / "index.js").write_text("1")
        (a / "pkg" / "sub").mkdir(parents=True)  # a new directory: a change by itself
        await wait_until(lambda: starts(rec, "alpha") >= 2, 5, "restart for the new dir")
        await wait_state(engine, "alpha", S.READY)
        await asyncio.sleep(0.2)
        before = starts(rec, "alpha")
        (a / "node_modules" / "pkg" / "index.js").write_text("2")
        (a / "pkg" / "sub" / "mod.py").write_text("x = 1\n")  # inside the new dir
        await wait_until(lambda: starts(rec, "alpha") == before + 1, 5, "restart for mod.py")
        await wait_state(engine, "alpha", S.READY)
        await asyncio.sleep(0.3)
        assert starts(rec, "alpha") == before + 1
        changes = {c for r in reloads(rec, "alpha") for c in r.changes}
        assert "a/pkg/sub/mod.py" in changes
        assert not any("node_modules" in c for c in changes)
    finally:
        await engine.shutdown()
