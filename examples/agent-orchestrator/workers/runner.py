"""A worker: lease the oldest available job, run it, record how it ended.

Leasing is one statement: `SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1` inside an
UPDATE. Rows another worker is leasing right now are skipped instead of waited
for, so any number of workers share the queue and each job is leased by
exactly one of them; a lease that expires (its worker died mid-job) makes the
job available again, up to `max_attempts`.

Workers wake on the Redis channel `jobs:new` and also poll every POLL_SECONDS,
so a job is never stranded when Redis is away. GET /health on $PORT (8090)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from common import (
    NEW_JOB_CHANNEL,
    VERSION,
    WORKER_KEY_PREFIX,
    check_database,
    connect_database,
    connect_redis,
    env,
    instance_name,
    serve_health,
    setup_logging,
    stop_event,
)

log = logging.getLogger("worker")

LEASE = """
WITH next AS (
    SELECT id FROM jobs
    WHERE status = 'queued' OR (status = 'leased' AND lease_expires_at < now())
    ORDER BY id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET status = 'leased', leased_by = %(worker)s, attempts = attempts + 1,
    lease_expires_at = now() + make_interval(secs => %(lease)s), updated_at = now()
FROM next
WHERE jobs.id = next.id
RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts
"""


class JobFailed(Exception):
    """The job's own failure (retried while attempts remain)."""


def run_job(kind: str, payload: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The pipeline: what each kind of job does. `summarise` stands in for an
    agent call (no model is called: the answer is computed locally)."""
    if kind == "echo":
        return {"echo": payload}
    if kind == "sleep":
        seconds = float(payload.get("seconds", 1))
        time.sleep(min(seconds, 60))
        return {"slept": seconds}
    if kind == "summarise":
        text = str(payload.get("text", ""))
        sentences = [s.strip() for s in text.replace("!", ".").replace("?", ".").split(".")]
        sentences = [s for s in sentences if s]
        return {
            "summary": (sentences[0] + ".") if sentences else "",
            "words": len(text.split()),
            "sentences": len(sentences),
            "stand_in": True,
        }
    if kind == "fail":
        if attempt <= int(payload.get("times", 1)):
            raise JobFailed(f"failing on purpose (attempt {attempt})")
        return {"recovered_on_attempt": attempt}
    raise JobFailed(f"unknown job kind {kind!r}")


class Worker:
    def __init__(self) -> None:
        self.name = instance_name("worker")
        self.lease_seconds = float(env("LEASE_SECONDS", "60"))
        self.poll_seconds = float(env("POLL_SECONDS", "2"))
        self.done = 0
        self.failed = 0
        self.current: int | None = None
        self.started = time.time()
        self.wake = threading.Event()
        self.stop = stop_event(self.wake)

    # --- one job -----------------------------------------------------------------
    def lease(self) -> dict[str, Any] | None:
        with connect_database() as conn:
            job = conn.execute(
                LEASE, {"worker": self.name, "lease": self.lease_seconds}
            ).fetchone()
            if job is not None:
                conn.execute(
                    "INSERT INTO job_runs (job_id, attempt, worker) VALUES (%s, %s, %s)",
                    (job["id"], job["attempts"], self.name),
                )
        return job

    def finish(self, job: dict[str, Any], result: Any, error: str | None) -> str:
        retry = error is not None and job["attempts"] < job["max_attempts"]
        outcome = "done" if error is None else ("retry" if retry else "failed")
        status = {"done": "done", "retry": "queued", "failed": "failed"}[outcome]
        with connect_database() as conn:
            updated = conn.execute(
                "UPDATE jobs SET status = %s, result = %s, error = %s, leased_by = NULL,"
                " lease_expires_at = NULL, updated_at = now()"
                " WHERE id = %s AND leased_by = %s AND status = 'leased'",
                (status, json.dumps(result) if result is not None else None, error,
                 job["id"], self.name),
            ).rowcount
            conn.execute(
                "UPDATE job_runs SET finished_at = now(), outcome = %s"
                " WHERE job_id = %s AND attempt = %s AND worker = %s",
                (outcome, job["id"], job["attempts"], self.name),
            )
        if not updated:  # our lease expired and someone else has the job now
            log.warning("job %s: lease lost, result dropped", job["id"])
        return outcome

    def work_one(self) -> bool:
        job = self.lease()
        if job is None:
            return False
        self.current = job["id"]
        log.info("job %s: leased (%s, attempt %s)", job["id"], job["kind"], job["attempts"])
        began = time.monotonic()
        try:
            result, error = run_job(job["kind"], job["payload"] or {}, job["attempts"]), None
        except JobFailed as failure:
            result, error = None, str(failure)
        except Exception as failure:  # a bug in a job must not take the worker down
            log.exception("job %s crashed", job["id"])
            result, error = None, f"{type(failure).__name__}: {failure}"
        outcome = self.finish(job, result, error)
        self.current = None
        if outcome == "done":
            self.done += 1
        else:
            self.failed += 1
        log.info("job %s: %s in %.0f ms%s", job["id"], outcome,
                 (time.monotonic() - began) * 1000, f" ({error})" if error else "")
        return True

    # --- the loop ------------------------------------------------------------------
    def listen(self) -> None:
        """Set `wake` on each `jobs:new` message; reconnect when Redis goes away."""
        while not self.stop.is_set():
            try:
                client = connect_redis()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(NEW_JOB_CHANNEL)
                while not self.stop.is_set():
                    if pubsub.get_message(timeout=1.0):
                        self.wake.set()
                    self.heartbeat(client)
            except Exception as error:
                log.debug("doorbell: %s (polling every %ss meanwhile)", error, self.poll_seconds)
                self.stop.wait(2)

    def heartbeat(self, client: Any) -> None:
        now = time.time()
        if now - getattr(self, "_beat", 0) < 2:
            return
        self._beat = now
        client.set(f"{WORKER_KEY_PREFIX}{self.name}", json.dumps(self.report()), ex=10)

    def report(self) -> dict[str, Any]:
        return {"worker": self.name, "pid": os.getpid(), "done": self.done,
                "failed": self.failed, "current": self.current, "version": VERSION}

    def run(self) -> int:
        serve_health(lambda: ((db := check_database()) == "ok",
                              {"status": "ok" if db == "ok" else "degraded", "service": "worker",
                               "database": db, **self.report()}))
        threading.Thread(target=self.listen, name="doorbell", daemon=True).start()
        log.info("worker %s: polling every %ss, leases of %ss", self.name, self.poll_seconds,
                 self.lease_seconds)
        while not self.stop.is_set():
            try:
                if self.work_one():
                    continue  # drain the queue before waiting
            except Exception as error:  # the database is away: wait and retry
                log.warning("cannot lease: %s", str(error).strip().splitlines()[0])
            self.wake.wait(self.poll_seconds)
            self.wake.clear()
        log.info("worker %s: stopped after %s jobs", self.name, self.done + self.failed)
        return 0


def main() -> int:
    setup_logging("worker")
    return Worker().run()
