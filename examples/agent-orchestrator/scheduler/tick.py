"""The scheduler: every TICK_SECONDS (APScheduler's interval trigger), each
schedule whose time has come becomes a job, created through the api
(POST $API_URL/jobs, so the api stays the one writer of jobs and rings the
workers' doorbell); then its next run is set.

Due schedules are taken with FOR NO KEY UPDATE SKIP LOCKED, so two schedulers (a
second replica, or an old one still stopping) never fire the same one twice. A
schedule whose job the api did not take (the api is restarting, say) stays due
and fires at the next tick."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from common import VERSION, check_database, connect_database, env, serve_health, setup_logging, stop_event

log = logging.getLogger("scheduler")

DUE = """
SELECT id, name, kind, payload FROM schedules
WHERE enabled AND next_run_at <= now()
ORDER BY next_run_at
FOR NO KEY UPDATE SKIP LOCKED
"""
# NO KEY UPDATE, not UPDATE: the api's INSERT of the job checks its foreign key
# to the schedule with a KEY SHARE lock, which FOR UPDATE would block until this
# transaction ends, while this transaction waits for the api's answer.


class Scheduler:
    def __init__(self) -> None:
        self.api_url = env("API_URL", "http://api:8080").rstrip("/")
        self.tick_seconds = float(env("TICK_SECONDS", "5"))
        self.fired = 0
        self.last_tick: float | None = None
        self.api_status = "unknown"

    def create_job(self, schedule: dict[str, Any]) -> int:
        body = json.dumps(
            {"kind": schedule["kind"], "payload": schedule["payload"], "schedule_id": schedule["id"]}
        ).encode()
        request = urllib.request.Request(
            f"{self.api_url}/jobs", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            job_id: int = json.loads(response.read())["id"]
        return job_id

    def tick(self) -> None:
        self.last_tick = time.time()
        try:
            with connect_database() as conn:
                for schedule in conn.execute(DUE).fetchall():
                    try:
                        job_id = self.create_job(schedule)
                    except (urllib.error.URLError, OSError, ValueError) as error:
                        self.api_status = f"error: {getattr(error, 'reason', error)}"
                        log.warning("schedule %r: the api at %s did not take the job: %s",
                                    schedule["name"], self.api_url, self.api_status)
                        continue  # still due: the next tick tries again
                    self.api_status = "ok"
                    conn.execute(
                        "UPDATE schedules SET last_run_at = now(), runs = runs + 1,"
                        " next_run_at = now() + make_interval(secs => every_seconds)"
                        " WHERE id = %s",
                        (schedule["id"],),
                    )
                    self.fired += 1
                    log.info("schedule %r fired: job %s", schedule["name"], job_id)
        except Exception as error:
            log.warning("tick: %s", str(error).strip().splitlines()[0] if str(error).strip() else error)

    def health(self) -> tuple[bool, dict[str, Any]]:
        database = check_database()
        return database == "ok", {
            "status": "ok" if database == "ok" else "degraded",
            "service": "scheduler",
            "version": VERSION,
            "pid": os.getpid(),
            "database": database,
            "api_url": self.api_url,
            "api": self.api_status,
            "fired": self.fired,
            "last_tick": self.last_tick,
        }

    def run(self) -> int:
        stop = stop_event()
        serve_health(self.health)
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(self.tick, "interval", seconds=self.tick_seconds, id="tick",
                          max_instances=1, coalesce=True, next_run_time=_now_utc())
        scheduler.start()
        log.info("scheduler: ticking every %ss, jobs go to %s", self.tick_seconds, self.api_url)
        stop.wait()
        scheduler.shutdown(wait=True)
        log.info("scheduler: stopped after firing %s schedules", self.fired)
        return 0


def _now_utc() -> Any:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc)


def main() -> int:
    setup_logging("scheduler")
    return Scheduler().run()
