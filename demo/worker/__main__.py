"""`python -m demo.worker`: take jobs from Redis, write results to PostgreSQL.

A job's result is a small summary of its payload; the row records which worker
process did it. SIGTERM finishes the current job and exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from demo.common import QUEUE, connect_database, connect_redis, job_key, require_libraries, retry

running = True


def stop(*_: Any) -> None:
    global running
    running = False


def summarise(payload: Any) -> dict[str, Any]:
    text = payload.get("text", "") if isinstance(payload, dict) else json.dumps(payload)
    return {"words": len(str(text).split()), "upper": str(text).upper()}


def work_one(redis: Any, conn: Any, job_id: str) -> None:
    raw = redis.hget(job_key(job_id), "payload") or "null"
    payload = json.loads(raw)
    result = summarise(payload)
    conn.execute(
        "insert into job_results (id, payload, result, worker_pid) values (%s, %s, %s, %s)"
        " on conflict (id) do nothing",
        (job_id, json.dumps(payload), json.dumps(result), os.getpid()),
    )
    conn.commit()
    redis.hset(job_key(job_id), "status", "done")
    print(f"worker: job {job_id} done: {result}", flush=True)


def main() -> int:
    require_libraries()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    redis = connect_redis(timeout=5.0)
    conn = retry(connect_database, "worker: database")
    print(f"worker: waiting for jobs on {QUEUE} (pid {os.getpid()})", flush=True)
    while running:
        try:
            item = redis.brpop([QUEUE], timeout=1)
            if item is not None:
                work_one(redis, conn, item[1])
        except Exception as error:  # keep serving; a restart of redis/postgres is survivable
            print(f"worker: {error.__class__.__name__}: {error}", file=sys.stderr, flush=True)
            time.sleep(0.5)
            if conn.closed:
                conn = retry(connect_database, "worker: database")
    print("worker: stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
