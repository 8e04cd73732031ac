"""`devenv start -d`, and `devenv start SERVICE...` into a session that already
runs: start, then wait until the services are ready (or one failed) and say how
to go on."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devenv.control.oneshot import Session, find_session

SESSION_LOG = "session.log"
SOCKET_WAIT = 60.0  # seconds for the background session to open its socket


def start_in_session(
    session: Session, services: Sequence[str], timeout: float | None, as_json: bool = False
) -> int:
    answer = session.post("/v1/start", {"services": list(services)}, timeout=None)
    info = session.get("/v1/session")
    names = ", ".join(answer.get("services") or []) or "every service"
    if not as_json:
        print(f"devenv is already running for this project (pid {info['pid']}): starting {names}")
    return wait_and_report(session, list(services), timeout, as_json, info["pid"])


def start_detached(
    args: argparse.Namespace,
    state_dir: Path,
    services: Sequence[str],
    timeout: float | None,
    as_json: bool = False,
) -> int:
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / SESSION_LOG
    argv = [
        sys.executable,
        "-m",
        "devenv",
        *project_argv(args),
        "start",
        "--no-tui",
        "--detached-session",
        *mode_argv(args),
        *services,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no terminal: closing this shell does not end it
            close_fds=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
    session = _wait_for_socket(proc, state_dir, log_path)
    if session is None:
        return 1
    if not as_json:
        print(f"devenv is running in the background (pid {proc.pid}); its output: {log_path}")
    return wait_and_report(session, list(services), timeout, as_json, proc.pid)


def project_argv(args: argparse.Namespace) -> list[str]:
    """The options that name the project, for a child `devenv` in the same cwd."""
    argv: list[str] = []
    for file in getattr(args, "files", None) or ():
        argv += ["-f", os.path.abspath(file)]
    if getattr(args, "project_name", None):
        argv += ["-p", args.project_name]
    if getattr(args, "env_file", None):
        argv += ["--env-file", os.path.abspath(args.env_file)]
    for profile in getattr(args, "profiles", None) or ():
        argv += ["--profile", profile]
    if getattr(args, "project_directory", None):
        argv += ["--project-directory", os.path.abspath(args.project_directory)]
    return argv


def mode_argv(args: argparse.Namespace) -> list[str]:
    """`start`'s --local/--container choices, for the background session."""
    argv: list[str] = []
    for name in getattr(args, "local", None) or ():
        argv += ["--local", name]
    for name in getattr(args, "container", None) or ():
        argv += ["--container", name]
    return argv


def _wait_for_socket(proc: subprocess.Popen[bytes], state_dir: Path, log: Path) -> Session | None:
    deadline = time.monotonic() + SOCKET_WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(
                f"devenv: the background session ended at once (exit {proc.returncode}):",
                file=sys.stderr,
            )
            print(_tail(log), file=sys.stderr)
            return None
        session = find_session(state_dir, remove_stale=False)  # the child binds its own
        if session is not None:
            return session
        time.sleep(0.02)
    print(
        f"devenv: the background session (pid {proc.pid}) did not open its control socket "
        f"within {SOCKET_WAIT:g}s; see {log}",
        file=sys.stderr,
    )
    return None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def wait_and_report(
    session: Session,
    services: list[str],
    timeout: float | None,
    as_json: bool = False,
    pid: int | None = None,
) -> int:
    """Wait until `services` (all the session started, when empty) are ready;
    print one line per unit, the outcome and what to do next (or, as JSON,
    {pid, outcome, unit, reason, units}). Exit status: 0 ready, 1 failed, 2
    timed out."""
    try:
        result = session.post("/v1/wait", {"units": services, "timeout": timeout}, timeout=None)
    except KeyboardInterrupt:
        print("\nstopped waiting; the session keeps running (`devenv stop` ends it)")
        return 130
    units = session.get("/v1/units")
    shown = _units_of(units, services, session)
    outcome = result["outcome"]
    if as_json:
        brief = [
            {k: u.get(k) for k in ("name", "service", "state", "pid", "ports", "detail")}
            for u in shown
        ]
        document = {"pid": pid, **{k: result[k] for k in ("outcome", "unit", "reason")}}
        print(json.dumps({**document, "units": brief}))
        return {"ready": 0, "failed": 1}.get(outcome, 2)
    print(unit_lines(shown))
    if outcome == "ready":
        print("\nready. `devenv attach` opens the UI, `devenv logs -f` follows the logs,")
        print("`devenv restart SERVICE` restarts one, `devenv stop` stops the session.")
        return 0
    if outcome == "failed":
        print(
            f"\ndevenv: {result['unit']} failed: {result['reason'].rstrip(': ')}\n"
            f"  hint: `devenv logs {result['unit']}` shows its output; the session keeps "
            "running (`devenv stop` ends it)",
            file=sys.stderr,
        )
        return 1
    print(
        f"\ndevenv: timed out waiting for {result['unit']} ({result['reason'].rstrip(': ')}); "
        "the session keeps running",
        file=sys.stderr,
    )
    return 2


def _units_of(
    units: list[dict[str, Any]], services: list[str], session: Session
) -> list[dict[str, Any]]:
    if not services:
        started = set(session.get("/v1/session").get("services") or [])
        return [
            u for u in units if not started or u["service"] in started or u["state"] != "pending"
        ]
    return [u for u in units if u["service"] in services or u["name"] in services]


def unit_lines(units: list[dict[str, Any]]) -> str:
    width = max((len(u["name"]) for u in units), default=4)
    lines = []
    for unit in units:
        parts = [f"  {unit['name']:<{width}}  {unit['state']:<9}"]
        if unit.get("pid"):
            parts.append(f"pid {unit['pid']}")
        if unit.get("ports"):
            parts.append(" ".join(f"http://127.0.0.1:{p}" for p in unit["ports"]))
        if unit.get("detail") and unit["state"] not in ("ready", "starting"):
            parts.append(unit["detail"])
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
