"""`devenv start`."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser("start", help="(not yet built)")
    return parser


def run(args: argparse.Namespace) -> int:
    print("devenv start: not built yet")
    return 2
