"""`devenv attach`: the terminal UI on a session running in another process.

The app is the same one `devenv` shows (`make_app(engine, attached=True)`),
given a `RemoteEngine`: quitting detaches and the session goes on. When the
session ends while attached, the UI closes and says so.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from devenv.control.client import RemoteEngine


def run_attached(path: Path) -> int:
    """Attach to the session on the socket at `path` until the user detaches."""
    return asyncio.run(_attached(path))


async def _attached(path: Path) -> int:
    from devenv.tui.app import make_app

    engine = RemoteEngine(path)
    await engine.connect()
    app = make_app(engine, attached=True, tune_gc=True)

    async def close_when_ended() -> None:
        await engine.disconnected.wait()
        app.exit(0)

    watcher = asyncio.create_task(close_when_ended())
    try:
        await app.run_async()
    finally:
        watcher.cancel()
        ended = engine.disconnected.is_set()
        await engine.close()
    if ended:
        print("devenv: the session ended", file=sys.stderr)
    elif sys.stdout.isatty():  # not under `attach --web`, whose stdout is the browser's
        print("detached; the session keeps running (`devenv attach` to come back, `devenv stop`)")
    return app.return_code or 0
