"""`.devenv/devenv.pid` and `.devenv/status.json`: what `devenv status/stop` read.

Written atomically (temp file + rename) so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PID_FILE = "devenv.pid"
STATUS_FILE = "status.json"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_status(state_dir: Path, data: dict[str, Any]) -> None:
    write_atomic(state_dir / STATUS_FILE, json.dumps(data, indent=1))


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def write_pid(state_dir: Path) -> None:
    write_atomic(state_dir / PID_FILE, f"{os.getpid()}\n")
    ignore = state_dir / ".gitignore"
    if not ignore.exists():  # runtime state, never to be committed
        ignore.write_text("*\n")


def remove_pid(state_dir: Path) -> None:
    path = state_dir / PID_FILE
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def running_pid(state_dir: Path) -> int | None:
    """The pid of the devenv session running on this project, or None: whoever
    holds the session lock (devenv.engine.lock), not what a pid file says."""
    from devenv.engine.lock import holder

    return holder(state_dir)
