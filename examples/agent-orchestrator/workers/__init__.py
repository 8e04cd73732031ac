"""The workers: lease jobs with SKIP LOCKED, run them, record the outcome."""
