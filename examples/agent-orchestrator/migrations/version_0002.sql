-- Schedules: the scheduler hands a job to the api every `every_seconds`.
CREATE TABLE schedules (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    kind          text        NOT NULL,
    payload       jsonb       NOT NULL DEFAULT '{}',
    every_seconds integer     NOT NULL CHECK (every_seconds > 0),
    enabled       boolean     NOT NULL DEFAULT true,
    next_run_at   timestamptz NOT NULL DEFAULT now(),
    last_run_at   timestamptz,
    runs          integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE jobs ADD COLUMN schedule_id bigint REFERENCES schedules (id) ON DELETE SET NULL;

INSERT INTO schema_migrations (version) VALUES ('0002');
