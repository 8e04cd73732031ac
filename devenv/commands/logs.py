"""`devenv logs [SERVICE...]`: services' output, merged by time.

From the running session when there is one (its ring buffer: the last 10,000
lines of each unit; `--follow` streams new lines as they come), else from the
files devenv keeps in `.devenv/logs/` (`--follow` follows them, also across a
rotation). `--since` takes a duration back from now (30s, 5m, 1h30m) or a
time (2026-11-22T10:00:00); `--grep` a regular expression (Python syntax).

Exit status: 0 (also when there is nothing to show); 1 an unknown service or a
bad --since/--grep.
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

    since = since_of(getattr(args, "since", None), time.time())
    grep = _pattern(getattr(args, "grep", None))
    session = find_session(state_dir_of(args))
    if session is not None:
        return _live(session, args, since)
    return _from_files(args, since, grep)


def _pattern(grep: str | None) -> re.Pattern[str] | None:
    if not grep:
        return None
    try:
        return re.compile(grep)
    except re.error as error:
        from devenv.errors import DevenvError

        raise DevenvError(f"--grep {grep!r} is not a regular expression: {error}") from None


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
            if parsed and _wanted(parsed, since, grep):
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
            _follow(
                log_dir,
                services,
                args,
                {u: p.stat().st_size for u, p in files.items()},
                grep,
            )
        except KeyboardInterrupt:
            return 0
    return 0


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


def _read_lines(*paths: Path) -> Iterator[str]:
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                yield from f
        except OSError:
            continue


def _follow(
    log_dir: Path,
    services: list[str],
    args: Any,
    offsets: dict[str, int],
    grep: re.Pattern[str] | None,
) -> None:
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
                if parsed and _wanted(parsed, None, grep):
                    sys.stdout.write(_format(unit, parsed, width, args))
                    wrote = True
        if wrote:
            sys.stdout.flush()
        time.sleep(0.2)
