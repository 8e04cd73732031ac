"""`devenv mcp` spoken to through the MCP SDK's own client over stdio: the
handshake, the tools, and a secret value that never comes back unmasked."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from control_support import (
    SECRET,
    cli,
    project,  # noqa: F401 (fixture)
    unit,
)
from engine_support import hang_guard  # noqa: F401 (autouse fixture)
from mcp import Client
from mcp.client.stdio import StdioServerParameters

TOOLS = {
    "list_services",
    "service_logs",
    "restart_service",
    "stop_service",
    "start_service",
    "wait_until_ready",
    "why_failed",
}


def server(directory: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "devenv", "mcp"], cwd=str(directory), env=env
    )


def payload(result: Any) -> Any:
    assert not result.is_error, result.content
    text = "".join(block.text for block in result.content)
    assert SECRET not in text  # masked in everything the tools return
    return json.loads(text)


def test_mcp_tools_against_a_running_session(project: Path) -> None:  # noqa: F811
    assert cli(project, "start", "-d", "api", "worker").returncode == 0
    assert cli(project, "start", "broken").returncode == 1
    old_pid = unit(project, "api")["pid"]

    async def talk() -> None:
        # mode="legacy": the initialize handshake, as today's agents speak it
        async with Client(server(project), mode="legacy", read_timeout_seconds=60) as client:
            assert client.server_info is not None and client.server_info.name == "devenv"
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == TOOLS

            listed = payload(await client.call_tool("list_services", {}))
            states = {s["name"]: s for s in listed["services"]}
            assert states["api"]["state"] == "ready" and states["api"]["mode"] == "local"
            assert states["broken"]["state"] == "crashed"
            assert states["never"]["state"] == "stopped"  # not started

            restarted = payload(await client.call_tool("restart_service", {"services": ["api"]}))
            assert restarted["done"] == "restart"
            ready = payload(
                await client.call_tool(
                    "wait_until_ready", {"services": ["api"], "timeout_seconds": 30}
                )
            )
            assert ready["outcome"] == "ready"
            new_pid = unit(project, "api")["pid"]
            assert new_pid != old_pid

            logs = payload(
                await client.call_tool(
                    "service_logs", {"service": "api", "since": "10m", "grep": "up pid="}
                )
            )
            lines = logs["lines"]
            assert any(f"up pid={new_pid}" in line for line in lines), lines
            assert all("token=••••••" in line for line in lines)  # the secret, masked

            why = payload(await client.call_tool("why_failed", {"service": "broken"}))
            (broken,) = why["units"]
            assert broken["failing"] and broken["exit_code"] == 3
            assert "cannot connect to the database" in " ".join(broken["last_output"])

            typo = await client.call_tool("service_logs", {"service": "apj"})
            assert typo.is_error and "did you mean api?" in typo.content[0].text

    anyio.run(talk)


def test_mcp_without_a_session_says_how_to_start_one(project: Path) -> None:  # noqa: F811
    async def talk() -> None:
        async with Client(server(project), mode="legacy", read_timeout_seconds=60) as client:
            result = await client.call_tool("list_services", {})
            assert result.is_error
            text = result.content[0].text
            assert "no devenv session is running" in text and "devenv start -d" in text

            # a session started later (or restarted) is found on the next call
            assert cli(project, "start", "-d", "api").returncode == 0
            listed = payload(await client.call_tool("list_services", {}))
            assert {s["name"]: s["state"] for s in listed["services"]}["api"] == "ready"
            assert cli(project, "stop").returncode == 0
            assert cli(project, "start", "-d", "worker").returncode == 0
            listed = payload(await client.call_tool("list_services", {}))
            assert {s["name"]: s["state"] for s in listed["services"]}["worker"] == "ready"

    anyio.run(talk)
