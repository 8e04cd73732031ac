"""`python3 -m telegram_bot`: check the token, then serve the webhook on HOST:PORT (8001)."""

from __future__ import annotations

import sys

from telegram_bot.settings import env, setup_logging, token_problem

if __name__ == "__main__":
    problem = token_problem()
    if problem:
        print(f"bot: {problem}", file=sys.stderr)
        raise SystemExit(2)
    setup_logging()
    import uvicorn

    uvicorn.run(
        "telegram_bot.webhook:app",
        host=env("HOST", "0.0.0.0"),
        port=int(env("PORT", "8001")),
        log_level=env("LOG_LEVEL", "info").lower(),
    )
