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
which docker compose drops from its JSON). Nothing is started."""

EPILOG = """\
examples:
  devenv config                 the resolved stack as YAML
  devenv config --json          the same as JSON
  devenv config --services      one service name per line
  devenv config api             api and everything it depends on
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
        "services",
        nargs="*",
        metavar="SERVICE",
        help="show only these services and what they depend on (enabled even when their "
        "profile is not, as in docker compose)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from devenv.commands.common import load

    stack = load(args).select(args.services)  # SelectionError lists the valid names
    for warning in stack.warnings:
        print(f"devenv: warning: {warning}", file=sys.stderr)
    if args.quiet:
        return 0
    if args.list_services:
        for name in stack.services:
            print(name)
        return 0
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
