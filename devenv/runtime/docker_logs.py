"""Follow a container's output, split into lines, stdout and stderr kept apart.

docker-py's `logs(stream=True)` drops which stream a chunk came from, so the
Engine API's multiplexed frames are read here: an 8-byte header (stream id,
length) and the payload, one log entry per frame, each prefixed with its
timestamp. A TTY container has one raw stream (stdout).

A followed stream can end before the last entry of a container that has just
exited arrives (Docker 20.10 drops a final line without a newline), so after
the follow ends, `pump` reads once more from the last timestamp it saw.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devenv.events import Stream

LineSink = Callable[[Stream, list[str]], None]  # the whole lines of one chunk
MAX_LINE = 64 * 1024  # a line longer than this is cut, so one runaway line cannot eat memory

Entry = tuple[Stream, str, bytes]  # stream, timestamp ("" for a TTY), data


def read_logs(
    client: Any,
    container_id: str,
    *,
    tty: bool,
    since: str | None,
    tail: int | None,
    follow: bool,
) -> Iterator[Entry]:
    """Log entries as they come; with follow, until the container stops."""
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(follow),
        "timestamps": int(not tty),
        "tail": "all" if tail is None else str(tail),
    }
    if since is not None:
        params["since"] = since
    api = client.api
    url = api._url("/containers/{0}/logs", container_id)
    # No read timeout: a quiet container must not end its own log stream.
    response = api.get(url, params=params, stream=True, timeout=None)
    try:
        response.raise_for_status()
        raw = response.raw
        if tty:
            while True:
                chunk = raw.read1(65536) if hasattr(raw, "read1") else raw.read(4096)
                if not chunk:
                    return
                yield "stdout", "", chunk
        while True:
            header = raw.read(8)
            if len(header) < 8:
                return
            stream_id, length = struct.unpack(">BxxxL", header)
            if not length:
                continue
            data = raw.read(length)
            if not data:
                return
            stamp, _, text = data.partition(b" ")
            yield ("stderr" if stream_id == 2 else "stdout"), stamp.decode(), text
    finally:
        response.close()


@dataclass
class LogCursor:
    """Where a container's output has been read up to, so that a stream that
    broke (the Engine went away) or a container started again is read on from
    there: never a line twice, none lost. `since`/`tail` say where the first
    read starts (a container found running: its last lines)."""

    since: str | None = None
    tail: int | None = None
    container: str = ""  # the container it reads
    last: str = ""  # the timestamp of the last entry read
    seen_at_last: set[tuple[Stream, bytes]] = field(default_factory=set)
    tty_bytes: int = 0  # a TTY's log has no timestamps: bytes read so far

    def start(self) -> tuple[str | None, int | None]:
        """(since, tail) for the next read."""
        if self.last:
            return docker_since(self.last), None
        return self.since, self.tail

    def fresh(self, stream: Stream, stamp: str, data: bytes) -> bool:
        """Not read before; records it."""
        if self.last and (
            stamp < self.last or (stamp == self.last and (stream, data) in self.seen_at_last)
        ):
            return False
        if stamp != self.last:
            self.last, self.seen_at_last = stamp, set()
        self.seen_at_last.add((stream, data))
        return True


def pump(
    client: Any,
    container_id: str,
    sink: LineSink,
    *,
    tty: bool,
    cursor: LogCursor,
) -> None:
    """Follow the logs into `sink` until the container stops, then catch up on
    what the follow may have missed; `cursor` moves along. Raises when the
    Engine cannot be read (the cursor then says where to resume)."""
    splitter = LineSplitter(sink)
    try:
        since, tail = cursor.start()
        if tty:
            # No frames to line up by: skip what was read before, by length.
            skip = cursor.tty_bytes if cursor.since is None and cursor.tail is None else 0
            for stream, _, data in read_logs(
                client, container_id, tty=True, since=since, tail=tail, follow=True
            ):
                if skip >= len(data):
                    skip -= len(data)
                    continue
                data, skip = data[skip:], 0
                cursor.tty_bytes += len(data)
                splitter.feed(stream, data)
            return
        for _ in range(2):  # the follow, then the catch-up (Docker may drop a last line)
            for stream, stamp, data in read_logs(
                client, container_id, tty=False, since=since, tail=tail, follow=_ == 0
            ):
                if cursor.fresh(stream, stamp, data):
                    splitter.feed(stream, data)
            since, tail = cursor.start()
    finally:
        splitter.flush()


def docker_since(stamp: str) -> str:
    """An RFC 3339 timestamp with nanoseconds -> the API's "seconds.nanoseconds"."""
    main, _, rest = stamp.rstrip("Z").partition(".")
    digits = "".join(c for c in rest if c.isdigit())[:9].ljust(9, "0")
    seconds = int(datetime.fromisoformat(main + "+00:00").timestamp())
    return f"{seconds}.{digits}"


class LineSplitter:
    """Bytes in, whole lines out, per stream; a partial line waits for its end."""

    def __init__(self, sink: LineSink) -> None:
        self.sink = sink
        self.partial: dict[Stream, bytes] = {}

    def feed(self, stream: Stream, data: bytes) -> None:
        buffer = self.partial.get(stream, b"") + data
        *lines, rest = buffer.split(b"\n")
        if len(rest) > MAX_LINE:
            lines.append(rest)
            rest = b""
        if lines:
            self.sink(stream, [decode(line) for line in lines])
        self.partial[stream] = rest

    def flush(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self.sink(stream, [decode(rest)])
        self.partial.clear()


def decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")
