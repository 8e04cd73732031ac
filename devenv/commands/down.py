"""`devenv down`: remove the project's containers and network; volumes only when asked.

Removing volumes deletes data (a database's), so `--volumes` asks first on a
terminal and, without one, needs `--yes`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from devenv.errors import DevenvError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "down",
        help="remove the project's containers and network (volumes are kept)",
        description="Stop and remove the project's containers and its network. Volumes, "
        "and the data in them, are kept unless --volumes is given.",
    )
    parser.add_argument(
        "-v",
        "--volumes",
        action="store_true",
        help="also remove the project's volumes (their data is lost); asks first",
    )
    parser.add_argument(
        "-y", "--yes", action="store_true", help="do not ask before removing volumes"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.common import load
    from devenv.runtime.docker_connect import connect
    from devenv.runtime.docker_project import down, project_volumes

    stack = load(args)
    refuse_while_running(stack.project_dir / ".devenv")
    if args.volumes and not args.yes:
        volumes = project_volumes(connect(), stack)
        if volumes and not confirm(volumes):
            print("devenv down: nothing removed")
            return 1
    result = down(stack, remove_volumes=args.volumes, on_step=lambda text: print(f"  {text}"))
    if not (result.containers or result.networks or result.volumes):
        print(f"devenv down: nothing to remove for project {stack.name}")
    else:
        kept = "" if args.volumes else " (volumes kept; --volumes removes them)"
        print(
            f"devenv down: removed {len(result.containers)} container(s), "
            f"{len(result.networks)} network(s), {len(result.volumes)} volume(s){kept}"
        )
    return 0


def refuse_while_running(state_dir: Path) -> None:
    """A running devenv would see its containers vanish and restart them."""
    from devenv.engine.statefile import running_pid

    pid = running_pid(state_dir)
    if pid is not None:
        raise DevenvError(
            f"devenv is running for this project (pid {pid})",
            hint="quit it first (q in the UI, Ctrl-C, or `devenv stop`), then `devenv down`",
        )


def confirm(volumes: list[str]) -> bool:
    if not sys.stdin.isatty():
        raise DevenvError(
            f"--volumes would delete {', '.join(volumes)} and there is no terminal to ask",
            hint="pass --yes to confirm: devenv down --volumes --yes",
        )
    print(f"This deletes the volumes {', '.join(volumes)} and all data in them.")
    try:
        answer = input("Remove them? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
