"""`devenv status`: what the running session of this project is doing, asked
through its control socket. With no session running it says so, and shows the
last state the previous session wrote to `.devenv/status.json`.

Exit status: 0 a session is running; 3 none is running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show the state of the running stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print {running, pid, project, session, units} as JSON (secret values masked)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.control.oneshot import NO_SESSION_EXIT, find_session, no_session
    from devenv.control.paths import state_dir_of

    state_dir = state_dir_of(args)
    session = find_session(state_dir)
    as_json = getattr(args, "json", False)
    if session is None:
        from devenv.engine.statefile import read_status

        data = read_status(state_dir) or {}
        last = data.get("units") or []
        if as_json:
            print(json.dumps({"running": False, "pid": None, "units": last}, indent=1))
            return NO_SESSION_EXIT
        print(no_session().message.replace("no devenv session is running", "devenv is not running"))
        if last:
            print("last known state:")
            print(format_table(last))
        return NO_SESSION_EXIT
    info = session.get("/v1/session")
    units = [_masked(unit, info.get("secrets") or []) for unit in info["units"]]
    if as_json:
        document = {
            "running": True,
            "pid": info["pid"],
            "project": info["project"],
            "session": info["status"],
            "units": units,
        }
        json.dump(document, sys.stdout, indent=1)
        print()
        return 0
    status = info["status"]
    line = f"devenv is running (pid {info['pid']})"
    if status.get("docker") == "unreachable":
        line += f"; Docker unreachable: {status.get('docker_detail')}"
    if status.get("config_error"):
        line += f"; config not reloaded: {status['config_error']}"
    if status.get("stopping"):
        line += "; stopping"
    print(line)
    print(format_table(units))
    return 0


def _masked(unit: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    if not secrets or not unit.get("environment"):
        return unit
    from devenv.secrets import SecretMasker

    masker = SecretMasker(secrets)
    env = [[key, masker.mask(value)] for key, value in unit["environment"]]
    return {**unit, "environment": env}


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
