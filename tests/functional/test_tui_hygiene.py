"""The TUI talks to the engine only through EngineAPI and events: it imports no
Docker, subprocess, watchfiles or psutil code, directly or through the engine."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import devenv.tui

TUI = Path(devenv.tui.__file__).parent
FORBIDDEN = {"docker", "subprocess", "watchfiles", "psutil", "devenv.runtime"}
ALLOWED_DEVENV = {"devenv.engine.api", "devenv.events", "devenv.secrets", "devenv.tui"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_tui_sources_import_only_the_engine_interface() -> None:
    sources = sorted(TUI.glob("*.py"))
    assert len(sources) >= 5
    for path in sources:
        for name in imported_modules(path):
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), (path, name)
            if name.startswith("devenv."):
                assert any(name == a or name.startswith(a + ".") for a in ALLOWED_DEVENV), (
                    path,
                    name,
                )


def test_importing_the_app_pulls_in_no_engine_internals() -> None:
    probe = "import devenv.tui.app, json, sys; print(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    roots = {m.split(".")[0] for m in loaded}
    assert not roots & {"docker", "watchfiles", "psutil"}
    engine_internals = {m for m in loaded if m.startswith(("devenv.engine.", "devenv.runtime"))}
    assert engine_internals <= {"devenv.engine.api"}, engine_internals
