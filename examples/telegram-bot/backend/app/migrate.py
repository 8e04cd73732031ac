"""`python3 -m app.migrate`: the one-shot that brings the schema up to date.

Applies each file of migrations/ (NNNN_name.sql, in order) that the table
schema_migrations does not list yet, each in its own transaction, then exits:
0 when the schema is current, 1 on the first failing file (named, with
PostgreSQL's message). Compose runs it before the backend
(`service_completed_successfully`); it waits up to DB_WAIT_SECONDS for the
database to accept connections, and holds an advisory lock, so two runs at once
apply each file once."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from app.settings import connect_database, env

MIGRATIONS = Path(env("MIGRATIONS_DIR", str(Path(__file__).resolve().parents[1] / "migrations")))
LOCK_ID = 7_305_001  # any constant: the advisory lock all migration runs share


def connect_when_ready(deadline: float) -> Any:
    while True:
        try:
            return connect_database()
        except Exception as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"migrate: the database did not answer: {error}") from None
            time.sleep(0.5)


def main() -> int:
    files = sorted(MIGRATIONS.glob("[0-9]*.sql"))
    if not files:
        print(f"migrate: no migrations in {MIGRATIONS}", file=sys.stderr)
        return 1
    conn = connect_when_ready(time.monotonic() + float(env("DB_WAIT_SECONDS", "60")))
    with conn:
        conn.autocommit = True
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
        done = {row["version"] for row in rows}
        applied = 0
        for path in files:
            version = path.stem
            if version in done:
                continue
            began = time.monotonic()
            try:
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                    )
            except Exception as error:
                print(f"migrate: {path.name} failed: {error}", file=sys.stderr)
                return 1
            applied += 1
            print(f"migrate: applied {path.name} ({(time.monotonic() - began) * 1000:.0f} ms)")
        latest = files[-1].stem
        print(
            f"migrate: schema at {latest}"
            + (f" ({applied} applied)" if applied else " (nothing to do)")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
