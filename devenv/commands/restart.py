"""`devenv restart [SERVICE...]`: restart services (all when none is named) in the
running session; returns once each new instance is launched (`devenv wait`
then waits until it is ready). Services that depend on them with
`restart: true` restart too.

Exit status: 0 restarted; 1 a name is unknown or the restart failed; 3 no
session is running.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "restart",
        help="restart services in the running session",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: all")
    parser.add_argument("--json", action="store_true", help="print the new instances as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.control.oneshot import connect

    session = connect(args)
    answer = session.post("/v1/restart", {"units": list(args.services or [])}, timeout=None)
    if getattr(args, "json", False):
        print(json.dumps(answer))
        return 0
    for unit in answer["units"]:
        pid = f" (pid {unit['pid']})" if unit.get("pid") else ""
        detail = f": {unit['detail']}" if unit["state"] == "failed" else ""
        print(f"restarted {unit['name']}{pid}, {unit['state']}{detail}")
    return 1 if any(u["state"] == "failed" for u in answer["units"]) else 0
