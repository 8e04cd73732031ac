"""`devenv logs [SERVICE...]`: the logs devenv keeps in `.devenv/logs/`.

Lines of several units are merged by time. `--follow` keeps following the
files as the running devenv appends to them (also across a rotation).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "logs", help="show services' logs", description=__doc__
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: all")
    # -f is --file (the Compose file) everywhere, as in `docker compose -f`
    parser.add_argument("--follow", action="store_true", help="keep printing new lines")
    parser.add_argument(
        "-n", "--tail", type=int, default=None, metavar="N", help="only the last N lines"
    )
    parser.add_argument("-t", "--timestamps", action="store_true", help="show the time of lines")
    return parser


def unit_files(log_dir: Path, services: list[str]) -> dict[str, Path]:
    """unit name -> current log file, for these services (all when empty)."""
    found: dict[str, Path] = {}
    if not log_dir.is_dir():
        return found
    for path in sorted(log_dir.glob("*.log")):
        unit = path.name[: -len(".log")]
        if not services or any(
            unit == s or re.fullmatch(re.escape(s) + r"-\d+", unit) for s in services
        ):
            found[unit] = path
    return found


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # `devenv logs | head`: the reader is done
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    from devenv.commands.common import load
    from devenv.engine.logs import parse_file_line

    stack = load(args)
    services: list[str] = list(args.services or [])
    for name in services:
        stack.service(name)  # SelectionError for unknown names
    log_dir = stack.project_dir / ".devenv" / "logs"
    files = unit_files(log_dir, services)
    if not files and not args.follow:
        print("no logs yet (devenv writes them to .devenv/logs/ while it runs)", file=sys.stderr)
        return 0
    width = max([len(u) for u in files] + [1])
    entries: list[tuple[str, int, str, str]] = []
    for order, (unit, path) in enumerate(files.items()):
        for line in _read_lines(path.with_name(path.name + ".1"), path):
            parsed = parse_file_line(line)
            if parsed:
                entries.append((parsed[0], order, unit, _format(unit, parsed, width, args)))
    entries.sort(key=lambda e: (e[0], e[1]))
    if args.tail is not None:
        entries = entries[-args.tail :] if args.tail > 0 else []
    out = sys.stdout
    for entry in entries:
        out.write(entry[3])
    out.flush()
    if args.follow:
        try:
            _follow(log_dir, services, args, {u: p.stat().st_size for u, p in files.items()})
        except KeyboardInterrupt:
            return 0
    return 0


def _format(unit: str, parsed: tuple[str, str, str], width: int, args: Any) -> str:
    stamp, _, text = parsed
    prefix = f"{unit:<{width}} | "
    if args.timestamps:
        prefix = f"{stamp.replace('T', ' ')} {prefix}"
    return prefix + text + "\n"


def _read_lines(*paths: Path) -> Iterator[str]:
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                yield from f
        except OSError:
            continue


def _follow(log_dir: Path, services: list[str], args: Any, offsets: dict[str, int]) -> None:
    from devenv.engine.logs import parse_file_line

    inodes: dict[str, int] = {}
    width = max([len(u) for u in offsets] + [1])
    while True:
        files = unit_files(log_dir, services)
        wrote = False
        for unit, path in files.items():
            try:
                stat = path.stat()
            except OSError:
                continue
            offset = offsets.get(unit, 0)
            if inodes.get(unit, stat.st_ino) != stat.st_ino or stat.st_size < offset:
                offset = 0  # rotated: the new file is read from its start
            inodes[unit] = stat.st_ino
            if stat.st_size == offset:
                continue
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            offsets[unit] = offset + end
            width = max(width, len(unit))
            for line in data[:end].decode("utf-8", "replace").splitlines():
                parsed = parse_file_line(line)
                if parsed:
                    sys.stdout.write(_format(unit, parsed, width, args))
                    wrote = True
        if wrote:
            sys.stdout.flush()
        time.sleep(0.2)
