"""`devenv stop [SERVICE...]`: with services, stop them (and what depends on them)
in the running session, which keeps running; without, stop the session itself
(its services stop in reverse dependency order, as on Ctrl-C).

Exit status: 0 stopped (or, without services, nothing was running); 1 a name
is unknown, or the session did not end within --timeout and was killed; 3 no
session is running (with services).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "stop",
        help="stop services in the running session, or the session itself",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: the session")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the session to stop in order before killing it (default 60)",
    )
    parser.add_argument("--json", action="store_true", help="print the stopped units as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.control.paths import state_dir_of

    services: list[str] = list(getattr(args, "services", None) or [])
    if services:
        from devenv.control.oneshot import connect

        answer = connect(args).post("/v1/stop", {"units": services}, timeout=None)
        if getattr(args, "json", False):
            print(json.dumps(answer))
        else:
            print(f"stopped {', '.join(answer['units'])}")
        return 0

    from devenv.control.oneshot import find_session, live_pid

    state_dir = state_dir_of(args)
    session = find_session(state_dir)
    if session is not None:
        # The session says who it is: no signal to a pid a stale file names
        pid = int(session.post("/v1/shutdown", {"force": False})["pid"])
        print(f"stopping devenv (pid {pid})…", flush=True)
    else:
        found = live_pid(state_dir)
        if found is None or not _is_devenv(found):
            print("devenv is not running for this project")
            return 0
        pid = found
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


def _is_devenv(pid: int) -> bool:
    """Whether `pid` still runs devenv (a pid file can outlive its process, and the
    pid be given to another)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"devenv" in f.read()
    except OSError:
        return not os.path.isdir("/proc")


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
