"""Run the TUI on the fake engine, for trying it by hand (tmux) and screenshots.

python -m tests.functional.demo_app [--rate LINES_PER_SECOND] [--fail] [--attached]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

from devenv.events import UnitState
from devenv.tui.app import make_app
from tests.functional.fake_engine import FakeEngine, demo_engine


async def chatter(engine: FakeEngine, rate: float) -> None:
    """Keep the API and workers talking, like a live stack."""
    for n in itertools.count():
        engine.now = asyncio.get_running_loop().time()
        engine.log("api", f"GET /orders/{n} 200 {n % 17}ms")
        if n % 3 == 0:
            engine.log(f"worker-{n % 3 + 1}", f"job {n} done")
        await asyncio.sleep(1 / rate)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=2.0, help="log lines per second")
    parser.add_argument("--fail", action="store_true", help="make the API crash")
    parser.add_argument(
        "--attached", action="store_true", help="as `devenv attach` shows it (q detaches)"
    )
    args = parser.parse_args()
    import time

    engine = demo_engine()
    now = time.time()
    engine.units_ = [
        __import__("dataclasses").replace(u, started_at=now - 300 if u.started_at else None)
        for u in engine.units_
    ]
    app = make_app(engine, [], attached=args.attached)

    async def run() -> None:
        task = asyncio.create_task(chatter(engine, args.rate))
        if args.fail:
            engine.set_state("api", UnitState.CRASHED, "exited with code 1", exit_code=1)
        await app.run_async()
        task.cancel()
        print("calls:", engine.calls)

    asyncio.run(run())


if __name__ == "__main__":
    main()
