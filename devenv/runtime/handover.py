"""Keeping a service's port open across restarts (`x-devenv.handover`).

proxy: devenv listens on the service's ports itself and relays each connection
to the instance that is current; the program listens where devenv tells it
(`$PORT`, a free port picked per instance). A restart starts the new instance
beside the old one, switches new connections to it once it is ready, and stops
the old one once its open connections are done (or its grace period ends). A
client never sees a refused connection.

socket: devenv opens the listening socket once and every instance inherits it
(fd 3, `LISTEN_FDS=1`, `LISTEN_PID`: the systemd convention, which uvicorn
`--fd 3`, gunicorn and others accept). While the new instance starts, the old
one keeps accepting; once it is ready the old one is told to stop and
connections queue in the kernel for the new one. No relay at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import Callable

# How often a new instance behind the relay is checked for a listening socket
# before its readiness check runs: `accepts` is a plain non-blocking connect
# (~30 µs), so a reload can follow the boot within a fraction of a millisecond.
LISTEN_POLL = 0.0005


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def accepts(host: str, port: int) -> bool:
    """Whether a connection to host:port is accepted now (or still under way, off
    loopback), without asyncio's streams: ~30 µs against `open_connection`'s
    ~165 µs, which matters in a tight loop beside a booting instance. On loopback
    the kernel settles a connect at once: SO_ERROR tells refused from accepted."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code == errno.EINPROGRESS:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    return code in (0, errno.EINPROGRESS)


