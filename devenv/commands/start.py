"""`devenv start [SERVICE...]`: the stack, or these services and what they need."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

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

With -d/--detach the session runs in the background (its own output goes to
.devenv/session.log, services' logs to .devenv/logs/): the command returns
once every selected service is ready, or as soon as one fails. Then use
`devenv attach` (the UI), `devenv status`, `devenv logs`, `devenv restart`,
`devenv wait`, and `devenv stop` to end it.

When a session already runs for this project (started by `devenv` or
`devenv start -d` in another shell), `devenv start SERVICE...` starts those
services in that session and returns once they are ready, as -d does; on a
terminal without -d/--no-tui, `devenv` opens the UI on that session instead
(as `devenv attach`).

Exit status: 0 started (with -d or into a running session: every selected
service ready); 1 a service failed to start (the reason is printed), or the
stack could not be loaded; 2 --timeout ran out; 130 interrupted.

Tuning (environment): DEVENV_WATCH_QUIET_MS (10: a burst of file changes ends
after this much quiet), DEVENV_WATCH_BACKEND (auto: inotify on Linux, else
watchfiles; or inotify/watchfiles), DEVENV_WATCH_STEP_MS (10, watchfiles only),
DEVENV_LOG_LINES (10000 per unit in memory), DEVENV_LOG_MEMORY_MB (16 per unit
in memory), DEVENV_LOG_FILE_MB (10 per file in .devenv/logs/), DEVENV_LOG_FILES
(3 files kept per unit), DEVENV_CGROUP (auto: a cgroup per service where one can
be made, to find every process it starts; off, v1 or v2)."""


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
    parser.add_argument(
        "-d",
        "--detach",
        action="store_true",
        help="run the session in the background; return once the services are ready",
    )
    parser.add_argument(
        "--timeout",
        default=None,
        metavar="DURATION",
        help="with -d or a running session: give up waiting after this long "
        "(e.g. 90s, 5m; default: no limit); the session keeps running",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="with -d or a running session: print {pid, outcome, unit, reason, units} as JSON",
    )
    # The background process of `start -d` (not for users): headless, no log lines
    # on its own output, and it does not end when nothing runs.
    parser.add_argument("--detached-session", action="store_true", help=argparse.SUPPRESS)
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.args import timeout_of

    services: list[str] = list(getattr(args, "services", None) or [])
    detached_session = bool(getattr(args, "detached_session", False))
    if not detached_session:
        from devenv.control.oneshot import find_session
        from devenv.control.paths import state_dir_of

        running = find_session(state_dir_of(args))
        if running is not None:
            if not getattr(args, "detach", False) and _interactive(args):
                # `devenv` with a session already running: open the UI on it
                running.post("/v1/start", {"services": services}, timeout=None)
                from devenv.control.attach import run_attached

                return run_attached(running.path)
            from devenv.commands.background import start_in_session

            return start_in_session(
                running, services, timeout_of(args), getattr(args, "json", False)
            )

    from devenv.commands.common import load
    from devenv.config.stack.kinds import resolve_kinds
    from devenv.engine.supervisor import Engine, EngineOptions

    # The session holds the whole stack (so that `devenv start SERVICE` from
    # another shell, or `s` in the UI, can start any service in it later) and
    # starts the selection.
    stack = load(args)
    stack.select(services)  # SelectionError lists the valid names
    kinds = resolve_kinds(
        stack,
        local=getattr(args, "local", None) or (),
        container=getattr(args, "container", None) or (),
    )
    if getattr(args, "detach", False):
        from devenv.commands.background import start_detached

        state_dir = stack.project_dir / ".devenv"
        return start_detached(
            args, state_dir, services, timeout_of(args), getattr(args, "json", False)
        )
    options = EngineOptions.from_environ(os.environ)
    # edits to the stack's files apply live: the same files
    options.reload_stack = lambda: load(args)
    engine = Engine(stack, options, kinds)
    engine.claim()  # one session per project: SessionLocked names the one running

    from devenv.control.server import ControlServer

    def control() -> ControlServer:
        return ControlServer(engine, engine.state_dir, services=services)

    if not detached_session and _interactive(args):
        try:
            from devenv.tui.app import run_tui
        except ImportError as error:
            print(f"devenv: terminal UI not available ({error}); printing logs", file=sys.stderr)
        else:
            _terminate_like_interrupt()
            return run_tui(engine, services, around=control)
    import asyncio

    from devenv.commands.headless import run_headless

    async def session() -> int:
        async with control():
            return await run_headless(
                engine, services, stay=detached_session, log_lines=not detached_session
            )

    return asyncio.run(session())


def _interactive(args: argparse.Namespace) -> bool:
    """The terminal UI is wanted: a terminal, and no --no-tui."""
    return not getattr(args, "no_tui", False) and sys.stdin.isatty() and sys.stdout.isatty()


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
