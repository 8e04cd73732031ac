"""`devenv stop`: stop the devenv running for this project (it stops its services
in reverse dependency order, as on Ctrl-C)."""

from __future__ import annotations

import argparse
import os
import signal
import time
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "stop", help="stop the running stack", description=__doc__
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for an orderly stop before killing (default 60)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.status import state_dir_of
    from devenv.engine.statefile import running_pid

    state_dir = state_dir_of(args)
    pid = running_pid(state_dir)
    if pid is None:
        print("devenv is not running for this project")
        return 0
    print(f"stopping devenv (pid {pid})…", flush=True)
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, args.timeout):
        print("stopped")
        return 0
    print(f"still running after {args.timeout:g}s; killing it (its guard cleans up)")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return 0
    _wait_gone(pid, 5.0)
    return 1


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie of our own is gone for our purposes
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False
