"""Log buffers: a bounded ring per unit in memory, and rotated files per unit on disk.

Lines arrive in batches (one pipe read); the ring stores the batches as they
come and the file gets one write per 64 KiB, so the per-line cost stays in C.
`LogRecord`s are built only when a front end asks for them.

Memory: a unit's ring keeps its newest `ring_size` lines (default 10,000) and
at most `ring_bytes` (default 16 MiB), whichever binds first; the oldest lines
go first. A line is counted as its length in characters plus 64 bytes (the
Python string's header and its slot): the real figure for ASCII and Latin-1
text; text in other scripts takes 2-4 bytes per character in memory, up to
4 times the count. 16 MiB keeps the full 10,000 lines when they average up to
1.6 KiB (JSON logs included) and the whole of a 10 MiB line (cut into 64 KiB
pieces by the line splitter), while twenty flooding services cannot take more
than ~320 MiB between them.

Files, one line per output line: `<ISO time> <out|err|sys> <text>`, in
`<unit>.log`. When a write would take it past `file_cap` bytes, the file is
renamed to `<unit>.log.1` (`.1` to `.2`, and so on) and a new one started, so
`file_count` files (default 3 x 10 MiB) hold a unit's newest lines: one burst
of output does not wipe a service's history.

A file that cannot be written (disk full, I/O error, permission, read-only file
system) never stops the logs: its lines stay in memory and reach every front
end, the unit gets one warning through `on_notice`, and the file is reopened
at most every `retry_interval` seconds (5): on the next write or flush after
that, or by the store's own timer while an event loop runs, so a freed disk is
used again even when the service has gone quiet. When that works, a `sys` line
in the file says how many lines are missing from it, and `on_notice` says once
that it is written again. Nothing here raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from devenv.events import LogRecord, Stream
from devenv.runtime.lines import size_text

STREAM_CODES: dict[str, str] = {"stdout": "out", "stderr": "err", "devenv": "sys"}
CODE_STREAMS: dict[str, Stream] = {"out": "stdout", "err": "stderr", "sys": "devenv"}

RING_LINES = 10_000
RING_BYTES = 16 * 1024 * 1024
LINE_OVERHEAD = 64  # bytes a kept line costs besides its characters
FILE_CAP = 10 * 1024 * 1024
FILE_COUNT = 3
RETRY_INTERVAL = 5.0
WRITE_CHUNK = 64 * 1024  # a file is written when this much is waiting, or on flush

Level = Literal["info", "warning"]
NoticeCallback = Callable[[str, str, Level], None]  # (unit, text, level)


class _Batch:
    """Lines of one delivery: one time, one stream. `lines` is trimmed from the
    front when the ring is over its bounds."""

    __slots__ = ("lines", "size", "stream", "ts")

    def __init__(self, ts: float, stream: Stream, lines: list[str], size: int) -> None:
        self.ts = ts
        self.stream = stream
        self.lines = lines
        self.size = size


def _cost(lines: list[str]) -> int:
    return sum(map(len, lines)) + LINE_OVERHEAD * len(lines)


class Ring:
    """The newest lines of one unit, bounded in lines and in bytes."""

    __slots__ = ("_batches", "lines", "max_bytes", "max_lines", "size")

    def __init__(self, max_lines: int = RING_LINES, max_bytes: int = RING_BYTES) -> None:
        self.max_lines = max(1, max_lines)
        self.max_bytes = max(1, max_bytes)
        self._batches: deque[_Batch] = deque()
        self.lines = 0
        self.size = 0

    def add(self, ts: float, stream: Stream, lines: list[str]) -> None:
        if not lines:
            return
        if len(lines) > self.max_lines:
            lines = lines[-self.max_lines :]
        batch = _Batch(ts, stream, list(lines), _cost(lines))
        self._batches.append(batch)
        self.lines += len(batch.lines)
        self.size += batch.size
        if self.lines > self.max_lines or self.size > self.max_bytes:
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest lines until both bounds hold: whole batches while a
        whole one must go, then the fewest lines from the front of the next."""
        batches = self._batches
        while batches and (self.lines > self.max_lines or self.size > self.max_bytes):
            first = batches[0]
            excess = self.lines - self.max_lines
            if excess >= len(first.lines) or self.size - first.size >= self.max_bytes:
                batches.popleft()
                self.lines -= len(first.lines)
                self.size -= first.size
                continue
            drop = max(excess, 0)
            freed = _cost(first.lines[:drop])
            while self.size - freed > self.max_bytes:
                freed += len(first.lines[drop]) + LINE_OVERHEAD
                drop += 1
            del first.lines[:drop]
            first.size -= freed
            self.lines -= drop
            self.size -= freed

    def entries(self) -> Iterator[tuple[float, Stream, str]]:
        for batch in self._batches:
            ts, stream = batch.ts, batch.stream
            for text in batch.lines:
                yield ts, stream, text


