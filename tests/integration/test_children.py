"""asyncio waits for devenv's children through pidfds (devenv/runtime/children.py):
real children, their real exit statuses, on more than one loop, and alongside
the subreaper's reaper, which must not take a watched child's status."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import warnings

import pytest

from devenv.runtime import children, orphans

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or not children.pidfds_work(), reason="pidfds are Linux 5.3+"
)


async def exit_code(*argv: str, pids: list[int] | None = None) -> int:
    proc = await asyncio.create_subprocess_exec(*argv)
    if pids is not None:
        pids.append(proc.pid)
    return await proc.wait()


def current_watcher() -> asyncio.AbstractChildWatcher:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_child_watcher()


def test_exit_statuses_come_through_the_pidfd_watcher() -> None:
    assert children.use_pidfds()
    assert children.use_pidfds()  # a second call keeps the same watcher
    if sys.version_info < (3, 12):
        watcher = current_watcher()
        assert isinstance(watcher, children.PidfdWatcher)

    async def run() -> list[int]:
        killed = await asyncio.create_subprocess_exec("sleep", "30")
        killed.send_signal(signal.SIGKILL)
        return [
            await exit_code("true"),
            await exit_code("sh", "-c", "exit 3"),
            await killed.wait(),
        ]

    assert asyncio.run(run()) == [0, 3, -signal.SIGKILL]
    if sys.version_info < (3, 12):
        assert not watcher._waiting  # every pidfd was closed


def test_children_on_another_loop_in_another_thread() -> None:
    """3.11's own pidfd watcher is tied to one loop; devenv's runs anywhere."""
    children.use_pidfds()
    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(exit_code("false"))))
    thread.start()
    thread.join(30)
    assert results == [1]
    assert asyncio.run(exit_code("sh", "-c", "exit 7")) == 7


def test_the_reaper_leaves_watched_children_alone() -> None:
    """Children asyncio waits for are collected on the loop's next turn, long
    before the reaper's second pass could take their status (255 if it did)."""
    children.use_pidfds()

    async def run() -> tuple[list[int], list[int], list[int]]:
        reaper = orphans.Reaper(interval=0.001)
        reaper.start()
        pids: list[int] = []
        try:
            codes = await asyncio.gather(
                *(exit_code("sh", "-c", f"exit {n}", pids=pids) for n in range(20))
            )
            await asyncio.sleep(0.05)
        finally:
            reaper.close()
        return list(codes), pids, reaper.reaped

    codes, pids, reaped = asyncio.run(run())
    assert codes == list(range(20))
    assert not set(pids) & set(reaped)  # (earlier tests' orphans may be reaped)
