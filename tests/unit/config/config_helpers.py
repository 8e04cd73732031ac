"""Small helpers for the config tests: write a project, load it, run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devenv.config import LoadOptions, Stack, load_stack

REPO = Path(__file__).resolve().parents[3]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def load(root: Path, env: dict[str, str] | None = None, **options: object) -> Stack:
    environ = {"HOME": str(root / "home"), "PATH": os.environ.get("PATH", ""), **(env or {})}
    return load_stack(LoadOptions(cwd=root, environ=environ, **options))  # type: ignore[arg-type]


def run_cli(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        "HOME": str(root / "home"),
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "devenv", *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
