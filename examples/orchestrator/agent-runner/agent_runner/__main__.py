"""agent-runner: "agent" steps of a workflow (internal, :8086; two replicas by
default, AGENT_WORKER_REPLICAS).

It takes steps from tasks:agent in Redis and reports a completion on
wf:results, like the real service that calls OpenAI. This one is a stand-in:
it needs OPENAI_API_KEY to be set (as the real one does, so a missing key is
found in development, not in production) but never calls any API. Its
"completion" is computed locally and cached in Redis (agent:cache:<sha256>),
so a repeated prompt is answered from the cache, as the real one does to save
tokens.

A step's input: {"prompt": "...", "model": "gpt-4o-mini"}.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

VERSION = "dev"
SERVICE = "agent-runner"
TASKS = "tasks:agent"
RESULTS = "wf:results"
CACHE_PREFIX = "agent:cache:"


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def complete(prompt: str, model: str) -> dict[str, Any]:
    """The stand-in for a chat completion: a deterministic answer built from
    the prompt, with a token count as the API reports one."""
    words = prompt.split()
    summary = " ".join(words[:8]) + (" ..." if len(words) > 8 else "")
    return {
        "model": model,
        "stand_in": True,  # no API was called
        "completion": f"[{model}] {len(words)} words considered. Summary: {summary}",
        "usage": {"prompt_tokens": len(words), "completion_tokens": min(len(words), 8) + 4},
    }


class Health(BaseHTTPRequestHandler):
    client: redis.Redis
    handled = 0

    def do_GET(self) -> None:
        if self.path != "/health":
            self.send_error(404)
            return
        body: dict[str, Any] = {"service": SERVICE, "version": VERSION, "pid": os.getpid()}
        try:
            self.client.ping()
            body["redis"] = "ok"
            body["status"] = "ok"
            code = 200
        except redis.RedisError as error:
            body["redis"] = str(error)
            body["status"] = "degraded"
            code = 503
        body["handled"] = Health.handled
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # health probes every 100 ms would drown the log


def main() -> int:
    if not os.environ.get("OPENAI_API_KEY", "").strip():
        print(
            "agent-runner: OPENAI_API_KEY is not set. Add it to .env "
            "(`devenv init` creates one from .env.example); this stand-in never calls "
            "the API, so any value works in development.",
            file=sys.stderr,
        )
        return 2
    port = int(os.environ.get("PORT") or 8086)
    host, _, redis_port = os.environ.get("REDIS_ADDR", "redis:6379").rpartition(":")
    client = redis.Redis(host=host, port=int(redis_port), socket_timeout=10)
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())

    Health.client = client
    server = ThreadingHTTPServer(("0.0.0.0", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = f"{SERVICE} pid {os.getpid()}"
    log(f"{SERVICE} {VERSION} listening on :{port} (pid {os.getpid()}); model {model} (stand-in)")
    log(f"waiting for tasks on {TASKS}")
    while not stopping.is_set():
        try:
            item = client.blpop([TASKS], timeout=1)
        except redis.RedisError as error:
            log(f"redis: {error}; retrying in 1s")
            stopping.wait(1)
            continue
        if item is None:
            continue
        task = json.loads(item[1])
        run, position = task["run_id"], task["position"]
        step = task.get("input") or {}
        prompt = str(step.get("prompt", ""))
        key = CACHE_PREFIX + hashlib.sha256(f"{model}\0{prompt}".encode()).hexdigest()
        cached = client.get(key)
        if cached is not None:
            answer = {**json.loads(cached), "cached": True}
        else:
            answer = complete(prompt, str(step.get("model") or model))
            client.set(key, json.dumps(answer), ex=3600)
        status = "done" if prompt else "failed"
        if not prompt:
            answer = {"error": 'input needs {"prompt": ...}'}
        result = {"run_id": run, "position": position, "status": status, "result": answer}
        result["worker"] = name
        client.rpush(RESULTS, json.dumps(result))
        Health.handled += 1
        log(
            f"run {run} step {position}: {status}, {len(prompt.split())} words"
            + (" (from the cache)" if answer.get("cached") else "")
        )
    server.shutdown()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