def _reason(error: OSError) -> str:
    name = errno.errorcode.get(error.errno or 0, "")
    text = error.strerror or str(error)
    return f"{text} ({name})" if name else text


class LogFile:
    """Appends to `<dir>/<unit>.log` in bytes, rotating through `count` files of
    at most `cap` bytes; survives every OSError (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        cap: int = FILE_CAP,
        count: int = FILE_COUNT,
        *,
        notify: Callable[[str, Level], None] | None = None,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.path = path
        self.cap = max(1, cap)
        self.count = max(1, count)
        self.notify = notify
        self.retry_interval = retry_interval
        self._fd: int | None = None
        self._size = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._pending_lines = 0
        self._broken: str | None = None  # the reason, while the file cannot be written
        self._retry_at = 0.0
        self._lost_lines = 0
        self._lost_bytes = 0
        self._midline = False  # a failed write left half a line in the file
        self._progress = 0  # bytes of the data being drained that are written

    @property
    def broken(self) -> bool:
        return self._broken is not None

    @property
    def waiting_to_retry(self) -> bool:
        """Failing, with lines lost since: a retry will note the gap."""
        return self._broken is not None and self._lost_lines > 0

    @property
    def retry_at(self) -> float:
        """When (time.monotonic) the next attempt may be made."""
        return self._retry_at

    def write(self, data: bytes, lines: int) -> None:
        """Queue `data` (`lines` whole lines); written out at 64 KiB or on flush."""
        if self._broken is not None and time.monotonic() < self._retry_at:
            self._lose(lines, len(data))
            return
        self._pending.append(data)
        self._pending_size += len(data)
        self._pending_lines += lines
        if self._pending_size >= WRITE_CHUNK:
            self._drain()

    def flush(self) -> None:
        if self._pending or (self._broken is not None and self._lost_lines):
            self._drain()

    def close(self) -> None:
        self.flush()
        self._close_fd()

    # --- inside ------------------------------------------------------------------

    def _drain(self) -> None:
        data = b"".join(self._pending)
        lines = self._pending_lines
        self._pending.clear()
        self._pending_size = self._pending_lines = 0
        if self._broken is not None and (time.monotonic() < self._retry_at or not self._recover()):
            self._lose(lines, len(data))
            return
        self._progress = 0
        try:
            if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
                self._close_fd()  # deleted under us (`rm -r .devenv/logs`): start anew
            if self._fd is None:
                self._open()
            self._write_rotating(data)
        except OSError as error:
            self._fail(error, data[self._progress :])

    def _write_rotating(self, data: bytes) -> None:
        """Write `data`, rotating before a file would pass the cap; a file gets
        whole lines only, and at least one, however long."""
        pos, end = 0, len(data)
        while pos < end:
            room = self.cap - self._size
            if end - pos <= room:
                self._write_all(data, pos, end)
                return
            cut = data.rfind(b"\n", pos, pos + max(room, 0)) + 1
            if cut <= pos and self._size == 0:
                cut = data.find(b"\n", pos) + 1 or end
            if cut > pos:
                self._write_all(data, pos, cut)
                pos = cut
            if pos < end:
                self._rotate()

    def _write_all(self, data: bytes, pos: int, end: int) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while pos < end:
            written = os.write(self._fd, view[pos:end])
            if written:
                self._midline = data[pos + written - 1] != 0x0A
            pos += written
            self._size += written
            self._progress += written

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o644)
        self._size = os.fstat(self._fd).st_size
        if self._size >= self.cap:
            self._rotate()

    def _rotate(self) -> None:
        self._close_fd()
        if self.count == 1:
            flags = os.O_WRONLY | os.O_TRUNC | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(self.path, flags, 0o644)
            self._size = 0
            return
        name = self.path.name
        for index in range(self.count - 1, 1, -1):
            older = self.path.with_name(f"{name}.{index - 1}")
            if older.exists():
                older.replace(self.path.with_name(f"{name}.{index}"))
        if self.path.exists():
            self.path.replace(self.path.with_name(f"{name}.1"))
        self._open()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):  # nothing more is lost than already was
                os.close(fd)

    def _fail(self, error: OSError, unwritten: bytes) -> None:
        """A write, open or rotation failed: drop what was not written, warn once."""
        self._close_fd()
        self._lose(unwritten.count(b"\n"), len(unwritten))
        self._retry_at = time.monotonic() + self.retry_interval
        if self._broken is None:
            self._broken = _reason(error)
            if self.notify is not None:
                self.notify(
                    f"cannot write {self.path}: {self._broken}; its lines are kept in "
                    f"memory only, retrying every {self.retry_interval:g}s",
                    "warning",
                )

    def _lose(self, lines: int, size: int) -> None:
        self._lost_lines += lines
        self._lost_bytes += size

    def _recover(self) -> bool:
        """Reopen the file and note the gap in it; False if it still fails."""
        reason = self._broken
        note = (
            ("\n" if self._midline else "")
            + f"{datetime.now().isoformat(timespec='milliseconds')} sys -- "
            f"{self._lost_lines} lines ({size_text(self._lost_bytes)}) are missing here: "
            f"the file could not be written: {reason}\n"
        ).encode()
        try:
            if self._fd is None:
                self._open()
            self._progress = 0
            self._write_rotating(note)
        except OSError:
            self._close_fd()
            self._retry_at = time.monotonic() + self.retry_interval
            return False
        lost = self._lost_lines
        self._broken = None
        self._midline = False
        self._lost_lines = self._lost_bytes = 0
        if self.notify is not None:
            self.notify(
                f"writing {self.path} again; {lost} lines written meanwhile are not in it",
                "info",
            )
        return True


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


def file_paths(current: Path) -> list[Path]:
    """A unit's log files, oldest first: `<unit>.log.N` ... `<unit>.log.1`, `<unit>.log`
    (those that exist)."""
    rotated: list[tuple[int, Path]] = []
    prefix = current.name + "."
    try:
        siblings = list(current.parent.iterdir())
    except OSError:
        siblings = []
    for path in siblings:
        suffix = path.name[len(prefix) :] if path.name.startswith(prefix) else ""
        if suffix.isdigit():
            rotated.append((int(suffix), path))
    found = [path for _, path in sorted(rotated, reverse=True)]
    if current.exists():
        found.append(current)
    return found


class LogStore:
    """Every unit's ring, and its file when `log_dir` is set."""

    def __init__(
        self,
        ring_size: int,
        log_dir: Path | None,
        file_cap: int,
        *,
        ring_bytes: int = RING_BYTES,
        file_count: int = FILE_COUNT,
        on_notice: NoticeCallback | None = None,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.ring_size = ring_size
        self.ring_bytes = ring_bytes
        self.log_dir = log_dir
        self.file_cap = file_cap
        self.file_count = file_count
        self.on_notice = on_notice
        self.retry_interval = retry_interval
        self._rings: dict[str, Ring] = {}
        self._files: dict[str, LogFile] = {}
        self._retry: asyncio.TimerHandle | None = None

    def add(self, unit: str, stream: Stream, lines: list[str], ts: float) -> None:
        ring = self._rings.get(unit)
        if ring is None:
            ring = self._rings[unit] = Ring(self.ring_size, self.ring_bytes)
        ring.add(ts, stream, lines)
        if self.log_dir is not None:
            log = self._files.get(unit)
            if log is None:
                log = self._files[unit] = self._new_file(unit)
            data = format_batch(ts, stream, lines).encode("utf-8", "replace")
            log.write(data, len(lines))

    def _new_file(self, unit: str) -> LogFile:
        assert self.log_dir is not None
        callback = self.on_notice

        def notify(text: str, level: Level) -> None:
            if callback is not None:
                callback(unit, text, level)

        return LogFile(
            self.log_dir / f"{unit}.log",
            self.file_cap,
            self.file_count,
            notify=notify,
            retry_interval=self.retry_interval,
        )

    def records(self, unit: str) -> list[LogRecord]:
        ring = self._rings.get(unit)
        if ring is None:
            return []
        return [LogRecord(unit, s, t, ts) for ts, s, t in ring.entries()]

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
        ring = self._rings.get(name)
        if ring is None:
            return
        for ts, stream, text in ring.entries():
            yield ts, stream, text, name

    def memory(self, unit: str) -> tuple[int, int]:
        """(lines, bytes as counted) kept in memory for a unit."""
        ring = self._rings.get(unit)
        return (ring.lines, ring.size) if ring else (0, 0)

    def flush(self) -> None:
        for log in self._files.values():
            log.flush()
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        """While a file is failing, flush again when its retry is due, so that a
        freed disk is used (and said so) even if the service has gone quiet."""
        due = [log.retry_at for log in self._files.values() if log.waiting_to_retry]
        if not due or self._retry is not None:
            return
        with contextlib.suppress(RuntimeError):  # no event loop: retried on the next write
            loop = asyncio.get_running_loop()
            delay = max(0.0, min(due) - time.monotonic()) + 0.01
            self._retry = loop.call_later(delay, self._retried)

    def _retried(self) -> None:
        self._retry = None
        self.flush()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for log in self._files.values():
            log.close()
        self._files.clear()
