"""From raw output chunks to text lines, fast, in bounded memory, never failing.

One splitter for every source of output: a process's stdout and stderr pipes,
and each stream of a container's log. Decisions, so that every front end shows
the same thing:

- Bytes are decoded as UTF-8 with `errors="replace"`: invalid bytes become U+FFFD.
- ANSI escape sequences are kept as they are; front ends decide how to draw them.
- A `\\r` inside a line is a progress redraw (`10%\\r20%\\r30%`): only the last
  non-empty segment is kept, which is what a terminal would show. A trailing
  `\\r` (CRLF line ends) is dropped.
- A line longer than `max_line` bytes (default 64 KiB) is cut into pieces, and
  every piece is a line of at most `max_line` bytes, markers included. A piece
  that the line goes on after ends with `…`; a piece that continues a line
  starts with `…[+N KiB] `, N being where in the original line the piece
  starts. A 150 KiB line of `x` comes out as three lines:

      xxxx…xxxx…
      …[+64 KiB] xxxx…xxxx…
      …[+128 KiB] xxxx…

  Cuts fall on UTF-8 character boundaries, at the same places however the
  output was chunked, and pieces come out as soon as a line is known to be too
  long, so a 10 MiB line with no newline costs memory proportional to the cap,
  not to the line. The `\\r` rule applies to each piece.

Work is done per chunk, not per line (one decode, one split), which is what
keeps the log relay fast.
"""

from __future__ import annotations

MAX_LINE = 64 * 1024
CONTINUED = "\u2026"  # …: the line goes on in the next piece / this piece goes on a line
MARK_ROOM = 24  # bytes a piece leaves for its markers: `…[+1023.9 MiB] ` and `…`
MIN_LINE = 4 * MARK_ROOM


def _char_boundary(data: bytes, cut: int, floor: int = 0) -> int:
    """`cut` moved back to the start of the UTF-8 character it falls in (at most
    3 bytes back, never to `floor` or before); unchanged where no start byte is
    found (invalid UTF-8)."""
    if cut >= len(data):
        return len(data)
    for back in range(4):
        pos = cut - back
        if pos <= floor:
            return cut
        if (data[pos] & 0xC0) != 0x80:
            return pos
    return cut


def _length(raw: bytes, start: int = 0) -> int:
    """The length of raw[start:] as the cap counts it: one trailing `\\r`
    (CRLF) is not part of a line."""
    return len(raw) - start - (1 if raw.endswith(b"\r") else 0)


def _last_segment(line: str) -> str:
    if "\r" not in line:
        return line
    for segment in reversed(line.split("\r")):
        if segment:
            return segment
    return ""


def size_text(count: int) -> str:
    """A byte offset or count the way the markers write it: `512 B`, `64 KiB`, `1.5 MiB`."""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count // 1024} KiB"
    if count < 1024 * 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MiB"
    return f"{count / (1024 * 1024 * 1024):.1f} GiB"


class LineSplitter:
    """Feeds chunks in, gets complete lines out; keeps the unfinished tail.

    The tail kept between chunks is at most `max_line` + 1 bytes, whatever
    the output."""

    __slots__ = ("_offset", "_piece", "_rest", "max_line")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        if max_line < MIN_LINE:
            raise ValueError(f"max_line must be at least {MIN_LINE} bytes")
        self.max_line = max_line
        self._piece = max_line - MARK_ROOM  # bytes of output in a piece of a cut line
        self._rest = b""
        self._offset = 0  # bytes of the unfinished line already given out as pieces

    def feed(self, data: bytes) -> list[str]:
        if self._rest:
            data = self._rest + data
        end = data.rfind(b"\n")
        if end < 0:
            self._rest = data
            return self._cut_rest() if len(data) > self._piece else []
        out: list[str] = []
        start = 0
        if self._offset:  # the first line ends a line already cut into pieces
            first = data.find(b"\n")
            out.extend(self._finish(data[:first]))
            start = first + 1
        if start <= end:
            out.extend(self._complete(data[start:end]))
        self._rest = data[end + 1 :]
        if len(self._rest) > self._piece:
            out.extend(self._cut_rest())
        return out

    def flush(self) -> list[str]:
        """The unfinished last line, at end of stream."""
        data, self._rest = self._rest, b""
        if self._offset:
            return self._finish(data)
        if not data:
            return []
        return self._complete(data)

    # --- complete lines ----------------------------------------------------------

    def _complete(self, body: bytes) -> list[str]:
        """Lines of `body` (complete lines, newline-separated, none continued)."""
        text = body.decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [_last_segment(line) for line in lines]
        if len(body) > self.max_line:
            raw = body.split(b"\n")
            if max(map(len, raw)) > self.max_line:
                out: list[str] = []
                for line, raw_line in zip(lines, raw, strict=True):
                    if _length(raw_line) > self.max_line:
                        self._offset = 0
                        out.extend(self._finish(raw_line))
                    else:
                        out.append(line)
                return out
        return lines

    def _finish(self, line: bytes) -> list[str]:
        """The rest of a line that is (or is about to be) cut: its pieces."""
        if self._offset == 0 and _length(line) <= self.max_line:
            return [_last_segment(line.decode("utf-8", "replace"))]
        out, pos = self._cut(line, 0)
        out.append(self._piece_text(line[pos:], last=True))
        self._offset = 0
        return out

    # --- the unfinished line -----------------------------------------------------

    def _cut_rest(self) -> list[str]:
        """Pieces of the unfinished line that are known to be too long already:
        the first once the line is over `max_line`, then one more every time more
        than a piece's worth is waiting."""
        out, pos = self._cut(self._rest, 0)
        if pos:
            self._rest = self._rest[pos:]
        return out

    def _cut(self, data: bytes, pos: int) -> tuple[list[str], int]:
        """Cut pieces off `data` from `pos` while what is left is too long for
        one line; the pieces and where the uncut rest starts."""
        out: list[str] = []
        piece = self._piece
        while _length(data, pos) > (piece if self._offset else self.max_line):
            cut = _char_boundary(data, pos + piece, pos)
            out.append(self._piece_text(data[pos:cut], last=False))
            self._offset += cut - pos
            pos = cut
        return out, pos

    def _piece_text(self, raw: bytes, *, last: bool) -> str:
        text = _last_segment(raw.decode("utf-8", "replace"))
        if self._offset:
            text = f"{CONTINUED}[+{size_text(self._offset)}] {text}"
        return text if last else text + CONTINUED
