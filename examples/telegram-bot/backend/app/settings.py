"""Settings from the environment, and the connections every part uses.

The code runs on two sets of libraries: Debian 12's in the image (FastAPI
0.92, pydantic 1, uvicorn 0.17, psycopg 3.1, redis 4.3) and PyPI's current
ones on a developer's machine (requirements.txt)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

VERSION = os.environ.get("APP_VERSION", "dev")


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


def database_url() -> str:
    return env("DATABASE_URL", "postgresql://telegram:telegram@postgres:5432/telegram")


def redis_url() -> str:
    return env("REDIS_URL", "redis://redis:6379/0")


def connect_database() -> Any:
    import psycopg
    from psycopg.rows import dict_row

    # UTF-8 whatever the server's encoding (a database made without a locale is
    # SQL_ASCII, where psycopg would hand back text as bytes)
    return psycopg.connect(
        database_url(), connect_timeout=3, row_factory=dict_row, client_encoding="utf8"
    )


def connect_redis() -> Any:
    import redis

    return redis.Redis.from_url(
        redis_url(), socket_connect_timeout=2, socket_timeout=5, decode_responses=True
    )


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(env("LOG_LEVEL", "info").upper())