class _Relay(asyncio.Protocol):
    """One client connection, piped to one upstream connection."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.target = 0
        self._early: list[bytes] = []
        self._connecting: asyncio.Future[None] | None = None
        self.client_done = False  # the client sent its end (EOF)
        self.upstream_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.client = transport
        self.target = self.proxy.upstream
        self.proxy._opened(self)
        transport.pause_reading()  # until the upstream is connected
        self._connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(
                lambda: _Upstream(self), self.proxy.upstream_host, self.target
            )
        except OSError:
            if self.client is not None:
                self.client.close()
            return
        assert isinstance(transport, asyncio.Transport)
        if self.client is None or self.client.is_closing():
            transport.close()  # the client went away meanwhile
            return
        self.upstream = transport
        for data in self._early:
            transport.write(data)
        self._early.clear()
        if self.client is not None and not self.client.is_closing():
            self.client.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.write(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        self.client_done = True
        if self.upstream is not None and self.upstream.can_write_eof():
            self.upstream.write_eof()
        if self.upstream_done:
            self.finish()
        return True  # keep the client's side open for the answer

    def finish(self) -> None:
        """Both ends are done: close both (half-closed sockets do not close alone)."""
        if self.client is not None:
            self.client.close()
        if self.upstream is not None:
            self.upstream.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()
        self.proxy._closed(self)


class _Upstream(asyncio.Protocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        if self.relay.client is not None:
            self.relay.client.write(data)

    def eof_received(self) -> bool:
        relay = self.relay
        relay.upstream_done = True
        client = relay.client
        if client is not None and client.can_write_eof():
            client.write_eof()
        if relay.client_done:
            relay.finish()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relay.client is not None:
            self.relay.client.close()


class TcpProxy:
    """Listens on a public port and relays each connection to `upstream`."""

    def __init__(self, host: str, port: int, upstream_host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.upstream_host = upstream_host
        self.upstream = 0
        self._server: asyncio.Server | None = None
        self._open: dict[int, set[_Relay]] = {}
        self._drained: dict[int, asyncio.Event] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Relay(self), self.host, self.port, reuse_address=True
        )

    def switch(self, upstream: int) -> None:
        """New connections go to `upstream` from now on."""
        self.upstream = upstream

    def connections(self, upstream: int) -> int:
        return len(self._open.get(upstream, ()))

    async def drained(self, upstream: int, timeout: float) -> bool:
        """Until no connection to `upstream` is open (False: the timeout ended)."""
        if not self._open.get(upstream):
            return True
        event = self._drained.setdefault(upstream, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        return not self._open.get(upstream)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for relays in list(self._open.values()):
            for relay in list(relays):
                if relay.client is not None:
                    relay.client.close()

    def _opened(self, relay: _Relay) -> None:
        self._open.setdefault(relay.target, set()).add(relay)

    def _closed(self, relay: _Relay) -> None:
        relays = self._open.get(relay.target)
        if relays is not None:
            relays.discard(relay)
            if not relays:
                del self._open[relay.target]
                event = self._drained.pop(relay.target, None)
                if event is not None:
                    event.set()


class SharedSocket:
    """A listening socket devenv owns, inherited by each instance as fd 3."""

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.sock.set_inheritable(True)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def listen_fds_argv(argv: list[str], count: int) -> list[str]:
    """The argv that gives the program LISTEN_FDS=`count` and LISTEN_PID its own
    pid (a shell sets it, then execs the program, which keeps the pid)."""
    script = f'LISTEN_PID=$$ LISTEN_FDS={count} exec "$@"'
    return ["/bin/sh", "-c", script, "devenv", *argv]


def move_fds(fds: tuple[int, ...]) -> Callable[[], None]:
    """In the child, before exec: the listening sockets become fds 3, 4, … as the
    convention wants (a shell cannot: dash takes only one-digit fds). Only
    `os.dup2` runs there, which is safe between fork and exec."""
    pairs = [(fd, 3 + i) for i, fd in enumerate(fds)]

    def move() -> None:
        for fd, target in pairs:
            if fd != target:
                os.dup2(fd, target)

    return move


class Handover:
    """The public side of one unit whose port devenv keeps open across restarts:
    a relay (proxy) or a shared listening socket per public port."""

    def __init__(self, mode: str, host: str, public: tuple[int, ...]) -> None:
        self.mode = mode
        self.host = host
        self.public = public
        self._proxies: list[TcpProxy] = []
        self._sockets: list[SharedSocket] = []

    @property
    def is_open(self) -> bool:
        return bool(self._proxies or self._sockets)

    async def open(self) -> None:
        """Take the public ports (PortInUseError-worthy OSError when one is taken)."""
        if self.is_open:
            return
        try:
            for port in self.public:
                if self.mode == "socket":
                    self._sockets.append(SharedSocket(self.host, port))
                else:
                    proxy = TcpProxy(self.host, port)
                    await proxy.start()
                    self._proxies.append(proxy)
        except OSError:
            await self.close()
            raise

    def instance_ports(self) -> tuple[int, ...]:
        """The ports a new instance listens on: fresh ones behind a relay, the
        public ones (inherited) with a shared socket."""
        if self.mode == "socket":
            return self.public
        return tuple(free_port() for _ in self.public)

    async def listening(self, ports: tuple[int, ...]) -> None:
        """Until an instance behind the relay accepts on its first port (the one
        a service's default readiness check looks at; another may open later or
        never): its readiness check is worth running from then on, and the relay
        could not send it a connection before. (Inherited sockets always accept.)"""
        if self._proxies and ports:
            while not accepts(self._proxies[0].upstream_host, ports[0]):
                await asyncio.sleep(LISTEN_POLL)

    @property
    def fds(self) -> tuple[int, ...]:
        return tuple(s.fileno() for s in self._sockets)

    def activate(self, ports: tuple[int, ...]) -> None:
        """New connections go to the instance listening on `ports`."""
        for proxy, port in zip(self._proxies, ports, strict=False):
            proxy.switch(port)

    async def drained(self, ports: tuple[int, ...], timeout: float) -> bool:
        results = [
            await proxy.drained(port, timeout)
            for proxy, port in zip(self._proxies, ports, strict=False)
        ]
        return all(results)

    async def close(self) -> None:
        for proxy in self._proxies:
            await proxy.close()
        for sock in self._sockets:
            sock.close()
        self._proxies.clear()
        self._sockets.clear()
