"""The demo HTTP api: health, and jobs queued in Redis for the worker."""
