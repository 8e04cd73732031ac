"""Engine unit tests end instead of hanging: after HANG_LIMIT seconds every thread's
stack and every pending asyncio task is dumped and the run ends."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import Iterator

import pytest

HANG_LIMIT = float(os.environ.get("DEVENV_TEST_HANG_LIMIT", "60"))


def _dump_pending_tasks() -> None:
    print("=== unfinished asyncio tasks ===", file=sys.stderr)
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Task) and not obj.done():
            with contextlib.suppress(Exception):
                obj.print_stack(limit=8, file=sys.stderr)
    sys.stderr.flush()


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    faulthandler.dump_traceback_later(HANG_LIMIT, exit=True)
    tasks = threading.Timer(max(HANG_LIMIT - 2, 1), _dump_pending_tasks)
    tasks.daemon = True
    tasks.start()
    yield
    tasks.cancel()
    faulthandler.cancel_dump_traceback_later()
