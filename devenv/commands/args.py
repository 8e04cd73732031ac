"""Option values shared by several subcommands, parsed without heavy imports."""

from __future__ import annotations

import argparse

from devenv.errors import DevenvError


def timeout_of(args: argparse.Namespace) -> float | None:
    """`--timeout DURATION` in seconds; None when absent or 0 (no limit)."""
    value = getattr(args, "timeout", None)
    if value is None:
        return None
    from devenv.config.compose.durations import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise DevenvError(f"--timeout {value!r}: {error}", hint="write e.g. 90s or 5m") from None
    return seconds or None


def since_of(value: str | None, now: float) -> float | None:
    """`--since`: a duration back from now (5m, 1h30m, 90s) or an ISO time
    (2026-11-22T10:00:00, local time unless it names its zone), as epoch seconds."""
    if not value:
        return None
    from devenv.config.compose.durations import parse_duration

    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise DevenvError(
            f"--since {value!r} is neither a duration nor a time",
            hint="write e.g. 5m, 1h30m or 2026-11-22T10:00:00",
        ) from None
