"""The TUI on the real engine with real processes: a compose file in a tmp dir,
loaded by the real config loader, run by the real supervisor."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from hostports import free_port
from textual.pilot import Pilot

from devenv.config import LoadOptions, load_stack
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.events import UnitState
from devenv.tui.app import make_app
from devenv.tui.format import DASH, MASK
from devenv.tui.screens import DetailsScreen

CHATTY = """
import os, sys, time
print("hello from", os.getpid(), "token", os.environ["API_TOKEN"], flush=True)
n = 0
while True:
    n += 1
    print(f"tick {n}", flush=True)
    time.sleep(0.05)
"""

SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("db listening", flush=True)
while True:
    s.accept()[0].close()
"""


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


async def wait_for(pilot: Pilot[int], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await pilot.pause(0.02)


def write_project(root: Path, port: int) -> None:
    (root / "chatty.py").write_text(textwrap.dedent(CHATTY))
    (root / "server.py").write_text(textwrap.dedent(SERVER))
    (root / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            name: tuitest
            services:
              db:
                x-devenv:
                  run: {sys.executable} server.py {port}
                  ports: [{port}]
                  ready: {{tcp: {port}}}
              api:
                depends_on:
                  db: {{condition: service_healthy}}
                x-devenv:
                  run: {sys.executable} chatty.py
                  environment:
                    API_TOKEN: tok-secret-4711
            """
        )
    )


async def test_tui_drives_the_real_engine(tmp_path: Path) -> None:
    port = free_port()
    write_project(tmp_path, port)
    stack = load_stack(LoadOptions(cwd=tmp_path, environ=dict(os.environ)))
    engine = Engine(
        stack,
        EngineOptions(
            state_dir=tmp_path / ".devenv",
            watch=False,
            watchdog=False,
            log_files=False,
            write_state=False,
            stop_grace=2.0,
            stats_interval=0.2,
        ),
    )
    opened: list[str] = []
    app = make_app(engine, [], spinner=False, cursor_blink=False, opener=opened.append)

    def state(unit: str) -> UnitState:
        return next(u.state for u in engine.units() if u.name == unit)

    def pid(unit: str) -> int | None:
        return next(u.pid for u in engine.units() if u.name == unit)

    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: state("api") is UnitState.READY)
        await wait_for(pilot, lambda: "2/2 ready" in str(app.query_one("#header").render()))
        assert [r.key for r in app.table.rows_model] == ["db", "api"]

        # Logs stream in, with the secret masked.
        await wait_for(pilot, lambda: any("tick" in t for t in app.log_view.displayed_texts()))
        texts = app.log_view.displayed_texts()
        assert any(f"token {MASK}" in t for t in texts)
        assert not any("tok-secret-4711" in t for t in texts)

        # CPU/memory arrive through Stats events.
        await wait_for(pilot, lambda: str(app.table.get_cell("api", "mem")) not in (DASH, ""))

        # Select api, restart it with `r`: a new process, the restart counted.
        await pilot.press("j")
        assert app.source.unit == "api"
        first_pid = pid("api")
        assert first_pid is not None and pid_alive(first_pid)
        await pilot.press("r")
        await wait_for(
            pilot, lambda: pid("api") not in (None, first_pid) and state("api") is UnitState.READY
        )
        await wait_for(pilot, lambda: str(app.table.get_cell("api", "reloads")) == "1")
        assert str(app.table.get_cell("api", "restarts")) in ("0", DASH)  # no crash
        assert not pid_alive(first_pid)

        # `s` stops it; `s` again starts it.
        await pilot.press("s")
        await wait_for(pilot, lambda: state("api") is UnitState.STOPPED)
        await wait_for(pilot, lambda: "stopped" in str(app.table.get_cell("api", "state")))
        await pilot.press("s")
        await wait_for(pilot, lambda: state("api") is UnitState.READY)

        # Details name the real command and mask the token.
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        await pilot.press("escape")

        # `o` on db opens its port.
        await pilot.press("k", "o")
        assert opened == [f"http://localhost:{port}"]

        pids = [p for p in (pid("db"), pid("api")) if p]
        await pilot.press("q")
        await wait_for(pilot, lambda: app.engine_stopped, timeout=20)
    assert all(not pid_alive(p) for p in pids)
    assert {u.state for u in engine.units()} <= {UnitState.STOPPED}


async def test_all_logs_interleave_real_units_with_their_names(tmp_path: Path) -> None:
    port = free_port()
    write_project(tmp_path, port)
    stack = load_stack(LoadOptions(cwd=tmp_path, environ=dict(os.environ)))
    engine = Engine(
        stack,
        EngineOptions(
            state_dir=tmp_path / ".devenv",
            watch=False,
            watchdog=False,
            log_files=False,
            write_state=False,
            stop_grace=2.0,
        ),
    )
    app = make_app(engine, [], spinner=False, cursor_blink=False, stats=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: "2/2 ready" in str(app.query_one("#header").render()))
        await wait_for(pilot, lambda: any("tick" in t for t in app.log_view.displayed_texts()))
        await pilot.press("j", "a")  # api alone, then everything again (reloaded from the engine)
        assert app.source.is_all
        view = app.log_view
        units = {view._metas[i].unit for i in range(view.line_count)}
        assert units == {"db", "api"}
        db_lines = [view._texts[i] for i in range(view.line_count) if view._metas[i].unit == "db"]
        assert any("db listening" in t for t in db_lines)
        assert not any("tick" in t for t in db_lines)
        await engine.shutdown()
