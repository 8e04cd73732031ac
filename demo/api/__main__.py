"""`python -m demo.api --port N`: the demo HTTP api.

GET /health      -> {"status", "pid", "database", "redis"} (503 when degraded)
POST /jobs       -> queue the JSON body as a job in Redis: {"id", "status"}
GET /jobs/<id>   -> the job's status, and its result once the worker is done
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from demo.common import (
    QUEUE,
    check_database,
    check_redis,
    connect_database,
    connect_redis,
    job_key,
    require_libraries,
)


class Handler(BaseHTTPRequestHandler):
    server_version = "demo-api/1"

    def do_GET(self) -> None:
        if self.path == "/health":
            database, redis = check_database(), check_redis()
            healthy = database == "ok" and redis == "ok"
            body = {
                "status": "ok" if healthy else "degraded",
                "pid": os.getpid(),
                "database": database,
                "redis": redis,
            }
            self.reply(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE, body)
        elif self.path.startswith("/jobs/"):
            self.get_job(self.path.removeprefix("/jobs/"))
        else:
            self.reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/jobs":
            self.reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.reply(HTTPStatus.BAD_REQUEST, {"error": "the body must be JSON"})
            return
        job_id = uuid.uuid4().hex
        client = connect_redis()
        try:
            client.hset(
                job_key(job_id), mapping={"status": "queued", "payload": json.dumps(payload)}
            )
            client.lpush(QUEUE, job_id)
        finally:
            client.close()
        self.reply(HTTPStatus.ACCEPTED, {"id": job_id, "status": "queued"})

    def get_job(self, job_id: str) -> None:
        client = connect_redis()
        try:
            job = client.hgetall(job_key(job_id))
        finally:
            client.close()
        if not job:
            self.reply(HTTPStatus.NOT_FOUND, {"error": f"no job {job_id}"})
            return
        body: dict[str, Any] = {"id": job_id, "status": job.get("status")}
        if job.get("status") == "done":
            with connect_database() as conn:
                row = conn.execute(
                    "select result, worker_pid, finished_at from job_results where id = %s",
                    (job_id,),
                ).fetchone()
            if row:
                body.update(result=row[0], worker_pid=row[1], finished_at=row[2].isoformat())
        self.reply(HTTPStatus.OK, body)

    def reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        print(f"api: {self.address_string()} {format % args}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="demo.api")
    parser.add_argument("--host", default=os.environ.get("API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "18000")))
    args = parser.parse_args()
    require_libraries()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"api: listening on http://{args.host}:{args.port} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
