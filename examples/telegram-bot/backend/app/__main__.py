"""`python3 -m app`: the backend on HOST:PORT (default 0.0.0.0:8000), served by uvicorn."""

import uvicorn

from app.settings import env, setup_logging

if __name__ == "__main__":
    setup_logging()
    uvicorn.run(
        "app.main:app",
        host=env("HOST", "0.0.0.0"),
        port=int(env("PORT", "8000")),
        log_level=env("LOG_LEVEL", "info").lower(),
    )
