"""From raw pipe chunks to text lines, fast and without ever failing on bad output.

Decisions, so that every front end shows the same thing:
- Bytes are decoded as UTF-8 with `errors="replace"`: invalid bytes become U+FFFD.
- ANSI escape sequences are kept as they are; front ends decide how to draw them.
- A `\\r` inside a line is a progress redraw (`10%\\r20%\\r30%`): only the last
  non-empty segment is kept, which is what a terminal would show. A trailing
  `\\r` (CRLF line ends) is dropped.
- A line longer than `max_line` (default 64 KiB) is split into pieces of at most
  that size, so a megabyte-long line costs memory proportional to the limit.
  Splits fall on UTF-8 character boundaries.

Work is done per chunk, not per line (one decode, one split), which is what
keeps the log relay fast.
"""

from __future__ import annotations

MAX_LINE = 64 * 1024


def _char_boundary(data: bytes, cut: int) -> int:
    """Move `cut` back to the start of a UTF-8 character (at most 3 bytes)."""
    for back in range(4):
        pos = cut - back
        if pos <= 0:
            return cut
        if (data[pos] & 0xC0) != 0x80:
            return pos
    return cut


def _last_segment(line: str) -> str:
    if "\r" not in line:
        return line
    for segment in reversed(line.split("\r")):
        if segment:
            return segment
    return ""


class LineSplitter:
    """Feeds chunks in, gets complete lines out; keeps the unfinished tail."""

    __slots__ = ("_rest", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._rest = b""
        self.max_line = max_line

    def feed(self, data: bytes) -> list[str]:
        if self._rest:
            data = self._rest + data
        end = data.rfind(b"\n")
        if end < 0:
            self._rest = data
            return self._cut_long_rest() if len(data) >= self.max_line else []
        self._rest = data[end + 1 :]
        text = data[:end].decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [_last_segment(line) for line in lines]
        if end > self.max_line and max(map(len, lines)) > self.max_line:
            lines = self._split_long(lines)
        if len(self._rest) >= self.max_line:
            lines.extend(self._cut_long_rest())
        return lines

    def flush(self) -> list[str]:
        """The unfinished last line, at end of stream."""
        if not self._rest:
            return []
        text = self._rest.decode("utf-8", "replace")
        self._rest = b""
        return self._split_long([_last_segment(text)])

    def _cut_long_rest(self) -> list[str]:
        out: list[str] = []
        data = self._rest
        while len(data) >= self.max_line:
            cut = _char_boundary(data, self.max_line)
            out.append(_last_segment(data[:cut].decode("utf-8", "replace")))
            data = data[cut:]
        self._rest = data
        return out

    def _split_long(self, lines: list[str]) -> list[str]:
        limit = self.max_line
        out: list[str] = []
        for line in lines:
            if len(line) <= limit:
                out.append(line)
            else:
                out.extend(line[i : i + limit] for i in range(0, len(line), limit))
        return out
