"""`devenv attach`: open the terminal UI on the session running in the background
(`devenv start -d`) or in another terminal. It shows and controls the same
session: several terminals can attach at once and see the same state. `q`
detaches (the stack keeps running); `devenv stop` ends the session.

`--web` serves the same UI to a browser on 127.0.0.1 (textual-serve), at a URL
with a random token; only a browser that opened that URL gets in. Ctrl-C stops
serving (the session keeps running).

Exit status: 0 detached; 1 an error; 3 no session is running.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "attach",
        help="open the terminal UI on the running session",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--web", action="store_true", help="serve the UI to a browser on 127.0.0.1 instead"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="PORT",
        help="with --web: the port on 127.0.0.1 (default: a free one)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.control.oneshot import connect

    session = connect(args)  # no session: one line saying how to start one
    if args.web:
        from devenv.control.web import serve_web

        return serve_web(args, port=args.port)
    from devenv.control.attach import run_attached

    return run_attached(session.path)
