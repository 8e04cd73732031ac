"""`python3 -m api`: serve the api with uvicorn on HOST:PORT (default 0.0.0.0:8080)."""

from __future__ import annotations

import uvicorn

from common import env, listen_address, setup_logging

if __name__ == "__main__":
    setup_logging("api")
    host, port = listen_address()
    uvicorn.run("api.main:app", host=host, port=port, log_level=env("LOG_LEVEL", "info").lower())
