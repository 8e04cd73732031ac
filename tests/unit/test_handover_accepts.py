"""`handover.accepts`, the cheap check a new instance behind the relay gets
while it boots, against real sockets on 127.0.0.1 and ::1."""

from __future__ import annotations

import socket

import pytest

from devenv.runtime.handover import accepts


def closed_port(family: socket.AddressFamily, host: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("family", "host"),
    [
        (socket.AF_INET, "127.0.0.1"),
        pytest.param(
            socket.AF_INET6,
            "::1",
            marks=pytest.mark.skipif(not ipv6(), reason="no IPv6 loopback here"),
        ),
    ],
)
def test_accepts_tells_a_listener_from_a_closed_port(
    family: socket.AddressFamily, host: str
) -> None:
    port = closed_port(family, host)
    assert not accepts(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        assert not accepts(host, port)  # bound is not listening
        listener.listen()
        assert accepts(host, port)
    assert not accepts(host, port)  # closed again
