"""The layering is enforced, not hoped for (harlequin's test_import_hygiene).

Each check runs a fresh interpreter, imports a layer and lists which heavy
modules came with it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("textual", "docker", "watchfiles", "rich", "psutil")


def modules_loaded_by(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    names: list[str] = json.loads(out.strip().splitlines()[-1])
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    ("code", "forbidden"),
    [
        ("import devenv.config", HEAVY),
        ("import devenv.events, devenv.engine.api", HEAVY),
        ("import devenv.engine.supervisor", ("textual", "docker", "rich")),
        ("import devenv.runtime.process", ("textual", "docker", "rich")),
        ("import devenv.cli; devenv.cli.build_parser()", HEAVY),
        # `devenv status` and the other one-shot commands reach the session through
        # the socket with the standard library: no YAML, no model, no aiohttp, and
        # not http.client (email and ssl come with it: ~33 ms of a 150 ms budget).
        (
            "import devenv.control.oneshot, devenv.control.paths, devenv.commands.args",
            (*HEAVY, "yaml", "aiohttp", "mcp", "dotenv", "http", "email", "ssl"),
        ),
    ],
)
def test_layer_imports_nothing_heavy(code: str, forbidden: tuple[str, ...]) -> None:
    try:
        loaded = modules_loaded_by(code)
    except subprocess.CalledProcessError as error:
        if "ModuleNotFoundError: No module named 'devenv." in error.stderr:
            pytest.skip(f"layer not built yet: {error.stderr.strip().splitlines()[-1]}")
        raise
    assert not loaded & set(forbidden), f"{code!r} pulled in {sorted(loaded & set(forbidden))}"


def test_help_runs_without_textual_or_docker() -> None:
    loaded = modules_loaded_by(
        "import contextlib, io\n"
        "import devenv.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    devenv.cli.main(['--help'])"
    )
    assert not loaded & set(HEAVY)
