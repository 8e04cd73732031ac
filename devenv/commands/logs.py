"""`devenv logs [SERVICE...]`: services' output, merged by time.

From the running session when there is one (its ring buffer: the last 10,000
lines of each unit; `--follow` streams new lines as they come), else from the
files devenv keeps in `.devenv/logs/` (a unit's rotated files oldest first:
`<unit>.log.2`, `.log.1`, then `<unit>.log`; `--follow` follows them, also
across rotations). `--since` takes a duration back from now (30s, 5m, 1h30m) or a
time (2026-11-22T10:00:00); `--grep` a regular expression (Python syntax).

Exit status: 0 (also when there is nothing to show); 1 an unknown service or a
bad --since/--grep.
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
        "logs",
        help="show services' logs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="default: all")
    # -f is --file (the Compose file) everywhere, as in `docker compose -f`
    parser.add_argument("--follow", action="store_true", help="keep printing new lines")
    parser.add_argument(
        "-n", "--tail", type=int, default=None, metavar="N", help="only the last N lines"
    )
    parser.add_argument("-t", "--timestamps", action="store_true", help="show the time of lines")
    parser.add_argument(
        "--since", metavar="WHEN", help="only lines from then on: 5m, 1h30m, or an ISO time"
    )
    parser.add_argument("--grep", metavar="REGEX", help="only lines matching this expression")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: {ts, unit, stream, text} (ts in epoch seconds)",
    )
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
    from devenv.commands.args import since_of
    from devenv.control.oneshot import find_session
    from devenv.control.paths import state_dir_of
    from devenv.events import grep_pattern

    since = since_of(getattr(args, "since", None), time.time())
    grep = grep_pattern(getattr(args, "grep", None))
    session = find_session(state_dir_of(args))
    if session is not None:
        return _live(session, args, since)
    return _from_files(args, since, grep)


def _live(session: Any, args: argparse.Namespace, since: float | None) -> int:
    """From the session's ring buffers (and, with --follow, its live output)."""
    import json

    services: list[str] = list(args.services or [])
    query = {"unit": services or None, "since": since, "grep": args.grep or None}
    if args.tail is not None:
        query["limit"] = max(args.tail, 0)
    names = [u["name"] for u in session.get("/v1/units")]
    width = max([len(n) for n in names] + [1])
    out = sys.stdout

    def show(record: dict[str, Any]) -> None:
        if args.json:
            out.write(json.dumps({k: record[k] for k in ("ts", "unit", "stream", "text")}) + "\n")
            return
        prefix = f"{record['unit']:<{width}} | "
        if args.timestamps:
            prefix = f"{_local_time(record['ts'])} {prefix}"
        out.write(prefix + record["text"] + "\n")

    if not args.follow:
        for record in session.get("/v1/logs", **query):
            show(record)
        out.flush()
        return 0
    try:
        for record in session.stream("/v1/logs", follow=1, **query):
            if record.get("type") == "LogRecord":
                show(record)
                out.flush()
    except KeyboardInterrupt:
        return 0
    return 0


def _local_time(ts: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    return f"{stamp}.{int(ts % 1 * 1000):03d}"


def _from_files(args: argparse.Namespace, since: float | None, grep: re.Pattern[str] | None) -> int:
    """From the files in .devenv/logs: a unit's rotated files oldest first, the
    units merged by time one line at a time (nothing is loaded whole)."""
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
        _entries(unit, order, path, width, args, since, grep)
        for order, (unit, path) in enumerate(files.items())
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
            _follow(log_dir, services, args, offsets, grep)
        except KeyboardInterrupt:
            return 0
    return 0


def _entries(
    unit: str,
    order: int,
    current: Path,
    width: int,
    args: Any,
    since: float | None,
    grep: re.Pattern[str] | None,
) -> Iterator[tuple[str, int, str]]:
    """(time, order, printed line) of every wanted line of a unit's files, oldest
    first: one stream per unit, for a merge that holds one line per unit at a time."""
    from devenv.engine.logs import file_paths, parse_file_line

    for path in file_paths(current):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parsed = parse_file_line(line)
                    if parsed and _wanted(parsed, since, grep):
                        yield parsed[0], order, _format(unit, parsed, width, args)
        except OSError:
            continue


def _wanted(
    parsed: tuple[str, str, str], since: float | None, grep: re.Pattern[str] | None
) -> bool:
    if grep is not None and not grep.search(parsed[2]):
        return False
    return since is None or _file_time(parsed[0]) >= since


def _file_time(stamp: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


def _format(unit: str, parsed: tuple[str, str, str], width: int, args: Any) -> str:
    stamp, stream, text = parsed
    if getattr(args, "json", False):
        import json

        record = {"ts": _file_time(stamp), "unit": unit, "stream": stream, "text": text}
        return json.dumps(record) + "\n"
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
    log_dir: Path,
    services: list[str],
    args: Any,
    positions: dict[str, tuple[int, int]],
    grep: re.Pattern[str] | None,
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
                    if parsed and _wanted(parsed, None, grep):
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
