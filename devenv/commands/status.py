"""`devenv status`: what the running devenv of this project is doing.

Reads `.devenv/status.json`, which the engine rewrites shortly after every
state change; it does not talk to Docker or the processes itself.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "status", help="show the state of the running stack", description=__doc__
    )
    parser.add_argument("--json", action="store_true", help="print the raw status as JSON")
    return parser


def state_dir_of(args: argparse.Namespace) -> Path:
    from devenv.commands.common import load

    return load(args).project_dir / ".devenv"


def run(args: argparse.Namespace) -> int:
    from devenv.engine.statefile import read_status, running_pid

    state_dir = state_dir_of(args)
    pid = running_pid(state_dir)
    data = read_status(state_dir)
    if getattr(args, "json", False):
        print(json.dumps({"running": pid is not None, "pid": pid, "status": data}, indent=1))
        return 0 if pid is not None else 1
    if pid is None:
        print("devenv is not running for this project")
        if data and data.get("units"):
            print("last known state:")
            print(format_table(data["units"]))
        return 1
    print(f"devenv is running (pid {pid})")
    if data:
        print(format_table(data.get("units", [])))
    return 0


def format_table(units: list[dict[str, Any]]) -> str:
    header = ("UNIT", "STATE", "PID", "PORTS", "RESTARTS", "UPTIME", "DETAIL")
    rows = [header]
    now = time.time()
    for unit in units:
        started = unit.get("started_at")
        running = unit.get("state") in ("starting", "ready", "unhealthy")
        uptime = _duration(now - started) if started and running else "-"
        rows.append(
            (
                str(unit.get("name", "?")),
                str(unit.get("state", "?")),
                str(unit.get("pid") or "-"),
                ",".join(str(p) for p in unit.get("ports") or []) or "-",
                str(unit.get("restarts", 0)),
                uptime,
                str(unit.get("detail") or ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
