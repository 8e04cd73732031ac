"""`devenv attach --web`: the same UI in a browser, served by textual-serve on
127.0.0.1.

textual-serve runs a command per browser tab (here `devenv attach`, with
Textual's web driver) and relays it over a WebSocket; it has no access control
of its own. So a random token goes in the URL devenv prints: a request that
carries it gets it back as a cookie (HttpOnly, SameSite=Strict) for the page's
assets and WebSocket, and any other request is refused (403). The Host header
must name the loopback address we serve on, which stops a page elsewhere from
reaching the server through DNS rebinding.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from textual_serve.server import Server

COOKIE = "devenv_token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenServer(Server):
    """textual-serve's server with the token check in front of every route."""

    def __init__(self, command: str, *, port: int, token: str, title: str) -> None:
        super().__init__(command, host="127.0.0.1", port=port, title=title)
        self.token = token
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    def initialize_logging(self) -> None:
        # textual-serve logs every request at INFO with Rich; warnings are enough
        # on the user's terminal.
        import logging

        logging.basicConfig(level=logging.WARNING, format="devenv web: %(message)s")

    @property
    def url(self) -> str:
        return f"{self.public_url}/?token={self.token}"

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._check)
        return app

    @web.middleware
    async def _check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in self.hosts:
            return web.Response(status=403, text="forbidden: unexpected Host")
        given = request.query.get("token")
        if given is not None and hmac.compare_digest(given, self.token):
            response = await handler(request)
            if not response.prepared:  # not a WebSocket already under way
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
            return response
        cookie = request.cookies.get(COOKIE, "")
        if hmac.compare_digest(cookie, self.token):
            return await handler(request)
        return web.Response(
            status=403, text="forbidden: open the URL `devenv attach --web` printed"
        )

    async def on_shutdown(self, app: web.Application) -> None:
        """End the UIs of tabs still open: textual-serve leaves their processes
        running when the server stops."""
        import psutil

        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _gone, alive = psutil.wait_procs(children, timeout=3)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve prints its banner here, before the port is open

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl-C or SIGTERM; the URL is printed once the port listens."""
        self.debug = debug
        self.initialize_logging()
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            handle_signals=True,
            print=self._announce,
            access_log=None,
        )

    def _announce(self, _message: str) -> None:
        print(f"devenv UI in the browser: {self.url}", flush=True)
        print("Ctrl-C stops serving; the session keeps running (`devenv stop` ends it)", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_web(args: argparse.Namespace, port: int = 0) -> int:
    """Serve until Ctrl-C (or SIGTERM)."""
    from devenv.commands.background import project_argv

    command = shlex.join([sys.executable, "-m", "devenv", *project_argv(args), "attach"])
    server = TokenServer(
        command, port=port or free_port(), token=secrets.token_urlsafe(24), title="devenv"
    )
    server.serve()
    return 0
