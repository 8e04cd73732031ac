"""`devenv start [SERVICE...]`: the stack, or these services and what they need."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from devenv.errors import DevenvError

DESCRIPTION = """\
Start the named services and everything they depend on (all services when none
is named). On a terminal this opens the UI; with --no-tui, or when output is
not a terminal, logs are printed as `service | line`. Ctrl-C stops everything,
dependents first; a second Ctrl-C kills at once.

A service with both an x-devenv block and an image (or build) runs locally
unless `x-devenv.mode: container` or --container says otherwise; --local and
--container choose per service (and the UI's `m` flips one live). Addresses in
each service's environment follow: `db:5432` becomes 127.0.0.1 and the port
published (or listened on locally), see `devenv config --resolved`.

Edits to the compose files, their env files and .env apply while it runs: the
services whose definition changed restart; an invalid edit is shown and the
running stack kept.

Tuning (environment): DEVENV_WATCH_QUIET_MS (10: a burst of file changes ends
after this much quiet), DEVENV_WATCH_BACKEND (auto: inotify on Linux, else
watchfiles; or inotify/watchfiles), DEVENV_WATCH_STEP_MS (10, watchfiles only),
DEVENV_LOG_LINES (10000 per unit in memory), DEVENV_LOG_FILE_MB (10 per file in
.devenv/logs/)."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "start",
        help="start the stack (or SERVICE... and their dependencies)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="services to start")
    parser.add_argument(
        "--no-tui", action="store_true", help="print logs instead of opening the terminal UI"
    )
    parser.add_argument(
        "--local",
        action="append",
        default=[],
        metavar="SERVICE",
        help="run SERVICE as a local process (its x-devenv block); repeatable",
    )
    parser.add_argument(
        "--container",
        action="append",
        default=[],
        metavar="SERVICE",
        help="run SERVICE as a container (its image or build); repeatable",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.common import load
    from devenv.config.stack.kinds import resolve_kinds
    from devenv.engine.statefile import running_pid
    from devenv.engine.supervisor import Engine, EngineOptions

    services: list[str] = list(getattr(args, "services", None) or [])
    stack = load(args).select(services)  # SelectionError lists the valid names
    kinds = resolve_kinds(
        stack,
        local=getattr(args, "local", None) or (),
        container=getattr(args, "container", None) or (),
    )
    options = EngineOptions.from_environ(os.environ)
    # edits to the stack's files apply live: the same files, the same selection
    options.reload_stack = lambda: load(args).select(services)
    engine = Engine(stack, options, kinds)
    other = running_pid(engine.state_dir)
    if other is not None:
        raise DevenvError(
            f"devenv is already running for this project (pid {other})",
            hint="use `devenv stop` first, or `devenv status` to see it",
        )
    if not getattr(args, "no_tui", False) and sys.stdin.isatty() and sys.stdout.isatty():
        try:
            from devenv.tui.app import run_tui
        except ImportError as error:
            print(f"devenv: terminal UI not available ({error}); printing logs", file=sys.stderr)
        else:
            _terminate_like_interrupt()
            return run_tui(engine, services)
    import asyncio

    from devenv.commands.headless import run_headless

    return asyncio.run(run_headless(engine, services))


def _terminate_like_interrupt() -> None:
    """`devenv stop` (SIGTERM) or a closed terminal (SIGHUP) end the UI the way an
    interrupt does: its loop is cancelled and the engine stops everything in
    order, instead of the process dying at once and leaving the cleanup to the
    orphan guard's SIGKILL."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        signal.raise_signal(signal.SIGINT)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
