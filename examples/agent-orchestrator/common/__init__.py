"""What the api, the scheduler and the workers share: settings from the
environment, logging, the PostgreSQL and Redis connections, and a small
/health server for the two services that have no web framework of their own.

Written for two sets of libraries: Debian 12's (the images: FastAPI 0.92,
pydantic 1, uvicorn 0.17, psycopg 3.1, redis 4.3, APScheduler 3.9) and
PyPI's current ones (a developer's machine, requirements.txt)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = os.environ.get("APP_VERSION", "dev")


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


def database_url() -> str:
    return env("DATABASE_URL", "postgresql://orchestrator:orchestrator@postgres:5432/orchestrator")


def redis_url() -> str:
    return env("REDIS_URL", "redis://redis:6379/0")


def listen_address() -> tuple[str, int]:
    """HOST and PORT (devenv gives each local replica its own PORT)."""
    return env("HOST", "0.0.0.0"), int(env("PORT", "8080"))


def instance_name(service: str) -> str:
    """`worker-2` under devenv, the container's hostname under Compose; plus the pid."""
    unit = os.environ.get("DEVENV_UNIT") or f"{service}@{socket.gethostname()}"
    return f"{unit}:{os.getpid()}"


def setup_logging(service: str) -> logging.Logger:
    """LOG_LEVEL (default info); LOG_FORMAT=json for one JSON object a line."""
    level = env("LOG_LEVEL", "info").upper()
    handler = logging.StreamHandler(sys.stdout)
    if env("LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.ERROR))  # tick skips
    return logging.getLogger(service)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                "level": record.levelname.lower(),
                "service": self.service,
                "msg": record.getMessage(),
            }
        )


def connect_database(**kwargs: Any) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    # UTF-8 whatever the server's encoding (a database made without a locale is
    # SQL_ASCII, where psycopg would hand back text as bytes)
    return psycopg.connect(
        database_url(), connect_timeout=3, row_factory=dict_row, client_encoding="utf8", **kwargs
    )


def connect_redis() -> Any:
    import redis

    return redis.Redis.from_url(
        redis_url(), socket_connect_timeout=2, socket_timeout=5, decode_responses=True
    )


def check_database() -> str:
    try:
        with connect_database() as conn:
            conn.execute("SELECT 1")
        return "ok"
    except Exception as error:
        return f"error: {str(error).strip().splitlines()[0] if str(error).strip() else error!r}"


def check_redis() -> str:
    try:
        client = connect_redis()
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as error:
        return f"error: {error}"


def schema_versions() -> list[str]:
    """The migrations applied on the database's first start (migrations/*.sql)."""
    with connect_database() as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [row["version"] for row in rows]


def serve_health(report: Callable[[], tuple[bool, dict[str, Any]]]) -> ThreadingHTTPServer:
    """GET /health on HOST:PORT, in a thread: 200 with report()'s body when it
    says healthy, else 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/health":
                self.send_json(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})
                return
            healthy, body = report()
            self.send_json(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE, body)

        def send_json(self, status: HTTPStatus, body: Any) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the prober gave up (its timeout): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:  # no access log
            pass

    server = ThreadingHTTPServer(listen_address(), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def stop_event(*also: threading.Event) -> threading.Event:
    """Set on SIGTERM or SIGINT (and `also` with it, to wake their waiters): a
    graceful stop (finish the job in hand)."""
    event = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        logging.getLogger().info("%s: stopping", signal.Signals(signum).name)
        event.set()
        for other in also:
            other.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return event


# The kinds of job the workers know (workers/runner.py has what each does).
JOB_KINDS = ("echo", "sleep", "summarise", "fail")
NEW_JOB_CHANNEL = "jobs:new"  # the api publishes a new job's id: wakes the workers
WORKER_KEY_PREFIX = "worker:"  # each worker's heartbeat, with a TTL
