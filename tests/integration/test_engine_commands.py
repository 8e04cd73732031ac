"""`devenv status`, `devenv logs` and `devenv stop` against a real running devenv."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from engine_support import hang_guard  # noqa: F401 (autouse fixture)
from test_engine_cli import devenv, wait_for

PY = sys.executable


def cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "devenv", *args], cwd=directory, capture_output=True, text=True, timeout=30
    )


def test_status_logs_and_stop(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            services:
              api:
                x-devenv:
                  run: {PY} -c "import time; print('api says hi', flush=True); time.sleep(300)"
              worker:
                x-devenv:
                  run: {PY} -c "import time; print('worker says hi', flush=True); time.sleep(300)"
            """
        )
    )
    proc = devenv(tmp_path, "start", "--no-tui")
    try:
        log_dir = tmp_path / ".devenv" / "logs"
        wait_for(
            lambda: (
                "worker says hi" in _read(log_dir / "worker.log")
                and "api says hi" in _read(log_dir / "api.log")
            ),
            20,
            "both services' logs",
        )
        wait_for(lambda: '"ready"' in _read(tmp_path / ".devenv" / "status.json"), 10, "status")
        status = cli(tmp_path, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"devenv is running (pid {proc.pid})" in status.stdout
        assert any(
            line.startswith("api ") and " ready " in line for line in status.stdout.splitlines()
        )

        logs = cli(tmp_path, "logs")
        assert "api    | api says hi" in logs.stdout and "worker | worker says hi" in logs.stdout
        only = cli(tmp_path, "logs", "worker", "--timestamps")
        assert "api says hi" not in only.stdout and "worker | worker says hi" in only.stdout
        unknown = cli(tmp_path, "logs", "nope")
        assert unknown.returncode != 0 and "no service named 'nope'" in unknown.stderr

        stop = cli(tmp_path, "stop")
        assert stop.returncode == 0 and "stopped" in stop.stdout
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = cli(tmp_path, "status")
    assert after.returncode == 3 and "not running" in after.stdout
    assert "stopped" in after.stdout


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
