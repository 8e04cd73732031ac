"""Live configuration with real processes: an edit to `.env` or to a compose
file restarts only the services whose resolved definition changed, starts added
ones and stops removed ones; an invalid edit keeps the old stack running and
says why (file and line)."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

from engine_support import (
    Recorder,
    hang_guard,  # noqa: F401 (autouse fixture)
    unit_info,
    wait_state,
    wait_until,
)

from devenv.config import LoadOptions, load_stack
from devenv.engine.supervisor import Engine, EngineOptions
from devenv.events import Notice, UnitState

S = UnitState
PY = sys.executable

COMPOSE = """
name: live
services:
  a:
    x-devenv:
      run: {py} -c "import os, time; print('a says', os.environ['MSG'], flush=True); time.sleep(60)"
      environment: {{MSG: "${{A_MSG:-hi}}"}}
  b:
    x-devenv:
      run: {py} -c "import os, time; print('b says', os.environ['MSG'], flush=True); time.sleep(60)"
      environment: {{MSG: "${{B_MSG:-hi}}"}}
{extra}
"""


def write(project: Path, extra: str = "") -> None:
    text = COMPOSE.format(py=PY, extra=textwrap.indent(textwrap.dedent(extra), "  "))
    (project / "compose.yaml").write_text(text)


async def test_edits_apply_live(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / ".env").write_text("A_MSG=one\nB_MSG=one\n")

    def load() -> object:
        return load_stack(LoadOptions(cwd=tmp_path, environ=dict(os.environ)))

    options = EngineOptions(
        state_dir=tmp_path / ".devenv",
        watchdog=False,
        stop_grace=2.0,
        reload_stack=load,  # type: ignore[arg-type]
    )
    engine = Engine(load(), options)  # type: ignore[arg-type]
    rec = Recorder(engine)

    def said(unit: str) -> list[str]:
        if unit not in engine.unit_names():
            return []
        return [r.text for r in engine.logs(unit) if " says " in r.text]

    def notices() -> list[str]:
        return [e.text for e in rec.events if isinstance(e, Notice)]

    try:
        await engine.start()
        await wait_state(engine, "a", S.READY)
        await wait_state(engine, "b", S.READY)
        await asyncio.wait_for(engine.config_ready(), 5)
        b_pid = unit_info(engine, "b").pid

        (tmp_path / ".env").write_text("A_MSG=two\nB_MSG=one\n")
        await wait_until(lambda: said("a")[-1:] == ["a says two"], 10, "a restarted")
        assert unit_info(engine, "b").pid == b_pid  # b does not use A_MSG
        assert any("a restarts (x-devenv.environment)" in n for n in notices()), notices()

        (tmp_path / "compose.yaml").write_text("services:\n  a: [not, valid\n")
        await wait_until(lambda: engine.status().config_error is not None, 10, "the error")
        error = engine.status().config_error or ""
        assert "compose.yaml:2" in error, error
        assert engine.state_of("a") == S.READY and engine.state_of("b") == S.READY

        write(
            tmp_path,
            f"""
            c:
              x-devenv:
                run: {PY} -c "import time; print('c says hi', flush=True); time.sleep(60)"
            """,
        )
        await wait_until(lambda: engine.status().config_error is None, 10, "fixed")
        await wait_until(lambda: said("c") == ["c says hi"], 10, "c started")
        assert unit_info(engine, "b").pid == b_pid

        (tmp_path / "compose.yaml").write_text(COMPOSE.format(py=PY, extra="").split("  b:")[0])
        await wait_until(lambda: "b" not in engine.unit_names(), 10, "b removed")
        assert engine.state_of("a") == S.READY
    finally:
        await engine.shutdown()
