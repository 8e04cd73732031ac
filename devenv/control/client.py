"""`EngineAPI` for a session in another process, through its control socket: what
`devenv attach` and `devenv mcp` give the TUI and the MCP tools.

On `connect()` it opens the session's event stream, whose first message is a
snapshot (units, status, secrets, each unit's recent log lines), and then
follows it, keeping a local mirror; the synchronous methods (`units()`,
`logs()`, `status()`, `secrets()`) answer from the mirror, and subscribers are
called on the caller's loop. Commands are HTTP calls. When the session ends the
mirror says so (`status().stopping`, a `Notice`) and `disconnected` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import secrets as _secrets
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from devenv.control import wire
from devenv.control.oneshot import answer, no_session
from devenv.control.paths import socket_path
from devenv.engine.api import EngineAPI, Kind, UnitInfo, Unsubscribe, WaitResult
from devenv.events import (
    EngineStatus,
    Event,
    LogBatch,
    LogLine,
    LogRecord,
    Notice,
    StatusChanged,
    Stream,
    filter_records,
)

RING_SIZE = 10_000  # lines kept per unit, as the engine's default


class RemoteEngine:
    """A session's engine, seen through its socket (see the module docstring)."""

    def __init__(self, path: Path, *, log_lines: int = 5_000, ring_size: int = RING_SIZE) -> None:
        self.path = path
        self.log_lines = log_lines
        self.ring_size = ring_size
        self.client_id = _secrets.token_hex(4)
        self.disconnected = asyncio.Event()
        self.session_pid = 0
        self._http: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._project = ""
        self._docker_host: str | None = None
        self._status = EngineStatus()
        self._units: dict[str, UnitInfo] = {}
        self._secrets: list[str] = []
        self._rings: dict[str, _Ring] = {}
        self._subscribers: list[Callable[[Event], None]] = []
        self._line_subscribers: list[Callable[[Event], None]] = []
        self._batch_subscribers: list[Callable[[LogBatch], None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def for_state_dir(cls, state_dir: Path, **kwargs: Any) -> RemoteEngine:
        return cls(socket_path(state_dir), **kwargs)

    # ---- connection ------------------------------------------------------------

    async def connect(self) -> None:
        """Open the event stream and load the snapshot; NoSession when nobody answers."""
        connector = aiohttp.UnixConnector(path=str(self.path))
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        )
        try:
            response = await self._http.get(
                "http://devenv/v1/events",
                params={"logs": str(self.log_lines), "client": self.client_id},
            )
        except aiohttp.ClientConnectionError:
            await self._http.close()
            raise no_session() from None
        if response.status != 200:
            data = await response.read()
            await self._http.close()
            answer(response.status, data)
        lines = _ndjson(response)
        first = await anext(lines)
        self._load_snapshot(first)
        self._reader = asyncio.create_task(self._follow(response, lines), name="remote-events")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        for task in list(self._background):
            task.cancel()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> RemoteEngine:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _load_snapshot(self, message: dict[str, Any]) -> None:
        if message.get("type") != "Snapshot":
            raise ValueError("the session's stream did not start with a snapshot")
        session = message["session"]
        self.session_pid = int(session.get("pid", 0))
        self._project = session["project"]
        self._docker_host = session.get("docker_host")
        self._status = wire.decode_as(EngineStatus, session["status"])
        self._units = {u.name: u for u in (wire.decode_as(UnitInfo, d) for d in session["units"])}
        self._secrets = list(session.get("secrets", []))
        for unit, records in message.get("logs", {}).items():
            ring = self._ring(unit)
            for data in records:
                ring.add(data["ts"], data["stream"], [data["text"]])

    async def _follow(self, response: aiohttp.ClientResponse, lines: Any) -> None:
        try:
            async for message in lines:
                self._dispatch(message)
        except (aiohttp.ClientError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            response.release()
            self._ended()

    def _ended(self) -> None:
        if self.disconnected.is_set():
            return
        self.disconnected.set()
        self._status = EngineStatus(
            project=self._status.project,
            pid=self._status.pid,
            docker=self._status.docker,
            docker_detail=self._status.docker_detail,
            stopping=True,
        )
        self._emit(StatusChanged(self._status))
        self._emit(Notice("the devenv session ended", level="warning"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "LogBatch":
            batch = LogBatch(
                message["unit"],
                message["service"],
                message["stream"],
                message["ts"],
                message["lines"],
            )
            self._on_batch(batch)
            return
        if kind == "Units":
            for data in message["units"]:
                unit = wire.decode_as(UnitInfo, data)
                self._units[unit.name] = unit
            return
        try:
            event = wire.decode(message)
        except (ValueError, TypeError, KeyError):
            return  # a newer session's message this client does not know
        if isinstance(event, StatusChanged):
            self._status = event.status
        self._emit(event)

    def _on_batch(self, batch: LogBatch) -> None:
        self._ring(batch.unit).add(batch.ts, batch.stream, batch.lines)
        for batch_callback in list(self._batch_subscribers):
            batch_callback(batch)
        if self._line_subscribers:
            for text in batch.lines:
                line = LogLine(LogRecord(batch.unit, batch.stream, text, batch.ts), batch.service)
                for callback in list(self._line_subscribers):
                    callback(line)

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            callback(event)

    def _ring(self, unit: str) -> _Ring:
        ring = self._rings.get(unit)
        if ring is None:
            ring = self._rings[unit] = _Ring(unit, self.ring_size)
        return ring

    # ---- EngineAPI: read side -----------------------------------------------------

    @property
    def project_name(self) -> str:
        return self._project

    @property
    def docker_host(self) -> str | None:
        return self._docker_host

    def status(self) -> EngineStatus:
        return self._status

    def subscribe(self, callback: Callable[[Event], None], *, lines: bool = True) -> Unsubscribe:
        self._subscribers.append(callback)
        if lines:
            self._line_subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)
            with contextlib.suppress(ValueError):
                self._line_subscribers.remove(callback)

        return unsubscribe

    def subscribe_log_batches(self, callback: Callable[[LogBatch], None]) -> Unsubscribe:
        self._batch_subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._batch_subscribers.remove(callback)

        return unsubscribe

    def units(self) -> Sequence[UnitInfo]:
        return list(self._units.values())

    def logs(
        self,
        unit: str | None = None,
        *,
        since: float | None = None,
        grep: str | None = None,
        limit: int | None = None,
    ) -> Sequence[LogRecord]:
        if unit is None:
            names = list(self._units)
        elif unit in self._units:
            names = [unit]
        else:
            names = [u.name for u in self._units.values() if u.service == unit]
            if not names:
                from devenv.config.model import unknown_service

                services = {u.service for u in self._units.values()}
                raise unknown_service(unit, sorted({*services, *self._units}))
        rings = [self._rings[n].records() for n in names if n in self._rings]
        records: list[LogRecord] = (
            rings[0] if len(rings) == 1 else list(heapq.merge(*rings, key=_ts))
        )
        return filter_records(records, since=since, grep=grep, limit=limit)

    def secrets(self) -> Sequence[str]:
        return list(self._secrets)

    # ---- EngineAPI: commands --------------------------------------------------------

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        if self._http is None:
            raise no_session()
        try:
            async with self._http.post(f"http://devenv{path}", json=body) as response:
                data = await response.read()
                return answer(response.status, data)
        except aiohttp.ClientConnectionError:
            raise no_session() from None

    async def start(self, services: Sequence[str] = ()) -> None:
        await self._post("/v1/start", {"services": list(services)})

    async def stop(self, units: Sequence[str] = ()) -> None:
        await self._post("/v1/stop", {"units": list(units)})

    async def restart(self, units: Sequence[str] = ()) -> None:
        await self._post("/v1/restart", {"units": list(units)})

    async def wait(self, units: Sequence[str] = (), timeout: float | None = None) -> WaitResult:
        data = await self._post("/v1/wait", {"units": list(units), "timeout": timeout})
        result: WaitResult = wire.decode_as(WaitResult, data)
        return result

    async def set_mode(self, service: str, mode: Kind) -> None:
        await self._post("/v1/mode", {"service": service, "mode": mode})

    async def shutdown(self, force: bool = False) -> None:
        """Stop the session (everything in order; with force, at once) and wait
        until it has ended."""
        if self.disconnected.is_set():
            return
        with contextlib.suppress(Exception):
            await self._post("/v1/shutdown", {"force": force})
        await self.disconnected.wait()

    def request_stats(self, enabled: bool) -> None:
        task = asyncio.get_running_loop().create_task(
            self._post("/v1/stats", {"enabled": enabled, "client": self.client_id})
        )
        self._background.add(task)
        task.add_done_callback(_forget(self._background))


class _Ring:
    """One unit's recent output as the batches it came in (no object per line
    while a service floods), bounded to about `size` lines."""

    def __init__(self, unit: str, size: int) -> None:
        self.unit = unit
        self.size = size
        self.chunks: deque[tuple[float, Stream, list[str]]] = deque()
        self.lines = 0

    def add(self, ts: float, stream: Stream, lines: list[str]) -> None:
        self.chunks.append((ts, stream, lines))
        self.lines += len(lines)
        while self.lines - len(self.chunks[0][2]) >= self.size:
            self.lines -= len(self.chunks.popleft()[2])

    def records(self) -> list[LogRecord]:
        unit = self.unit
        records = [
            LogRecord(unit, stream, text, ts) for ts, stream, lines in self.chunks for text in lines
        ]
        return records[-self.size :]


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a failed stats request only matters to nobody

    return done


async def _ndjson(response: aiohttp.ClientResponse) -> Any:
    """The objects of an NDJSON body; lines of any length (a snapshot is one)."""
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        if b"\n" not in chunk:
            continue
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            if line:
                yield json.loads(line)


def _ts(record: LogRecord) -> float:
    return record.ts


def _conforms(engine: RemoteEngine) -> EngineAPI:
    """mypy checks here that RemoteEngine implements the front ends' Protocol."""
    return engine
