"""`devenv mcp`: a Model Context Protocol server on stdin/stdout, for coding
agents (Claude Code, Cursor, ...). It talks to the devenv session running for
this project (started with `devenv start -d` or `devenv`): tools to list the
services with state, health, ports and mode; read a service's logs (bounded,
with since/grep); restart, stop and start services; wait until they are ready;
and ask why one failed. Secret values are masked in everything it returns.

When no session runs, each tool says so and how to start one. Add it to an
agent's MCP configuration as the command `devenv mcp`, run in the project's
directory (or with `-f path/to/compose.yaml`); see the README.

Exit status: 0 when the client closes the connection.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "mcp",
        help="serve the running session to coding agents (MCP over stdio)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.control.mcp_tools import serve

    return serve(args)
