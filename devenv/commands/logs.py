"""`devenv logs [SERVICE...]`: the logs devenv keeps in `.devenv/logs/`.

A unit's log is its rotated files, oldest first (`<unit>.log.2`, `.log.1`,
then `<unit>.log`); lines of several units are merged by time. `--follow`
keeps following the files as the running devenv appends to them, across
rotations too.
"""

from __future__ import annotations

import argparse
import collections
import heapq
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
    """unit name -> its current log file (which may be rotated away for now),
    for these services (all when empty)."""
    found: dict[str, Path] = {}
    if not log_dir.is_dir():
        return found
    for path in sorted(log_dir.iterdir()):
        unit, dot, rest = path.name.partition(".log")
        if not dot or (rest and not (rest[:1] == "." and rest[1:].isdigit())):
            continue
        if not services or any(
            unit == s or re.fullmatch(re.escape(s) + r"-\d+", unit) for s in services
        ):
            found[unit] = log_dir / f"{unit}.log"
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
    offsets = {unit: _position(path) for unit, path in files.items()}
    streams = [
        _entries(unit, order, path, width, args) for order, (unit, path) in enumerate(files.items())
    ]
    merged: Iterator[tuple[str, int, str]] = heapq.merge(*streams)
    if args.tail is not None:
        merged = iter(collections.deque(merged, maxlen=max(args.tail, 0)))
    out = sys.stdout
    for entry in merged:
        out.write(entry[2])
    out.flush()
    if args.follow:
        try:
            _follow(log_dir, services, args, offsets)
        except KeyboardInterrupt:
            return 0
    return 0


def _entries(
    unit: str, order: int, current: Path, width: int, args: Any
) -> Iterator[tuple[str, int, str]]:
    """(time, order, printed line) of every line of a unit's files, oldest first:
    one stream per unit, for a merge that holds one line per unit at a time."""
    from devenv.engine.logs import file_paths, parse_file_line

    for path in file_paths(current):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parsed = parse_file_line(line)
                    if parsed:
                        yield parsed[0], order, _format(unit, parsed, width, args)
        except OSError:
            continue


def _format(unit: str, parsed: tuple[str, str, str], width: int, args: Any) -> str:
    stamp, _, text = parsed
    prefix = f"{unit:<{width}} | "
    if args.timestamps:
        prefix = f"{stamp.replace('T', ' ')} {prefix}"
    return prefix + text + "\n"


def _position(path: Path) -> tuple[int, int]:
    """(inode, size) of the current file: where following starts."""
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_ino, stat.st_size)


def _follow(
    log_dir: Path, services: list[str], args: Any, positions: dict[str, tuple[int, int]]
) -> None:
    """Print what is appended, every 0.2 s. After a rotation the rest of the file
    that was followed (now `.log.1`, or further if it rotated again) is read
    first, then the newer ones."""
    from devenv.engine.logs import file_paths, parse_file_line

    width = max([len(u) for u in positions] + [1])
    while True:
        wrote = False
        for unit, current in unit_files(log_dir, services).items():
            inode, offset = positions.get(unit, (0, 0))
            width = max(width, len(unit))
            paths = file_paths(current)
            stats = []
            for path in paths:
                try:
                    stats.append((path, path.stat()))
                except OSError:
                    continue
            start = next((i for i, (_, st) in enumerate(stats) if st.st_ino == inode), None)
            if start is None:  # new, or rotated past every file kept: the oldest on
                start, offset = 0, 0
                if not inode and stats:  # a unit that appeared while following
                    start = len(stats) - 1
            for index in range(start, len(stats)):
                path, stat = stats[index]
                begin = offset if index == start else 0
                if stat.st_size < begin:  # truncated (a single file rotated in place)
                    begin = 0
                data = _read_from(path, begin)
                end = data.rfind(b"\n") + 1
                if index < len(stats) - 1:
                    end = len(data)  # a rotated file is complete
                for line in data[:end].decode("utf-8", "replace").splitlines():
                    parsed = parse_file_line(line)
                    if parsed:
                        sys.stdout.write(_format(unit, parsed, width, args))
                        wrote = True
                positions[unit] = (stat.st_ino, begin + end)
        if wrote:
            sys.stdout.flush()
        time.sleep(0.2)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return b""
