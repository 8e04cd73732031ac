"""`devenv config`: the resolved stack, as devenv (and Compose) understands it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DESCRIPTION = """\
Load the Compose files and x-devenv blocks, resolve them (interpolation, merging,
include, extends, profiles) and validate them, then print the result.

The default output is YAML; --json prints the shape of
`docker compose config --format json` (plus each service's x-devenv block,
which docker compose drops from its JSON). --resolved prints each service's
environment where it runs instead: Compose-style addresses of other services
rewritten to where those run (127.0.0.1:<published port> from a local process,
host.docker.internal:<port> from a container), each rewrite as
`VAR: before -> after`. Nothing is started."""

EPILOG = """\
examples:
  devenv config                 the resolved stack as YAML
  devenv config --json          the same as JSON
  devenv config --services      one service name per line
  devenv config api             api and everything it depends on
  devenv config --resolved      every service's environment where it runs
  devenv config --resolved --container api --local worker
                                ...with api as a container and worker local
  devenv config -f a.yaml -f b.yaml --profile debug"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "config",
        help="check the configuration and print the resolved stack",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print JSON in the shape of `docker compose config --format json`",
    )
    output.add_argument(
        "--services",
        dest="list_services",
        action="store_true",
        help="print the service names, one per line",
    )
    output.add_argument(
        "-q", "--quiet", action="store_true", help="only validate; print nothing on success"
    )
    parser.add_argument(
        "--resolved",
        action="store_true",
        help="print each service's environment where it runs, with every address "
        "rewrite (VAR: before -> after); with --json, as JSON",
    )
    parser.add_argument(
        "--local",
        action="append",
        default=[],
        metavar="SERVICE",
        help="with --resolved: run SERVICE as a local process (repeatable; implies --resolved)",
    )
    parser.add_argument(
        "--container",
        action="append",
        default=[],
        metavar="SERVICE",
        help="with --resolved: run SERVICE as a container (repeatable; implies --resolved)",
    )
    parser.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help="show only these services and what they depend on (enabled even when their "
        "profile is not, as in docker compose)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.common import load

    whole = load(args)
    stack = whole.select(args.services)  # SelectionError lists the valid names
    for warning in stack.warnings:
        print(f"devenv: warning: {warning}", file=sys.stderr)
    if args.quiet:
        return 0
    if args.list_services:
        for name in stack.services:
            print(name)
        return 0
    if args.resolved or args.local or args.container:
        return _resolved(args, whole, list(stack.services))
    from devenv.config.render import render_stack

    data = render_stack(stack)
    if args.json:
        import json

        print(json.dumps(data, indent=2))
        return 0
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    sys.stdout.write(yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True))
    return 0


def _resolved(args: argparse.Namespace, whole: Any, names: list[str]) -> int:
    from devenv.config.render import format_resolved, render_resolved
    from devenv.config.stack.kinds import resolve_kinds

    kinds = resolve_kinds(whole, local=args.local, container=args.container)
    data = render_resolved(whole, kinds, names)
    if args.json:
        import json

        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write(format_resolved(data))
    return 0
