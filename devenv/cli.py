"""`devenv` — the command line. Parsing only; each subcommand lives in
`devenv.commands.<name>` and imports heavy libraries when it runs, not here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from devenv import __version__
from devenv.errors import DevenvError

COMMANDS = (
    "start",
    "attach",
    "stop",
    "restart",
    "wait",
    "status",
    "logs",
    "mcp",
    "down",
    "config",
    "init",
    "doctor",
)

DESCRIPTION = """\
A local development environment: infrastructure in containers, your services
as local processes with hot reload, all in one terminal.

With no command, `devenv` is `devenv start`: it opens the terminal UI on the
whole stack (or prints logs when there is no terminal). `devenv start -d` runs
the session in the background; `devenv attach`, `restart`, `stop SERVICE`,
`wait`, `status`, `logs` and `mcp` talk to the running session through its
control socket (.devenv/control.sock).

Exit status (every command; each one's --help says which apply):
  0    done
  1    failed: a service failed (named, with the reason), bad input, an error
  2    bad usage; for `wait` and `start -d --timeout`, the timeout ran out
  3    no devenv session is running for this project (commands that need one)
  130  interrupted (Ctrl-C)"""


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"devenv.commands.{name}")


def add_project_options(parser: argparse.ArgumentParser, *, top_level: bool = True) -> None:
    """Options that say where the stack is, accepted before or after the subcommand.

    A subcommand's copy uses SUPPRESS as default so that it does not overwrite
    what was given before the subcommand."""
    none: object = None if top_level else argparse.SUPPRESS
    group = parser.add_argument_group("project")
    group.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=none,
        metavar="FILE",
        help="Compose file (repeatable; default: COMPOSE_FILE, else compose.yaml "
        "or docker-compose.yml here or in a parent directory)",
    )
    group.add_argument(
        "-p",
        "--project-name",
        dest="project_name",
        default=none,
        metavar="NAME",
        help="project name (default: COMPOSE_PROJECT_NAME, `name:`, else the directory)",
    )
    group.add_argument(
        "--env-file",
        dest="env_file",
        default=none,
        metavar="PATH",
        help="file of variables for interpolation (default: .env in the project directory)",
    )
    group.add_argument(
        "--project-directory",
        dest="project_directory",
        default=none,
        metavar="PATH",
        help="the project directory: relative paths in the Compose files, .env and the "
        "default project name go by it (default: the directory of the first Compose file)",
    )
    group.add_argument(
        "--profile",
        dest="profiles",
        action="append",
        default=none,
        metavar="NAME",
        help="enable a Compose profile (repeatable; default: COMPOSE_PROFILES; the profile "
        "named devenv is always enabled)",
    )


_VALUED = frozenset({"-f", "--file", "-p", "--project-name", "--env-file", "--profile"})


def command_named(args: Sequence[str]) -> str | None:
    """The subcommand on this command line, if it names one (options before it
    and their values skipped), so that only its module is imported and its
    parser built: `devenv status` then costs little more than Python's start-up."""
    skip = False
    for token in args:
        if skip:
            skip = False
        elif token in _VALUED:
            skip = True
        elif not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devenv",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"devenv {__version__}")
    add_project_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        module = _command_module(name)
        sub_parser = module.add_parser(sub)
        add_project_options(sub_parser, top_level=False)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_named(args_list))
    args = parser.parse_args(args_list)
    if args.command is None:
        args = build_parser("start").parse_args([*args_list, "start"])
    module: ModuleType = args._module
    try:
        result: int = module.run(args)
    except DevenvError as error:
        print(f"devenv: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
