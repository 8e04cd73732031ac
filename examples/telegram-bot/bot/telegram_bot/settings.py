"""The bot's settings, and the check of its token."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

VERSION = os.environ.get("APP_VERSION", "dev")
TOKEN_SHAPE = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


def token_problem() -> str | None:
    """Why the bot cannot start with TELEGRAM_BOT_TOKEN as it is (None: it can)."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "").strip()
    where = "set it in .env (see .env.example)"
    if not token:
        return (
            "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and " + where + ". "
            "The bot never calls Telegram itself (it answers in the webhook's response), "
            "so for local work any token of the right shape will do, e.g. "
            "123456789:AAlocal-development-token-not-real00"
        )
    if not TOKEN_SHAPE.match(token):
        return (
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then at "
            "least 30 letters, digits, - or _, as @BotFather gives it): " + where
        )
    return None


def backend_url() -> str:
    return env("BACKEND_URL", "http://backend:8000").rstrip("/")


def connect_redis() -> Any:
    import redis

    return redis.Redis.from_url(
        env("REDIS_URL", "redis://redis:6379/1"),
        socket_connect_timeout=2,
        socket_timeout=5,
        decode_responses=True,
    )


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(env("LOG_LEVEL", "info").upper())
