"""`python -m demo.migrate`: create the demo's tables (idempotent), then exit 0."""

from __future__ import annotations

from demo.common import connect_database, require_libraries, retry

SCHEMA = """
create table if not exists job_results (
    id text primary key,
    payload jsonb not null,
    result jsonb not null,
    worker_pid integer not null,
    finished_at timestamptz not null default now()
)
"""


def main() -> int:
    require_libraries()
    with retry(connect_database, "migrate: database") as conn:
        conn.execute(SCHEMA)
        conn.commit()
    print("migrate: schema is up to date", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
