"""Log buffers: a bounded ring per unit in memory, and a capped file per unit on disk.

Lines arrive in batches (one pipe read); the ring stores plain tuples and the
file gets one write per batch, so the per-line cost stays in C. `LogRecord`s are
built only when a front end asks for them.

File format, one line per output line: `<ISO time> <out|err|sys> <text>`.
A file that grows past its cap is renamed to `<unit>.log.1` (replacing the
previous one) and a new file started, so at most twice the cap is kept.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import IO

from devenv.events import LogRecord, Stream

STREAM_CODES: dict[str, str] = {"stdout": "out", "stderr": "err", "devenv": "sys"}
CODE_STREAMS: dict[str, Stream] = {"out": "stdout", "err": "stderr", "sys": "devenv"}

Entry = tuple[float, Stream, str]


class LogFile:
    """Appends to `<dir>/<unit>.log`, rotating once at `cap` bytes."""

    def __init__(self, path: Path, cap: int) -> None:
        self.path = path
        self.cap = cap
        self._file: IO[str] | None = None
        self._size = 0
        self.dirty = False

    def write(self, text: str) -> None:
        if self._file is None:
            self._open()
        elif self._size + len(text) > self.cap and self._size > 0:
            self._rotate()
        assert self._file is not None
        self._file.write(text)
        self._size += len(text)
        self.dirty = True

    def flush(self) -> None:
        if self._file is not None and self.dirty:
            self._file.flush()
        self.dirty = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", errors="replace", buffering=1 << 16)  # noqa: SIM115
        self._size = self._file.tell()
        if self._size >= self.cap:
            self._rotate()

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        self.path.replace(self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "a", encoding="utf-8", errors="replace", buffering=1 << 16)  # noqa: SIM115
        self._size = 0


def format_batch(ts: float, stream: Stream, lines: list[str]) -> str:
    prefix = f"{datetime.fromtimestamp(ts).isoformat(timespec='milliseconds')} "
    prefix += STREAM_CODES[stream] + " "
    return prefix + ("\n" + prefix).join(lines) + "\n"


def parse_file_line(line: str) -> tuple[str, Stream, str] | None:
    """(iso time, stream, text) from a line of a log file; None if malformed."""
    stamp, _, rest = line.partition(" ")
    code, _, text = rest.partition(" ")
    stream = CODE_STREAMS.get(code)
    if stream is None or len(stamp) < 19:
        return None
    return stamp, stream, text.rstrip("\n")


class LogStore:
    def __init__(self, ring_size: int, log_dir: Path | None, file_cap: int) -> None:
        self.ring_size = ring_size
        self.log_dir = log_dir
        self.file_cap = file_cap
        self._rings: dict[str, deque[Entry]] = {}
        self._files: dict[str, LogFile] = {}

    def add(self, unit: str, stream: Stream, lines: list[str], ts: float) -> None:
        ring = self._rings.get(unit)
        if ring is None:
            ring = self._rings[unit] = deque(maxlen=self.ring_size)
        ring.extend(zip(repeat(ts), repeat(stream), lines))
        if self.log_dir is not None:
            log = self._files.get(unit)
            if log is None:
                log = self._files[unit] = LogFile(self.log_dir / f"{unit}.log", self.file_cap)
            log.write(format_batch(ts, stream, lines))

    def records(self, unit: str) -> list[LogRecord]:
        return [LogRecord(unit, s, t, ts) for ts, s, t in self._rings.get(unit, ())]

    def all_records(self, units: Iterable[str] | None = None) -> list[LogRecord]:
        names = list(self._rings if units is None else units)
        streams = [self._tagged(name) for name in names]
        return [
            LogRecord(name, s, t, ts)
            for ts, s, t, name in heapq.merge(*streams, key=lambda e: e[0])
        ]

    def _tagged(self, name: str) -> Iterator[tuple[float, Stream, str, str]]:
        # A function, not a nested generator expression: the name is bound per
        # call, where a generator in a comprehension would see the last one.
        for ts, stream, text in self._rings.get(name, ()):
            yield ts, stream, text, name

    @property
    def dirty(self) -> bool:
        return any(f.dirty for f in self._files.values())

    def flush(self) -> None:
        for log in self._files.values():
            log.flush()

    def close(self) -> None:
        for log in self._files.values():
            log.close()
        self._files.clear()
