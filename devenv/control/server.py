"""The control socket's server: `EngineAPI` over HTTP on a unix socket, inside the
session's process, on the engine's loop (aiohttp's web server on a socket we
bind ourselves, so that it is 0600 from the moment it has a name).

Routes, bodies and the stream format are described in `devenv.control`. Every
answer is JSON; values of the contract are encoded by `devenv.control.wire`.
Nothing is masked here: a client of the same user may see what the session
sees, and front ends mask (the TUI, `devenv mcp`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import os
import signal
import socket
import struct
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from devenv.control import wire
from devenv.control.paths import ensure_private_dir, socket_path
from devenv.engine.api import EngineAPI, UnitInfo
from devenv.errors import DevenvError, SelectionError
from devenv.events import Event, LogBatch, LogRecord, StatusChanged, filter_records, grep_pattern

log = logging.getLogger("devenv.control")

API_VERSION = 1
SNAPSHOT_LOG_LINES = 5_000  # per unit, in a stream's first message (`?logs=N` to change)
FEED_MAX_LINES = 100_000  # output lines waiting for one slow client before the oldest go
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SessionRunning(DevenvError):
    """Another session answers on this project's control socket."""


def _default_exit(force: bool) -> None:
    # The same path as `devenv stop` and Ctrl-C: the session's own signal handling
    # stops everything in order; a second signal kills at once.
    os.kill(os.getpid(), signal.SIGTERM)
    if force:
        os.kill(os.getpid(), signal.SIGINT)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Feed:
    """One streaming client: lines waiting to be written, bounded."""

    def __init__(
        self, *, events: bool, on_batch: Callable[[LogBatch, str], Iterable[str]] | None
    ) -> None:
        self.events = events
        self.on_batch = on_batch
        self.pending: deque[tuple[int, str]] = deque()  # (log lines in it, json line)
        self.pending_lines = 0
        self.dropped = 0
        self.wake = asyncio.Event()
        self.closed = False

    def put(self, text: str, lines: int = 0) -> None:
        self.pending.append((lines, text))
        self.pending_lines += lines
        while self.pending_lines > FEED_MAX_LINES:
            # The client cannot keep up: the oldest output goes (it stays in the
            # engine's ring buffer); state events are never dropped.
            index = next((i for i, (n, _) in enumerate(self.pending) if n), None)
            if index is None:
                break
            n, _ = self.pending[index]
            del self.pending[index]
            self.pending_lines -= n
            self.dropped += n
        self.wake.set()

    def take(self) -> str:
        parts = [text for _, text in self.pending]
        self.pending.clear()
        self.pending_lines = 0
        if self.dropped:
            note = {
                "type": "Notice",
                "text": f"{self.dropped} log lines not sent: this client fell behind",
                "level": "warning",
                "unit": None,
                "ts": time.time(),
            }
            parts.insert(0, _dumps(note))
            self.dropped = 0
        return "\n".join(parts) + "\n" if parts else ""


class _Hub:
    """The server's one subscription to the engine, fanned out to every feed.

    Events of one loop turn are sent together, preceded by a `Units` message
    with the new snapshot of every unit they concern, so a client's mirror is
    up to date before it hands the events on."""

    def __init__(self, engine: EngineAPI) -> None:
        self.engine = engine
        self.feeds: set[_Feed] = set()
        self._tick: list[tuple[Event, str | None]] = []
        self._dirty: set[str] = set()
        self._all_dirty = False
        self._scheduled = False
        self._off: list[Callable[[], None]] = []

    def start(self) -> None:
        self._off = [
            self.engine.subscribe(self._on_event, lines=False),
            self.engine.subscribe_log_batches(self._on_batch),
        ]

    def close(self) -> None:
        for off in self._off:
            off()
        for feed in self.feeds:
            feed.closed = True
            feed.wake.set()

    def _on_event(self, event: Event) -> None:
        if not self.feeds:
            return
        unit = getattr(event, "unit", None)
        if isinstance(unit, str):
            self._dirty.add(unit)
        elif isinstance(event, StatusChanged):
            self._all_dirty = True
        self._tick.append((event, _dumps(wire.encode(event))))
        self._schedule()

    def _on_batch(self, batch: LogBatch) -> None:
        if self.feeds:
            self._tick.append((batch, None))
            self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        tick, self._tick = self._tick, []
        units_line = None
        if self._dirty or self._all_dirty:
            units = [u for u in self.engine.units() if self._all_dirty or u.name in self._dirty]
            units_line = _dumps({"type": "Units", "units": wire.encode(units)})
            self._dirty.clear()
            self._all_dirty = False
        raw: dict[int, str] = {}
        for feed in self.feeds:
            if units_line is not None and feed.events:
                feed.put(units_line)
            for event, text in tick:
                if text is not None:
                    if feed.events:
                        feed.put(text)
                elif feed.on_batch is not None and isinstance(event, LogBatch):
                    key = id(event)
                    if key not in raw:
                        raw[key] = _dumps(wire.encode(event))
                    for line in feed.on_batch(event, raw[key]):
                        feed.put(line, len(event.lines))


