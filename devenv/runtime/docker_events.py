"""Docker as it really is: the events of one project's containers, followed in a
thread, and the state of the connection to the Engine.

One follower per project (`project_events`), shared by that project's container
units. It reads `/events` filtered by the project's Compose label and hands each
event to the unit that registered the container's id, on the engine's loop. The
events are what says that a container died (and with which code), and whether
someone else stopped or started it.

When the Engine cannot be reached (the socket is gone, a proxy died, the
daemon restarts), the follower says so (`on_connection("unreachable", why)`),
retries with a backoff from 0.25 s to 5 s, and once it is back reads the events
it missed (`since` the last one it saw: Docker replays them) and asks every unit
to look at its container again (`resync`). Nothing is reported as a crash
because the API went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from devenv.events import DockerState

log = logging.getLogger("devenv.docker")

PROJECT_LABEL = "com.docker.compose.project"
BACKOFF_FIRST = 0.25
BACKOFF_CAP = 5.0

OnConnection = Callable[[DockerState, str], None]


class ContainerListener(Protocol):
    """A container unit, as the follower sees it (called on the loop)."""

    def on_event(self, action: str, attributes: dict[str, str]) -> None: ...

    def resync(self) -> None:
        """The connection is back: look at the container's real state again."""
        ...


class ProjectEvents:
    def __init__(
        self,
        connect: Callable[[], Any],
        project: str,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._connect = connect
        self.project = project
        self._loop = loop
        self._listeners: dict[str, ContainerListener] = {}
        self._watchers: list[OnConnection] = []
        self._users = 0
        self._closed = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self.state: DockerState = "connecting"
        self.detail = ""
        self._following = asyncio.Event()  # loop side: events are being read
        self._connected = asyncio.Event()  # loop side: the API answers
        self._since: float | None = None
        self._seen_at_since: set[tuple[str, str]] = set()

    # --- users --------------------------------------------------------------------

    def acquire(self) -> None:
        """One more user (a running container, the engine); the first starts it."""
        self._users += 1
        if self._thread is None:
            self._since = time.time()
            self._thread = threading.Thread(
                target=self._follow, name=f"devenv-events-{self.project}", daemon=True
            )
            self._thread.start()

    def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            self.close()

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        _registry.pop(self.project, None)

    def watch_connection(self, callback: OnConnection) -> Callable[[], None]:
        self._watchers.append(callback)
        callback(self.state, self.detail)

        def forget() -> None:
            with contextlib.suppress(ValueError):
                self._watchers.remove(callback)

        return forget

    def register(self, container_id: str, listener: ContainerListener) -> None:
        self._listeners[container_id] = listener

    def unregister(self, container_id: str) -> None:
        self._listeners.pop(container_id, None)

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    async def following(self, timeout: float) -> bool:
        """Until events are being read (so none of what comes next is missed)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._following.wait()
        return self._following.is_set()

    async def wait_connected(self, timeout: float | None) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        return self._connected.is_set()

    # --- the thread ---------------------------------------------------------------

    def _follow(self) -> None:
        backoff = BACKOFF_FIRST
        first = True
        while not self._closed.is_set():
            try:
                client = self._connect()
                stream = client.api.events(
                    since=f"{self._since:.9f}" if self._since else None,
                    filters={"type": "container", "label": f"{PROJECT_LABEL}={self.project}"},
                    decode=True,
                )
                self._stream = stream
                self._call(self._connection, "connected", "", not first)
                first = False
                backoff = BACKOFF_FIRST
                for event in stream:
                    self._dispatch(event)
                if self._closed.is_set():
                    return
                reason = "the event stream ended"
            except Exception as error:  # any failure to reach or read the Engine
                if self._closed.is_set():
                    return
                from devenv.errors import DevenvError
                from devenv.runtime.docker_connect import short_reason

                # one line for the header and `devenv status` (no hint: the state says it)
                reason = error.message if isinstance(error, DevenvError) else short_reason(error)
            self._call(self._connection, "unreachable", reason, False)
            if self._closed.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_CAP)
            self._forget_client()

    def _forget_client(self) -> None:
        """A client whose connections broke is not reused: connect anew."""
        from devenv.runtime.docker_connect import forget_clients

        with contextlib.suppress(Exception):
            forget_clients()

    def _dispatch(self, event: dict[str, Any]) -> None:
        if event.get("Type", "container") != "container":
            return
        stamp = event.get("timeNano")
        action = str(event.get("Action") or event.get("status") or "")
        container = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
        if isinstance(stamp, int):
            moment = stamp / 1e9
            key = (container, action)
            if self._since is not None and moment <= self._since and key in self._seen_at_since:
                return  # replayed after a reconnect: seen already
            if self._since is None or moment > self._since:
                self._since, self._seen_at_since = moment, set()
            self._seen_at_since.add(key)
        attributes = dict((event.get("Actor") or {}).get("Attributes") or {})
        self._call(self._deliver, container, action, attributes)

    # --- on the loop ------------------------------------------------------------------

    def _deliver(self, container: str, action: str, attributes: dict[str, str]) -> None:
        listener = self._listeners.get(container)
        if listener is not None:
            try:
                listener.on_event(action, attributes)
            except Exception:
                log.exception("container event %s %s", action, container[:12])

    def _connection(self, state: DockerState, detail: str, again: bool) -> None:
        changed = (state, detail) != (self.state, self.detail)
        self.state, self.detail = state, detail
        if state == "connected":
            self._following.set()
            self._connected.set()
            if again:
                for listener in list(self._listeners.values()):
                    try:
                        listener.resync()
                    except Exception:
                        log.exception("resync")
        else:
            self._following.clear()
            self._connected.clear()
        if changed:
            for callback in list(self._watchers):
                callback(state, detail)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            self._loop.call_soon_threadsafe(fn, *args)


_registry: dict[str, ProjectEvents] = {}


def project_events(
    connect: Callable[[], Any], project: str, loop: asyncio.AbstractEventLoop
) -> ProjectEvents:
    """The follower of a project's events on this loop (made on first use)."""
    found = _registry.get(project)
    if found is None or found._loop is not loop or found._closed.is_set():
        found = _registry[project] = ProjectEvents(connect, project, loop)
    return found
