"""Settings and connections shared by the api, the worker and the migration."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

QUEUE = "demo:jobs"
DEFAULT_DATABASE_URL = "postgresql://app:dev@127.0.0.1:15432/app"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)


def redis_url() -> str:
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


def job_key(job_id: str) -> str:
    return f"demo:job:{job_id}"


def require_libraries() -> None:
    try:
        import psycopg  # noqa: F401
        import redis  # noqa: F401
    except ImportError as error:
        sys.exit(f"demo: {error}; install the demo extra: pip install -e '.[demo]'")


def connect_database(timeout: float = 2.0) -> Any:
    import psycopg

    return psycopg.connect(database_url(), connect_timeout=max(1, int(timeout)))


def connect_redis(timeout: float = 2.0) -> Any:
    import redis

    return redis.Redis.from_url(
        redis_url(), socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )


def check_database() -> str:
    """ "ok", or what went wrong, in one line."""
    try:
        with connect_database() as conn:
            conn.execute("select 1")
        return "ok"
    except Exception as error:  # reported, not raised: /health shows it
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


def retry(action: Any, what: str, timeout: float = 30.0) -> Any:
    """Call `action` until it works or `timeout` passes (services may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception as error:
            if time.monotonic() > deadline:
                raise
            print(f"{what}: {error}; retrying", file=sys.stderr, flush=True)
            time.sleep(0.5)
