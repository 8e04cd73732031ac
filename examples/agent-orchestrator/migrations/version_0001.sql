-- Applied by PostgreSQL's image on the database's first start: the files in
-- /docker-entrypoint-initdb.d run in name order (compose mounts migrations/ there).
-- A file added later needs a fresh volume (`docker compose down --volumes`), or
-- applying by hand: docker compose exec -T postgres psql -U orchestrator orchestrator < migrations/version_000N.sql

CREATE TABLE schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The job queue. Workers lease a row with SELECT ... FOR UPDATE SKIP LOCKED:
-- each queued job goes to exactly one of them, and a lease that expires (its
-- worker died) makes the job available again.
CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    kind             text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}',
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'leased', 'done', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 3,
    leased_by        text,
    lease_expires_at timestamptz,
    result           jsonb,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_available ON jobs (id) WHERE status IN ('queued', 'leased');

-- One row per lease: which worker ran which attempt, and how it ended.
CREATE TABLE job_runs (
    id          bigserial PRIMARY KEY,
    job_id      bigint      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    worker      text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text CHECK (outcome IN ('done', 'retry', 'failed'))
);
CREATE INDEX job_runs_job ON job_runs (job_id);

INSERT INTO schema_migrations (version) VALUES ('0001');
