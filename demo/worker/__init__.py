"""The demo worker: takes jobs from Redis, writes their results to PostgreSQL."""
