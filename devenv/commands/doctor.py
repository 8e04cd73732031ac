"""`devenv doctor`."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser("doctor", help="(not yet built)")
    return parser


def run(args: argparse.Namespace) -> int:
    print("devenv doctor: not built yet")
    return 2
