"""Telegram's webhook: POST /webhook with an Update, answered in the response.

Telegram lets a webhook answer an update with a Bot API call in the HTTP
response (`{"method": "sendMessage", ...}`), so the bot never calls
api.telegram.org itself: it runs offline, and with a real token behind a public
HTTPS address (registered once with setWebhook, see the README) it works as is.

POST /webhook   an Update -> {"method": "sendMessage", "chat_id", "text"}; the text
                comes from the backend (POST $BACKEND_URL/api/messages).
                With TELEGRAM_WEBHOOK_SECRET set, the header
                X-Telegram-Bot-Api-Secret-Token must carry it (401 otherwise).
                503 when the backend is away: Telegram delivers the update again.
GET  /health    backend and Redis reachable (503 otherwise)

Sessions live in Redis: `session:<chat>` (messages seen, last text; they expire
after SESSION_TTL seconds), and a per-chat rate limit (RATE_LIMIT a minute).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any

from fastapi import Body, FastAPI, Header, HTTPException, Response

from telegram_bot.settings import VERSION, backend_url, connect_redis, env

log = logging.getLogger("bot")
app = FastAPI(title="Telegram bot webhook", version=VERSION)


def call_backend(method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{backend_url()}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@app.get("/health")
def health(response: Response) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "ok", "service": "bot", "version": VERSION,
                            "pid": os.getpid(), "backend_url": backend_url()}
    try:
        backend = call_backend("GET", "/health", timeout=3)
        body["backend"] = "ok" if backend.get("status") == "ok" else backend.get("status")
    except (urllib.error.URLError, OSError, ValueError) as error:
        body["backend"] = f"error: {getattr(error, 'reason', error)}"
    try:
        client = connect_redis()
        try:
            client.ping()
        finally:
            client.close()
        body["redis"] = "ok"
    except Exception as error:
        body["redis"] = f"error: {error}"
    if body["backend"] != "ok" or body["redis"] != "ok":
        body["status"] = "degraded"
        response.status_code = 503
    return body


def remember(chat_id: int, text: str) -> int:
    """Count the chat's messages in its session; the count in this minute."""
    ttl = int(env("SESSION_TTL", "3600"))
    try:
        client = connect_redis()
        try:
            pipe = client.pipeline()
            key = f"session:{chat_id}"
            pipe.hincrby(key, "messages", 1)
            pipe.hset(key, mapping={"last_text": text[:200], "last_seen": int(time.time())})
            pipe.expire(key, ttl)
            minute = f"rate:{chat_id}:{int(time.time() // 60)}"
            pipe.incr(minute)
            pipe.expire(minute, 120)
            results = pipe.execute()
            return int(results[3])
        finally:
            client.close()
    except Exception as error:  # sessions are a convenience: carry on without them
        log.warning("redis: %s", error)
        return 0


@app.post("/webhook")
def webhook(
    update: dict = Body(...),
    x_telegram_bot_api_secret_token: str | None = Header(None),
) -> dict[str, Any]:
    # a plain `def`: FastAPI runs it in its thread pool, so the blocking call
    # to the backend holds no other update up
    secret = os.environ.get("TELEGRAM_WEBHOOK_SECRET", "")
    if secret and not hmac.compare_digest(secret, x_telegram_bot_api_secret_token or ""):
        raise HTTPException(401, "wrong or missing X-Telegram-Bot-Api-Secret-Token")
    message = update.get("message") or update.get("edited_message")
    if not message or "text" not in message:
        return {}  # stickers, joins, ...: nothing to answer
    chat_id = message["chat"]["id"]
    sender = message.get("from") or {}
    text = message["text"]
    if remember(chat_id, text) > int(env("RATE_LIMIT", "30")):
        return {"method": "sendMessage", "chat_id": chat_id, "text": "Slow down a little."}
    try:
        answer = call_backend("POST", "/api/messages", {
            "chat_id": chat_id,
            "user_id": sender.get("id", chat_id),
            "username": sender.get("username"),
            "text": text,
        })
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.warning("update %s: the backend at %s: %s", update.get("update_id"), backend_url(),
                    getattr(error, "reason", error))
        raise HTTPException(503, "the backend is unavailable; Telegram will retry") from None
    log.info("update %s: chat %s -> message %s", update.get("update_id"), chat_id, answer["id"])
    return {"method": "sendMessage", "chat_id": chat_id, "text": answer["reply"]}
