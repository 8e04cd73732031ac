"""The control socket's small HTTP/1.1 client against a real Unix socket that
answers with bytes written by hand: each way a body can be framed, answers cut
short, and lines streamed as they come."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.control import http1


class Server:
    """Accepts one connection, keeps the request, sends `parts` (pausing between
    them when asked) and closes."""

    def __init__(self, path: Path, parts: list[bytes], pause: threading.Event | None = None):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen()
        self.parts = parts
        self.pause = pause
        self.request = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            while b"\r\n\r\n" not in self.request:
                self.request += conn.recv(4096)
            head, _, body = self.request.partition(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    while len(body) < int(line.split(b":")[1]):
                        body += conn.recv(4096)
            self.request = head + b"\r\n\r\n" + body
            for number, part in enumerate(self.parts):
                if number and self.pause is not None:
                    assert self.pause.wait(5)
                conn.sendall(part)
        self.listener.close()


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "control.sock"


def test_a_body_by_content_length_and_the_request_as_sent(path: Path) -> None:
    server = Server(path, [b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"])
    response = http1.request(path, "POST", "/services/api/restart?x=1", b'{"a": 1}')
    assert (response.status, response.headers["x-a"], response.read()) == (201, "b", b"hello")
    response.close()
    server.thread.join(5)
    head, _, body = server.request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /services/api/restart?x=1 HTTP/1.1"
    assert b"Content-Length: 8" in lines and b"Connection: close" in lines
    assert body == b'{"a": 1}'


def test_a_chunked_body_with_extensions_and_trailers(path: Path) -> None:
    Server(
        path,
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n"
        ],
    )
    response = http1.request(path, "GET", "/")
    assert response.read() == b"abcdefg"


def test_a_body_to_the_end_of_the_stream(path: Path) -> None:
    Server(path, [b"HTTP/1.0 200 OK\r\n\r\n", b"all ", b"of it"])
    assert http1.request(path, "GET", "/").read() == b"all of it"


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_an_answer_cut_short_or_not_http_is_an_error(path: Path, answer: bytes) -> None:
    Server(path, [answer])
    with pytest.raises(http1.HttpError):
        http1.request(path, "GET", "/").read()


def test_lines_come_as_they_arrive_across_chunks(path: Path) -> None:
    more = threading.Event()
    Server(
        path,
        [
            b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{"a":1\r\n3\r\n}\n{\r\n',
            b'6\r\n"b":2}\r\n1\r\n\n\r\n0\r\n\r\n',
        ],
        pause=more,
    )
    lines = http1.request(path, "GET", "/logs?follow=1").lines()
    assert next(lines) == b'{"a":1}\n'  # before the rest was sent
    more.set()
    assert list(lines) == [b'{"b":2}\n']


def test_nobody_listening_is_the_os_error() -> None:
    with pytest.raises(FileNotFoundError):
        http1.request(Path("/nonexistent/control.sock"), "GET", "/")
