"""`devenv mcp`: an MCP server over stdio (the official `mcp` SDK's MCPServer) that
lets a coding agent see and drive the project's running devenv session.

It attaches to the session through its control socket (a `RemoteEngine`) on the
first tool call, and again whenever the session was restarted; with no session
running, every tool answers with one line saying how to start one. Secret
values (from secret-looking variable names, as in the UI) are masked in
everything it returns, by the UI's own `SecretMasker`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from devenv.control.client import RemoteEngine
from devenv.control.oneshot import find_session, no_session
from devenv.engine.api import UnitInfo
from devenv.errors import DevenvError
from devenv.events import UnitState
from devenv.secrets import SecretMasker

MAX_LOG_LINES = 1_000  # per call: an agent's context is precious
DEFAULT_LOG_LINES = 200

INSTRUCTIONS = """\
devenv runs this project's development stack: infrastructure in Docker
containers, application services as local processes with hot reload. Use
list_services to see each service's state, health, ports and mode;
service_logs to read recent output (filter with since/grep); restart_service,
stop_service and start_service to act; wait_until_ready after a change; and
why_failed when a service is failed or crashed. Secret values are masked."""


class Link:
    """The connection to the session, opened on demand and renewed when the
    session it reached has ended."""

    def __init__(self, state_dir: Path | None, problem: str | None = None) -> None:
        self.state_dir = state_dir
        self.problem = problem  # why no project was found, told on every call
        self.engine: RemoteEngine | None = None

    async def get(self) -> RemoteEngine:
        if self.engine is not None and not self.engine.disconnected.is_set():
            return self.engine
        if self.engine is not None:
            await self.engine.close()
            self.engine = None
        if self.state_dir is None:
            raise ToolError(self.problem or "no devenv project here")
        session = find_session(self.state_dir)
        if session is None:
            raise ToolError(_no_session_text())
        engine = RemoteEngine(session.path, log_lines=MAX_LOG_LINES)
        try:
            await engine.connect()
        except DevenvError as error:
            raise ToolError(str(error)) from None
        self.engine = engine
        return engine

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.close()


def _no_session_text() -> str:
    return no_session().message


def _masker(engine: RemoteEngine) -> SecretMasker:
    return SecretMasker(engine.secrets())


def _unit_view(unit: UnitInfo, mask: SecretMasker) -> dict[str, Any]:
    uptime = (
        round(time.time() - unit.started_at, 1)
        if unit.started_at and unit.state.is_active
        else None
    )
    return {
        "name": unit.name,
        "service": unit.service,
        "state": unit.state.value,
        "health": unit.health,
        "ports": list(unit.ports),
        "mode": "local" if unit.kind == "process" else "container",
        "can_run_as": ["local" if k == "process" else "container" for k in unit.modes],
        "pid": unit.pid,
        "uptime_seconds": uptime,
        "restarts_after_crashes": unit.restarts,
        "reloads": unit.reloads,
        "exit_code": unit.exit_code,
        "detail": mask.mask(unit.detail),
        "depends_on": list(unit.depends_on),
    }


def _units_named(engine: RemoteEngine, names: list[str]) -> list[UnitInfo]:
    units = list(engine.units())
    if not names:
        return units
    wanted = set(names)
    chosen = [u for u in units if u.name in wanted or u.service in wanted]
    known = {u.service for u in units} | {u.name for u in units}
    for name in names:
        if name not in known:
            from devenv.config.model import unknown_service

            raise ToolError(str(unknown_service(name, sorted(known))))
    return chosen


def _since(value: str | None) -> float | None:
    if not value:
        return None
    from devenv.commands.args import since_of

    try:
        return since_of(value, time.time())
    except DevenvError as error:
        raise ToolError(str(error)) from None


def build_server(link: Link) -> MCPServer:
    server = MCPServer(name="devenv", instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True)

    async def command(method: str, services: list[str]) -> dict[str, Any]:
        engine = await link.get()
        names = [u.name for u in _units_named(engine, services)]
        try:
            if method == "start":
                await engine.start(list(services))
            elif method == "stop":
                await engine.stop(names)
            else:
                await engine.restart(names)
        except DevenvError as error:
            raise ToolError(_masker(engine).mask(str(error))) from None
        mask = _masker(engine)
        return {
            "done": method,
            "services": [_unit_view(u, mask) for u in _units_named(engine, services)],
        }

    @server.tool(annotations=read_only)
    async def list_services() -> dict[str, Any]:
        """Every service (one entry per replica) with its state (pending, waiting,
        starting, ready, unhealthy, stopped, crashed, backoff, completed, failed...),
        health, host ports, mode (local process or container), pid, uptime and
        restarts; and the session's own status (Docker connection)."""
        engine = await link.get()
        mask = _masker(engine)
        status = engine.status()
        return {
            "project": engine.project_name,
            "docker": status.docker,
            "docker_detail": status.docker_detail,
            "config_error": mask.mask(status.config_error or "") or None,
            "services": [_unit_view(u, mask) for u in engine.units()],
        }

    @server.tool(annotations=read_only)
    async def service_logs(
        service: str,
        since: str | None = None,
        grep: str | None = None,
        limit: int = DEFAULT_LOG_LINES,
    ) -> dict[str, Any]:
        """The recent output of a service (or of one replica, e.g. api-2): the last
        `limit` lines (at most 1000), only those from `since` on (a duration back
        from now such as 30s, 5m, 1h, or an ISO time), only those matching the
        regular expression `grep`. Each line: time, stream, text."""
        engine = await link.get()
        _units_named(engine, [service])  # an unknown name: the known ones, did-you-mean
        limit = max(1, min(limit, MAX_LOG_LINES))
        try:
            records = engine.logs(service, since=_since(since), grep=grep)
        except Exception as error:  # a bad regular expression
            raise ToolError(f"cannot read logs: {error}") from None
        mask = _masker(engine)
        shown = records[-limit:]
        return {
            "service": service,
            "lines": [
                f"{time.strftime('%H:%M:%S', time.localtime(r.ts))} {r.unit} {r.stream}: "
                f"{mask.mask(r.text)}"
                for r in shown
            ],
            "omitted_earlier": len(records) - len(shown),
        }

    @server.tool()
    async def restart_service(services: list[str]) -> dict[str, Any]:
        """Restart these services (or replicas); returns once the new instances are
        launched. Call wait_until_ready to know when they are ready."""
        return await command("restart", services)

    @server.tool()
    async def stop_service(services: list[str]) -> dict[str, Any]:
        """Stop these services (and the services that depend on them). The session
        keeps running; start_service brings them back."""
        return await command("stop", services)

    @server.tool()
    async def start_service(services: list[str]) -> dict[str, Any]:
        """Start these services (and what they depend on) in the running session."""
        return await command("start", services)

    @server.tool(annotations=read_only)
    async def wait_until_ready(
        services: list[str] | None = None, timeout_seconds: float = 60
    ) -> dict[str, Any]:
        """Wait until these services (default: all the session started) are ready,
        or completed for one-shot tasks. outcome: "ready", "failed" (the service
        and why: then call why_failed or service_logs) or "timeout"."""
        engine = await link.get()
        names = [u.name for u in _units_named(engine, services or [])] if services else []
        timeout = max(0.1, min(timeout_seconds, 600))
        result = await engine.wait(names, timeout)
        mask = _masker(engine)
        return {
            "outcome": result.outcome,
            "service": result.unit,
            "reason": mask.mask(result.reason),
        }

    @server.tool(annotations=read_only)
    async def why_failed(service: str) -> dict[str, Any]:
        """Why a service is failed, crashed, unhealthy or stuck waiting: its state and
        the reason devenv gives, its exit code, and its last lines of output."""
        engine = await link.get()
        units = _units_named(engine, [service])
        mask = _masker(engine)
        answers = []
        for unit in units:
            tail = engine.logs(unit.name, limit=30)
            reason = unit.detail or {
                UnitState.CRASHED: f"exited with code {unit.exit_code}",
                UnitState.UNHEALTHY: "its health check fails",
            }.get(unit.state, "")
            answers.append(
                {
                    "name": unit.name,
                    "state": unit.state.value,
                    "failing": unit.state
                    in (UnitState.FAILED, UnitState.CRASHED, UnitState.BACKOFF, UnitState.UNHEALTHY)
                    or unit.state == UnitState.WAITING,
                    "reason": mask.mask(reason),
                    "exit_code": unit.exit_code,
                    "health": unit.health,
                    "last_output": [f"{r.stream}: {mask.mask(r.text)}" for r in tail],
                }
            )
        return {"service": service, "units": answers}

    return server


def serve(args: argparse.Namespace) -> int:
    import anyio

    from devenv.control.paths import state_dir_of

    try:
        link = Link(state_dir_of(args))
    except DevenvError as error:  # no compose file here: say so on every call
        link = Link(None, problem=str(error))
    server = build_server(link)

    async def main() -> None:
        try:
            await server.run_stdio_async()
        finally:
            await link.close()

    anyio.run(main)
    return 0
