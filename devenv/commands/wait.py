"""`devenv wait [SERVICE...]`: wait until these services (default: those the
session was started with) are ready, or completed for one-shot tasks. Ends as
soon as one fails, or one is left waiting on a dependency that failed.

Exit status: 0 ready; 1 one failed (named, with the reason), or a name is
unknown; 2 the timeout ran out (the one still not ready is named); 3 no
session is running.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "wait",
        help="wait until services are ready",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: the session's")
    parser.add_argument(
        "--timeout",
        default="60s",
        metavar="DURATION",
        help="give up after this long: 90s, 5m, 1h30m (default 60s; 0: no limit)",
    )
    parser.add_argument("--json", action="store_true", help="print {outcome, unit, reason} as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.args import timeout_of
    from devenv.control.oneshot import connect

    timeout = timeout_of(args)
    session = connect(args)
    try:
        result = session.post(
            "/v1/wait", {"units": list(args.services or []), "timeout": timeout}, timeout=None
        )
    except KeyboardInterrupt:
        return 130
    outcome = result["outcome"]
    reason = result["reason"].rstrip(": ")
    if getattr(args, "json", False):
        print(json.dumps({k: result[k] for k in ("outcome", "unit", "reason")}))
    elif outcome == "ready":
        print("ready")
    elif outcome == "failed":
        print(f"devenv: {result['unit']} failed: {reason}", file=sys.stderr)
    else:
        print(
            f"devenv: timed out after {args.timeout}: {result['unit']} is {reason}",
            file=sys.stderr,
        )
    return {"ready": 0, "failed": 1}.get(outcome, 2)