class ControlServer:
    """Serves `engine` on the project's control socket while in use:

        async with ControlServer(engine, state_dir, services=services):
            ...   # the session

    `services` is what the session was started with (empty: all), so that
    `wait` with no names waits for what was asked for, not for every service.
    """

    def __init__(
        self,
        engine: EngineAPI,
        state_dir: Path,
        *,
        services: Sequence[str] = (),
        request_exit: Callable[[bool], None] = _default_exit,
    ) -> None:
        self.engine = engine
        self.state_dir = state_dir
        self.path = socket_path(state_dir)
        self.request_exit = request_exit
        self.started_services: set[str] | None = set(services) or None  # None: all
        self._hub = _Hub(engine)
        self._runner: web.AppRunner | None = None
        self._inode: int | None = None
        self._stats_wanted: set[str] = set()

    # ---- life ------------------------------------------------------------------

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        sock = self._bind()
        app = web.Application(middlewares=[self._peer_check, self._errors])
        app.add_routes(
            [
                web.get("/v1/session", self._session),
                web.get("/v1/status", self._status),
                web.get("/v1/units", self._units),
                web.get("/v1/units/{name}", self._unit),
                web.get("/v1/secrets", self._secrets),
                web.get("/v1/logs", self._logs),
                web.get("/v1/events", self._events),
                web.post("/v1/start", self._start),
                web.post("/v1/stop", self._stop),
                web.post("/v1/restart", self._restart),
                web.post("/v1/wait", self._wait),
                web.post("/v1/mode", self._mode),
                web.post("/v1/shutdown", self._shutdown),
                web.post("/v1/stats", self._stats),
            ]
        )
        # handler_cancellation: a client that goes away (Ctrl-C on `devenv wait`)
        # cancels what it was waiting for.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._hub.start()

    async def close(self) -> None:
        self._hub.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            with contextlib.suppress(Exception):
                await runner.cleanup()
        self._unlink()

    def _bind(self) -> socket.socket:
        """Listen on the socket path: 0600 before it has its name (bound in a
        private temporary directory, then renamed into place), refusing when a
        live session answers there and replacing a stale one."""
        path = self.path
        ensure_private_dir(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            if socket_answers(path):
                raise SessionRunning(
                    f"a devenv session is already running for this project ({path})",
                    hint="use it (`devenv status`, `devenv attach`) or stop it: `devenv stop`",
                )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # left by a session that was killed
        staging = Path(tempfile.mkdtemp(prefix=".control-", dir=path.parent))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            temp = staging / "s"
            sock.bind(os.fspath(temp))
            os.chmod(temp, 0o600)
            sock.listen(128)
            os.rename(temp, path)
        except BaseException:
            sock.close()
            raise
        finally:
            with contextlib.suppress(OSError):
                for leftover in staging.iterdir():
                    leftover.unlink()
                staging.rmdir()
        sock.setblocking(False)
        self._inode = path.stat().st_ino
        return sock

    def _unlink(self) -> None:
        """Remove the socket if it is still ours (not one a later session bound)."""
        with contextlib.suppress(OSError):
            if self._inode is not None and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        self._inode = None

    # ---- middlewares -------------------------------------------------------------

    @web.middleware
    async def _peer_check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.family == socket.AF_UNIX:
            size = struct.calcsize("3i")
            _pid, uid, _gid = struct.unpack(
                "3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
            )
            if uid != os.geteuid():
                log.warning("control socket: refused a peer with uid %d", uid)
                return web.json_response(
                    {"error": "refused: this session belongs to another user"}, status=403
                )
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except DevenvError as error:
            status = 404 if isinstance(error, SelectionError) else 400
            return web.json_response(
                {
                    "error": str(error),
                    "message": error.message,
                    "hint": error.hint,
                    "kind": type(error).__name__,
                },
                status=status,
            )
        except (ValueError, TypeError, KeyError) as error:
            return web.json_response({"error": f"bad request: {error}"}, status=400)

    # ---- reading ---------------------------------------------------------------------

    def session_info(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "api": API_VERSION,
            "pid": os.getpid(),
            "project": engine.project_name,
            "docker_host": engine.docker_host,
            "status": wire.encode(engine.status()),
            "units": wire.encode(list(engine.units())),
            "secrets": list(engine.secrets()),
            "services": sorted(self.started_services) if self.started_services else [],
        }

    async def _session(self, request: web.Request) -> web.Response:
        return web.json_response(self.session_info(), dumps=_dumps)

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(wire.encode(self.engine.status()), dumps=_dumps)

    async def _units(self, request: web.Request) -> web.Response:
        return web.json_response(wire.encode(list(self.engine.units())), dumps=_dumps)

    async def _unit(self, request: web.Request) -> web.Response:
        names = set(self.resolve_units([request.match_info["name"]]))
        units = [u for u in self.engine.units() if u.name in names]
        return web.json_response(wire.encode(units), dumps=_dumps)

    async def _secrets(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.engine.secrets()))

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        """The ring buffer (`unit` repeatable: unit or service names; none: all),
        filtered; with `follow=1`, NDJSON that goes on with new lines."""
        query = request.query
        names = [n for n in query.getall("unit", []) if n]
        since = float(query["since"]) if query.get("since") else None
        grep = query.get("grep") or None
        limit = int(query["limit"]) if query.get("limit") else None
        pattern = grep_pattern(grep)
        wanted = set(self.resolve_units(names)) if names else None  # unknown: an error
        if len(names) == 1 or not names:
            records = self.engine.logs(
                names[0] if names else None, since=since, grep=grep, limit=limit
            )
        else:
            merged = heapq.merge(
                *(self.engine.logs(n, since=since, grep=grep) for n in names), key=_ts
            )
            records = filter_records(merged, limit=limit)
        if query.get("follow") not in ("1", "true"):
            return web.json_response(wire.encode(list(records)), dumps=_dumps)

        def select(batch: LogBatch, _raw: str) -> Iterable[str]:
            if wanted is not None and batch.unit not in wanted:
                return ()
            return [
                _dumps(
                    {
                        "type": "LogRecord",
                        "unit": batch.unit,
                        "stream": batch.stream,
                        "text": text,
                        "ts": batch.ts,
                    }
                )
                for text in batch.lines
                if pattern is None or pattern.search(text)
            ]

        feed = _Feed(events=False, on_batch=select)
        for record in records:  # same loop turn as subscribing: nothing lost, nothing twice
            feed.put(_dumps(wire.encode(record)))
        return await self._stream(request, feed)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """NDJSON: first a `Snapshot` (session, then each unit's last `logs`
        lines), then every event, `Units` updates and (unless `batches=0`) log
        batches, as they happen."""
        query = request.query
        lines = int(query.get("logs", SNAPSHOT_LOG_LINES))
        batches = query.get("batches", "1") not in ("0", "false")
        client = query.get("client", "")
        snapshot = {
            "type": "Snapshot",
            "session": self.session_info(),
            "logs": {
                u.name: wire.encode(list(self.engine.logs(u.name, limit=lines)))
                for u in self.engine.units()
            }
            if lines > 0
            else {},
        }
        feed = _Feed(events=True, on_batch=(lambda _b, raw: (raw,)) if batches else None)
        feed.put(_dumps(snapshot))
        try:
            return await self._stream(request, feed)
        finally:
            if client and client in self._stats_wanted:
                self._stats_wanted.discard(client)
                if not self._stats_wanted:
                    self.engine.request_stats(False)

    async def _stream(self, request: web.Request, feed: _Feed) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        self._hub.feeds.add(feed)
        try:
            while not feed.closed:
                await feed.wake.wait()
                feed.wake.clear()
                data = feed.take()
                if data:
                    await response.write(data.encode())
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self._hub.feeds.discard(feed)
        return response

    # ---- commands ------------------------------------------------------------------

    def resolve_units(self, names: Sequence[str]) -> list[str]:
        """Unit names for service or unit names; an unknown one raises SelectionError
        naming the known ones (with a did-you-mean)."""
        units = list(self.engine.units())
        by_service: dict[str, list[str]] = {}
        for u in units:
            by_service.setdefault(u.service, []).append(u.name)
        unit_names = {u.name for u in units}
        found: list[str] = []
        for name in names:
            if name in by_service:
                found += [n for n in by_service[name] if n not in found]
            elif name in unit_names:
                if name not in found:
                    found.append(name)
            else:
                from devenv.config.model import unknown_service

                raise unknown_service(name, sorted({*by_service, *unit_names}))
        return found

    def resolve_services(self, names: Sequence[str]) -> list[str]:
        service_of = {u.name: u.service for u in self.engine.units()}
        return list(dict.fromkeys(service_of[n] for n in self.resolve_units(names)))

    def selected_units(self) -> list[str]:
        """The units of the services this session was asked to run, and of what
        they depend on."""
        units = list(self.engine.units())
        if self.started_services is None:
            return [u.name for u in units]
        needs: dict[str, set[str]] = {}
        for u in units:
            needs.setdefault(u.service, set()).update(u.depends_on)
        chosen: set[str] = set()
        todo = list(self.started_services)
        while todo:
            name = todo.pop()
            if name not in chosen:
                chosen.add(name)
                todo += needs.get(name, ())
        return [u.name for u in units if u.service in chosen]

    async def _start(self, request: web.Request) -> web.Response:
        names = _names(await _body(request), "services")
        services = self.resolve_services(names)
        if not services:
            self.started_services = None
        elif self.started_services is not None:
            self.started_services.update(services)
        await self.engine.start(services)
        return web.json_response({"ok": True, "services": services})

    async def _stop(self, request: web.Request) -> web.Response:
        units = self.resolve_units(_names(await _body(request), "units"))
        await self.engine.stop(units)
        return web.json_response({"ok": True, "units": units})

    async def _restart(self, request: web.Request) -> web.Response:
        units = self.resolve_units(_names(await _body(request), "units"))
        await self.engine.restart(units)
        info = {u.name: u for u in self.engine.units()}
        return web.json_response({"ok": True, "units": [_brief(info[n]) for n in units]})

    async def _wait(self, request: web.Request) -> web.Response:
        body = await _body(request)
        names = _names(body, "units")
        units = self.resolve_units(names) if names else self.selected_units()
        timeout = body.get("timeout")
        if timeout is not None and not isinstance(timeout, int | float):
            raise ValueError("timeout must be a number of seconds")
        result = await self.engine.wait(units, timeout)
        return web.json_response(wire.encode(result))

    async def _mode(self, request: web.Request) -> web.Response:
        body = await _body(request)
        service, mode = body["service"], body["mode"]
        if mode not in ("process", "container"):
            raise ValueError("mode must be 'process' or 'container'")
        (service,) = self.resolve_services([service])
        await self.engine.set_mode(service, mode)
        return web.json_response({"ok": True})

    async def _shutdown(self, request: web.Request) -> web.Response:
        body = await _body(request)
        self.request_exit(bool(body.get("force", False)))
        return web.json_response({"ok": True, "pid": os.getpid()}, status=202)

    async def _stats(self, request: web.Request) -> web.Response:
        body = await _body(request)
        client = str(body.get("client", ""))
        before = bool(self._stats_wanted)
        if body.get("enabled"):
            self._stats_wanted.add(client)
        else:
            self._stats_wanted.discard(client)
        if bool(self._stats_wanted) != before:
            self.engine.request_stats(bool(self._stats_wanted))
        return web.json_response({"ok": True})


def _brief(unit: UnitInfo) -> dict[str, Any]:
    return {"name": unit.name, "state": unit.state.value, "pid": unit.pid, "detail": unit.detail}


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _names(body: dict[str, Any], key: str) -> list[str]:
    names = body.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{key} must be a list of names")
    return names


def socket_answers(path: Path, timeout: float = 1.0) -> bool:
    """Whether a server accepts connections on the socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except OSError:
            return False
    return True


def _ts(record: LogRecord) -> float:
    return record.ts
