"""x-devenv.handover with real processes: during a reload the service's port
keeps answering, whether devenv relays connections (proxy) or the instances
inherit its listening socket (socket), and a broken new instance never takes
over from a good one."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from engine_support import (
    Recorder,
    fast_options,
    free_port,
    hang_guard,  # noqa: F401 (autouse fixture)
    make_stack,
    service,
    unit_info,
    wait_state,
    wait_until,
)

from devenv.config.model import ReadyProbe
from devenv.engine.supervisor import Engine
from devenv.events import ProbeResult, UnitState

S = UnitState
PY = sys.executable

SERVER = """
import http.server, os, signal, socket, sys, threading, time
VERSION = open("version").read().strip()
if VERSION == "broken":
    sys.exit(3)
print("booting", VERSION, flush=True)
time.sleep(0.3)  # a boot that takes a moment
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = f"{VERSION} {os.getpid()}".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
if os.environ.get("LISTEN_FDS") == "1":
    assert os.environ["LISTEN_PID"] == str(os.getpid())
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket = socket.socket(fileno=3)
else:
    server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
# a graceful stop, as real servers do: no new connections, the current one finished
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("serving", VERSION, flush=True)
server.serve_forever()
"""


def get(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


class Load:
    """Requests at a steady rate from a thread; every outcome counted."""

    def __init__(self, port: int, rate: float = 100.0) -> None:
        self.port = port
        self.rate = rate
        self.answers: list[str] = []
        self.failures: list[str] = []
        self._stop = False

    def run(self) -> None:
        gap = 1 / self.rate
        while not self._stop:
            began = time.monotonic()
            try:
                self.answers.append(get(self.port))
            except OSError as error:
                self.failures.append(repr(error))
            time.sleep(max(0.0, gap - (time.monotonic() - began)))

    def stop(self) -> None:
        self._stop = True


@contextlib.asynccontextmanager
async def steady_load(port: int) -> AsyncIterator[Load]:
    """A Load on `port` from a thread (the relay runs on this loop) while the
    block runs."""
    load = Load(port)
    runner = asyncio.get_running_loop().run_in_executor(None, load.run)
    try:
        yield load
    finally:
        load.stop()
        await runner


def handover_engine(tmp_path: Path, port: int, ready: ReadyProbe, mode: str) -> Engine:
    """An engine for SERVER (in tmp_path, reading `version`) as service web, with
    `x-devenv.handover: mode`, watching `version`."""
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "version").write_text("v1")
    web = service(
        "web",
        f"{PY} server.py",
        tmp_path,
        ports=(port,),
        ready=ready,
        watch=(tmp_path / "version",),
    )
    assert web.local is not None
    web = replace(web, local=replace(web.local, handover=mode))  # type: ignore[arg-type]
    return Engine(make_stack(tmp_path, web), fast_options(tmp_path, stop_grace=2.0))


@pytest.mark.parametrize("mode", ["proxy", "socket"])
async def test_no_request_fails_during_a_reload(tmp_path: Path, mode: str) -> None:
    port = free_port()
    ready = (
        ReadyProbe("log", "^serving", interval=0.02)
        if mode == "socket"
        else ReadyProbe("http", f"http://127.0.0.1:{port}/", interval=0.02)
    )
    engine = handover_engine(tmp_path, port, ready, mode)
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_state(engine, "web", S.READY)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        # (the relay runs on this loop: requests come from threads)
        assert (await asyncio.to_thread(get, port)).startswith("v1 ")
        async with steady_load(port) as load:
            await asyncio.sleep(0.3)
            for version in ("v2", "v3"):
                (tmp_path / "version").write_text(version)
                await wait_until(
                    lambda v=version: bool(load.answers) and load.answers[-1].startswith(v),  # type: ignore[misc]
                    15,
                    f"{version} answers",
                )
                await asyncio.sleep(0.3)
            (tmp_path / "version").write_text("broken")  # this one never comes up
            await wait_until(
                lambda: any("ended before it was ready" in r.text for r in engine.logs("web")),
                15,
                "the broken instance refused",
            )
            await asyncio.sleep(0.3)
        assert load.failures == [], load.failures[:5]
        assert len(load.answers) > 50
        assert load.answers[-1].startswith("v3 ")  # the good one still serves
        assert unit_info(engine, "web").state == S.READY
        assert S.STOPPING not in rec.states("web")  # never down
    finally:
        await engine.shutdown()
    with pytest.raises(OSError):
        get(port)  # the port is let go at the end


async def test_connections_go_to_a_new_instance_only_once_it_listens(tmp_path: Path) -> None:
    """A readiness check that passes before the program listens (a log line, a
    command) must not send the relay's connections to a port nobody takes; and
    once the switch is made, the new instance is not checked again at once."""
    port = free_port()
    # SERVER says "booting" 0.3 s before it listens
    engine = handover_engine(tmp_path, port, ReadyProbe("log", "^booting", interval=0.02), "proxy")
    rec = Recorder(engine)
    try:
        await engine.start()
        await wait_state(engine, "web", S.READY)
        await asyncio.wait_for(engine.watcher_ready(), 5)
        # (the relay runs on this loop: requests come from threads)
        for _ in range(500):
            if await asyncio.to_thread(port_answers, port):
                break
            await asyncio.sleep(0.02)
        async with steady_load(port) as load:
            await asyncio.sleep(0.2)
            probed_before = len([e for e in rec.events if isinstance(e, ProbeResult)])
            (tmp_path / "version").write_text("v2")
            await wait_until(
                lambda: bool(load.answers) and load.answers[-1].startswith("v2 "),
                15,
                "v2 answers",
            )
            await asyncio.sleep(0.3)
        assert load.failures == [], load.failures[:5]
        probed_after = [e for e in rec.events if isinstance(e, ProbeResult)][probed_before:]
        assert probed_after == []  # its readiness was checked just before the switch
        assert unit_info(engine, "web").health == "healthy"
    finally:
        await engine.shutdown()


def port_answers(port: int) -> bool:
    try:
        return bool(get(port))
    except OSError:
        return False
