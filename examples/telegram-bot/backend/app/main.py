"""The backend's HTTP API.

GET  /health         status, pid, version, database, redis, schema version (503 when degraded)
GET  /metrics        counters in Prometheus' text format
POST /api/messages   {"chat_id", "user_id", "username", "text"} -> 201 {"id", "reply"}
GET  /api/messages   the latest messages, with the bot's replies (?chat_id=, ?limit=)
GET  /api/stats      users, messages, messages per minute

The reply to a message is decided here (the bot only carries it): `/start`
greets, `/stats` answers with the counters, anything else is echoed with its
number.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from app.settings import VERSION, connect_database, connect_redis

log = logging.getLogger("backend")
app = FastAPI(title="Telegram bot backend", version=VERSION)
STARTED = time.time()
EVENTS = "events"  # Redis channel: one JSON message per stored message


class MessageIn(BaseModel):
    chat_id: int
    user_id: int
    username: str | None = None
    text: str = Field(..., min_length=1, max_length=4096)


def redis_counter(name: str, delta: int = 1) -> int | None:
    """Bump a counter in Redis; None when Redis is away (the count in
    PostgreSQL stays right, only the fast counter misses it)."""
    try:
        client = connect_redis()
        try:
            return int(client.incrby(f"stats:{name}", delta))
        finally:
            client.close()
    except Exception as error:
        log.warning("redis: %s", error)
        return None


@app.get("/health")
def health(response: Response) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "ok", "service": "backend", "version": VERSION,
                            "pid": os.getpid()}
    try:
        with connect_database() as conn:
            row = conn.execute(
                "SELECT max(version) AS version FROM schema_migrations"
            ).fetchone()
        body["database"], body["schema"] = "ok", row["version"]
    except Exception as error:
        body["database"] = f"error: {str(error).strip().splitlines()[0]}"
    try:
        client = connect_redis()
        try:
            client.ping()
        finally:
            client.close()
        body["redis"] = "ok"
    except Exception as error:
        body["redis"] = f"error: {error}"
    if body["database"] != "ok" or body["redis"] != "ok":
        body["status"] = "degraded"
        response.status_code = 503
    return body


def reply_to(conn: Any, message: MessageIn, number: int) -> str:
    text = message.text.strip()
    if text.startswith("/start"):
        name = f"@{message.username}" if message.username else "there"
        return f"Hello {name}! Send me anything and I will echo it. /stats shows the counters."
    if text.startswith("/stats"):
        stats = read_stats(conn)  # in this transaction: the count includes this message
        return f"{stats['users']} users, {stats['messages']} messages so far."
    return f"#{number}: {text}"


@app.post("/api/messages", status_code=201)
def create_message(message: MessageIn) -> dict[str, Any]:
    with connect_database() as conn:
        conn.execute(
            "INSERT INTO users (id, username) VALUES (%s, %s)"
            " ON CONFLICT (id) DO UPDATE SET username = coalesce(EXCLUDED.username, users.username),"
            " last_seen = now(), messages = users.messages + 1",
            (message.user_id, message.username),
        )
        row = conn.execute(
            "INSERT INTO messages (chat_id, user_id, text) VALUES (%s, %s, %s) RETURNING id",
            (message.chat_id, message.user_id, message.text),
        ).fetchone()
        reply = reply_to(conn, message, row["id"])
        conn.execute("UPDATE messages SET reply = %s WHERE id = %s", (reply, row["id"]))
    redis_counter("messages")
    publish({"id": row["id"], "chat_id": message.chat_id, "text": message.text, "reply": reply})
    log.info("message %s from %s in chat %s", row["id"], message.user_id, message.chat_id)
    return {"id": row["id"], "reply": reply}


def publish(event: dict[str, Any]) -> None:
    try:
        client = connect_redis()
        try:
            client.publish(EVENTS, json.dumps(event))
        finally:
            client.close()
    except Exception as error:
        log.warning("redis: %s", error)


@app.get("/api/messages")
def list_messages(
    chat_id: int | None = None, limit: int = Query(20, ge=1, le=200)
) -> list[dict[str, Any]]:
    with connect_database() as conn:
        rows = conn.execute(
            "SELECT m.id, m.chat_id, m.user_id, u.username, m.text, m.reply, m.created_at"
            " FROM messages m JOIN users u ON u.id = m.user_id"
            " WHERE %(chat)s::bigint IS NULL OR m.chat_id = %(chat)s"
            " ORDER BY m.id DESC LIMIT %(limit)s",
            {"chat": chat_id, "limit": limit},
        ).fetchall()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


def read_stats(conn: Any = None) -> dict[str, Any]:
    if conn is None:
        with connect_database() as own:
            return read_stats(own)
    row = conn.execute(
        "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM messages) AS messages,"
        " (SELECT count(*) FROM messages WHERE created_at > now() - interval '1 minute')"
        " AS last_minute"
    ).fetchone()
    return dict(row)


@app.get("/api/stats")
def stats() -> dict[str, Any]:
    return read_stats()


@app.get("/metrics", response_class=PlainTextResponse)
def metrics() -> str:
    try:
        counts = read_stats()
    except Exception as error:
        raise HTTPException(503, f"database: {error}") from None
    return (
        "# TYPE bot_users gauge\n"
        f"bot_users {counts['users']}\n"
        "# TYPE bot_messages_total counter\n"
        f"bot_messages_total {counts['messages']}\n"
        "# TYPE backend_uptime_seconds gauge\n"
        f"backend_uptime_seconds {time.time() - STARTED:.0f}\n"
    )
