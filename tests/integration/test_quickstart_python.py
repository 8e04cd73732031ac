"""The demo's local processes run on the Python devenv runs on (DEVENV_PYTHON),
not on whichever `python3` is first on PATH: so the quick start works when
devenv lives in a venv that is not activated, or was installed with pipx or uv.

Here `python3` on PATH is a stub that fails, and devenv runs from a venv that
is not activated (made with the system site-packages, where the `demo` extra's
psycopg and redis are)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_LABELS
from container_helpers import cleanup, free_port, project_name

REPO = Path(__file__).resolve().parents[2]
DEMO_FILES = ("compose.yaml", "compose", "demo", ".env.example")
STUB = "#!/bin/sh\necho 'stub python3: not the Python devenv was installed into' >&2\nexit 97\n"


@pytest.fixture
def setting(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """A demo copy, an unactivated venv to run devenv from, and an environment
    whose first python3 is the stub."""
    demo = tmp_path / "demo"
    demo.mkdir()
    for name in DEMO_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, demo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, demo / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False, symlinks=True)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("python3", "python"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    environ = {
        **{k: v for k, v in os.environ.items() if k not in ("DEVENV_PYTHON", "VIRTUAL_ENV")},
        "PATH": f"{stubs}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "DEVENV_EXTRA_LABELS": TEST_LABELS,
    }
    yield demo, env_dir / "bin" / "python", environ


def devenv(python: Path, demo: Path, environ: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(python), "-m", "devenv", *args],
        cwd=demo,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_demo_runs_on_devenvs_python(setting: tuple[Path, Path, dict[str, str]]) -> None:
    demo, python, environ = setting
    assert shutil.which("python3", path=environ["PATH"]) != str(python)
    out = devenv(python, demo, environ, "config", "--services")
    assert "api" in out
    services = json.loads(devenv(python, demo, environ, "config", "--json"))["services"]
    for name in ("migrate", "api", "worker"):
        assert services[name]["x-devenv"]["run"][0] == str(python), name

    (demo / ".env").write_text("DEVENV_PYTHON=/opt/other python/bin/python3\n")
    services = json.loads(devenv(python, demo, environ, "config", "--json"))["services"]
    assert services["api"]["x-devenv"]["run"][:3] == [
        "/opt/other python/bin/python3",
        "-m",
        "demo.api",
    ]


@pytest.mark.docker
@pytest.mark.slow
def test_the_demo_migration_runs_with_a_stub_python3_first_on_path(
    setting: tuple[Path, Path, dict[str, str]], docker_client: Any
) -> None:
    demo, python, environ = setting
    project = project_name()
    (demo / ".env").write_text(
        f"COMPOSE_PROJECT_NAME={project}\nPOSTGRES_PORT={free_port()}\n"
        f"REDIS_PORT={free_port()}\nAPI_PORT={free_port()}\nHEALTH_INTERVAL=1s\n"
    )
    log = demo / "devenv.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(python), "-m", "devenv", "start", "migrate", "--no-tui"],
            cwd=demo,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            text = log.read_text(errors="replace")
            if "migrate: schema is up to date" in text or "migrate  | -- crashed" in text:
                break
            time.sleep(0.2)
        text = log.read_text(errors="replace")
        assert "migrate: schema is up to date" in text, text[-3000:]
        assert "stub python3" not in text
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        cleanup(docker_client, project)
