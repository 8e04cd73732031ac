"""Regenerate the README's screenshots from the fake demo engine:

python -m tests.functional.screenshots   # writes docs/screenshot-{main,details}.svg
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from devenv.events import Progress, UnitState
from tests.functional.conftest import deterministic_app
from tests.functional.fake_engine import T0, demo_engine

DOCS = Path(__file__).resolve().parents[2] / "docs"

API_LINES = [
    "\x1b[32mINFO\x1b[0m  GET /orders 200 4ms",
    "\x1b[32mINFO\x1b[0m  POST /orders 201 12ms",
    "\x1b[33mWARN\x1b[0m  slow query: SELECT * FROM orders WHERE status = 'open' (310ms)",
    "\x1b[32mINFO\x1b[0m  GET /orders/42 200 3ms",
    "\x1b[32mINFO\x1b[0m  GET /health 200 1ms",
]


async def main() -> None:
    DOCS.mkdir(exist_ok=True)
    engine = demo_engine()
    for i in range(30):
        unit = ("api", "worker-1", "api", "worker-2", "api", "worker-3")[i % 6]
        text = (
            API_LINES[i % len(API_LINES)]
            if unit == "api"
            else f"job {1000 + i} done in {i % 7 + 1}0ms"
        )
        engine.log(unit, text, ts=T0 + 70 + i)
    app = deterministic_app(engine)
    async with app.run_test(size=(130, 38)) as pilot:
        while ("start", ()) not in engine.calls:
            await pilot.pause(0.01)
        engine.set_state("worker-2", UnitState.CRASHED, "exited with code 1", exit_code=1)
        engine.update("worker-2", restarts=2)
        engine.set_state("worker-2", UnitState.BACKOFF, "restarting in 2s")
        engine.set_state("redis", UnitState.PULLING)
        engine.emit(Progress("redis", "redis", "pull", "Downloading", 61, 100))
        engine.update("api", build="building")
        engine.set_state("api", UnitState.READY)
        await pilot.pause()
        app.save_screenshot(str(DOCS / "screenshot-main.svg"))
        engine.set_state("redis", UnitState.READY)
        engine.update("api", build=None)
        await pilot.press("j", "j", "j", "d")
        await pilot.pause()
        app.save_screenshot(str(DOCS / "screenshot-details.svg"))


if __name__ == "__main__":
    asyncio.run(main())
