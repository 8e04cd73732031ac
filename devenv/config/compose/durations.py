"""Durations as Compose writes them (Go's `time.ParseDuration`: `1m30s`, `500ms`,
`1h`, `1.5s`; a bare number is seconds) and as it prints them (`1m30s`)."""

from __future__ import annotations

import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"([0-9]*\.?[0-9]+|[0-9]+\.)(ns|us|µs|μs|ms|s|m|h|d)")
_WHOLE = re.compile(r"^(?:([0-9]*\.?[0-9]+|[0-9]+\.)(ns|us|µs|μs|ms|s|m|h|d))+$")


def parse_duration(value: object, *, bare_numbers: bool = True) -> float:
    """Seconds; raises ValueError with a readable message.

    Compose's own keys want a unit (`bare_numbers=False`, as `docker compose`);
    `x-devenv` also takes a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if not bare_numbers and isinstance(value, int | float):
        raise ValueError(f"{value!r} needs a unit (write e.g. {value}s)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")
    text = value.strip()
    if text == "0":
        return 0.0
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        if not bare_numbers:
            raise ValueError(f"{value!r} needs a unit (write e.g. {text}s)")
        return float(text)
    if not _WHOLE.match(text):
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 1m30s, 500ms)")
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """Go's `time.Duration.String()`: `1m30s`, `1.5s`, `500ms`, `1h0m0s`, `0s`."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _fraction(nanos, size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"
