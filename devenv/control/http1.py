"""The CLI's HTTP/1.1 client for the control socket: one request per
connection (`Connection: close`), bodies by Content-Length, chunked or to the
end of the stream.

Why not `http.client`: importing it (it brings `email` and `ssl`) costs ~33 ms
of a `devenv restart api` whose whole budget is 150 ms, and `h11` costs as
much. Both ends are ours (the server is aiohttp), so the subset is small: no
proxies, no TLS, no keep-alive, no redirects.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

_MAX_HEAD = 64 * 1024  # the status line and headers together


class HttpError(Exception):
    """The answer is not the HTTP/1.1 expected (cut short, malformed)."""


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self._sock.recv(65536)
        if not data:
            self.eof = True
            return False
        self._buffer += data
        return True

    def line(self, limit: int = _MAX_HEAD) -> bytes:
        """One CRLF- (or LF-) ended line, without its end."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > limit:
                raise HttpError("a header line is too long")
            if not self._fill():
                raise HttpError("the answer ended early")
        line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        return line.rstrip(b"\r")

    def some(self, most: int) -> bytes:
        """Up to `most` bytes (at least one), b"" at the end of the stream."""
        if not self._buffer and not self._fill():
            return b""
        piece, self._buffer = self._buffer[:most], self._buffer[most:]
        return piece

    def exactly(self, count: int) -> Iterator[bytes]:
        while count > 0:
            piece = self.some(count)
            if not piece:
                raise HttpError("the answer ended early")
            count -= len(piece)
            yield piece


class Response:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = _Reader(sock)
        status_line = self._reader.line()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"not an HTTP answer: {status_line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while line := self._reader.line():
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def close(self) -> None:
        self._sock.close()

    def pieces(self) -> Iterator[bytes]:
        """The body, as it arrives."""
        reader = self._reader
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            while True:
                size_line = reader.line().split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    raise HttpError(f"bad chunk size {size_line[:20]!r}") from None
                if size == 0:
                    while reader.line():  # trailers, up to the blank line
                        pass
                    return
                yield from reader.exactly(size)
                reader.line()  # the CRLF after the chunk
        elif (length := self.headers.get("content-length")) is not None:
            if not length.isdigit():
                raise HttpError(f"bad Content-Length {length[:20]!r}")
            yield from reader.exactly(int(length))
        else:
            while piece := reader.some(65536):
                yield piece

    def read(self) -> bytes:
        return b"".join(self.pieces())

    def lines(self) -> Iterator[bytes]:
        """The body's lines (each with its newline), as they arrive."""
        pending = b""
        for piece in self.pieces():
            pending += piece
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line + b"\n"
        if pending:
            yield pending


def request(
    path: Path,
    method: str,
    target: str,
    body: bytes | None = None,
    *,
    content_type: str = "application/json",
    timeout: float | None = None,
) -> Response:
    """Send one request on a new connection to the Unix socket at `path`; the
    status line and headers are read, the body is the caller's to read (then
    `close()` the response)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(os.fspath(path))
        head = [f"{method} {target} HTTP/1.1", "Host: localhost", "Connection: close"]
        if body is not None:
            head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        return Response(sock)
    except BaseException:
        sock.close()
        raise
