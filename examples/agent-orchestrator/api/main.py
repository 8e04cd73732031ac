"""The api: the one writer of new jobs and schedules.

GET  /health            status, pid, version, database, redis, applied migrations
POST /jobs              {"kind", "payload", "max_attempts"} -> 201 {"id", "status": "queued"}
GET  /jobs/{id}         the job, its result, and every lease of it (job_runs)
GET  /jobs?status=...   the latest jobs
POST /schedules         {"name", "kind", "payload", "every_seconds"} -> 201
GET  /schedules         every schedule, with how often it ran
GET  /workers           the workers alive now (Redis heartbeats) and what each has done

A new job is a row in PostgreSQL plus a message on the Redis channel `jobs:new`
that wakes the workers (they also poll, so Redis is a doorbell, not the queue).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, Field

from common import (
    JOB_KINDS,
    NEW_JOB_CHANNEL,
    VERSION,
    WORKER_KEY_PREFIX,
    check_database,
    check_redis,
    connect_database,
    connect_redis,
    schema_versions,
)

log = logging.getLogger("api")
app = FastAPI(title="Personal Agent Orchestrator", version=VERSION)


class JobIn(BaseModel):
    kind: str
    payload: dict = Field(default_factory=dict)
    max_attempts: int = Field(3, ge=1, le=10)
    schedule_id: int | None = None


class ScheduleIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    kind: str
    payload: dict = Field(default_factory=dict)
    every_seconds: int = Field(..., gt=0)


def check_kind(kind: str) -> None:
    if kind not in JOB_KINDS:
        raise HTTPException(422, f"unknown job kind {kind!r}; known: {', '.join(JOB_KINDS)}")


@app.get("/health")
def health(response: Response) -> dict[str, Any]:
    database, redis = check_database(), check_redis()
    body: dict[str, Any] = {
        "status": "ok" if database == "ok" else "degraded",
        "service": "api",
        "version": VERSION,
        "pid": os.getpid(),
        "database": database,
        "redis": redis,  # a doorbell only: the api works without it
    }
    if database == "ok":
        body["migrations"] = schema_versions()
    else:
        response.status_code = 503
    return body


@app.post("/jobs", status_code=201)
def create_job(job: JobIn) -> dict[str, Any]:
    check_kind(job.kind)
    with connect_database() as conn:
        row = conn.execute(
            "INSERT INTO jobs (kind, payload, max_attempts, schedule_id)"
            " VALUES (%s, %s, %s, %s) RETURNING id, status",
            (job.kind, json.dumps(job.payload), job.max_attempts, job.schedule_id),
        ).fetchone()
    ring_doorbell(row["id"])
    log.info("job %s queued (%s)", row["id"], job.kind)
    return {"id": row["id"], "status": row["status"]}


def ring_doorbell(job_id: int) -> None:
    try:
        client = connect_redis()
        try:
            client.publish(NEW_JOB_CHANNEL, str(job_id))
        finally:
            client.close()
    except Exception as error:  # the workers' poll finds the job anyway
        log.warning("could not wake the workers for job %s: %s", job_id, error)


@app.get("/jobs/{job_id}")
def get_job(job_id: int) -> dict[str, Any]:
    with connect_database() as conn:
        job = conn.execute("SELECT * FROM jobs WHERE id = %s", (job_id,)).fetchone()
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        runs = conn.execute(
            "SELECT attempt, worker, started_at, finished_at, outcome FROM job_runs"
            " WHERE job_id = %s ORDER BY id",
            (job_id,),
        ).fetchall()
    return {**plain(job), "runs": [plain(run) for run in runs]}


@app.get("/jobs")
def list_jobs(status: str | None = None, limit: int = Query(50, ge=1, le=1000)) -> list[Any]:
    with connect_database() as conn:
        if status:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE status = %s ORDER BY id DESC LIMIT %s", (status, limit)
            ).fetchall()
        else:
            rows = conn.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT %s", (limit,)).fetchall()
    return [plain(row) for row in rows]


@app.post("/schedules", status_code=201)
def create_schedule(schedule: ScheduleIn) -> dict[str, Any]:
    import psycopg

    check_kind(schedule.kind)
    try:
        with connect_database() as conn:
            row = conn.execute(
                "INSERT INTO schedules (name, kind, payload, every_seconds)"
                " VALUES (%s, %s, %s, %s) RETURNING *",
                (schedule.name, schedule.kind, json.dumps(schedule.payload), schedule.every_seconds),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise HTTPException(409, f"a schedule named {schedule.name!r} exists") from None
    log.info("schedule %r: %s every %ss", schedule.name, schedule.kind, schedule.every_seconds)
    return plain(row)


@app.get("/schedules")
def list_schedules() -> list[Any]:
    with connect_database() as conn:
        rows = conn.execute("SELECT * FROM schedules ORDER BY id").fetchall()
    return [plain(row) for row in rows]


@app.get("/workers")
def list_workers() -> dict[str, Any]:
    alive: list[Any] = []
    try:
        client = connect_redis()
        try:
            for key in sorted(client.scan_iter(f"{WORKER_KEY_PREFIX}*")):
                value = client.get(key)
                if value:
                    alive.append(json.loads(value))
        finally:
            client.close()
    except Exception as error:
        log.warning("cannot read the workers' heartbeats: %s", error)
    with connect_database() as conn:
        done = conn.execute(
            "SELECT worker, count(*) AS leases, count(*) FILTER (WHERE outcome = 'done') AS done"
            " FROM job_runs GROUP BY worker ORDER BY worker"
        ).fetchall()
    return {"alive": alive, "leases": [plain(row) for row in done]}


def plain(row: Any) -> dict[str, Any]:
    """A row as JSON-ready values (timestamps as ISO strings)."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in dict(row).items()}
