"""One save is one change, even when it reaches devenv in pieces: another
process truncates a watched file, writes, pauses, writes more and closes it,
and the watcher (inotify, quiet window 0, as the engine runs it) hands the
change over once, after the close."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from devenv.engine import inotify
from devenv.engine.watcher import WRITE_WAIT, Watcher, WatchSpec

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux's")

SAVER = """
import sys, time
path, pause, saves = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
for n in range(saves):
    with open(path, "w") as f:  # truncates: a first event
        f.write("first half %d\\n" % n)
        f.flush()  # a second one
        time.sleep(pause)
        f.write("second half\\n")
    time.sleep(0.3)  # then closed: the last one; the next save later
"""


async def saves_seen(tmp_path: Path, pause: float, saves: int) -> list[tuple[float, str]]:
    app = tmp_path / "app.py"
    app.write_text("")
    seen: list[tuple[float, str]] = []

    def on_changes(routed: dict[str, list[str]]) -> None:
        seen.append((time.monotonic(), app.read_text()))

    watcher = Watcher(
        [WatchSpec("web", (app,))], on_changes, project_dir=tmp_path, quiet=0.0, backend="inotify"
    )
    watcher.start()
    try:
        await asyncio.wait_for(watcher.ready.wait(), 5)
        saver = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SAVER, str(app), str(pause), str(saves)
        )
        await saver.wait()
        await asyncio.sleep(WRITE_WAIT * 2)
    finally:
        await watcher.close()
    return seen


async def test_a_save_in_pieces_is_one_change_after_its_close(tmp_path: Path) -> None:
    seen = await saves_seen(tmp_path, pause=0.01, saves=5)
    assert len(seen) == 5, seen
    assert all(text.endswith("second half\n") for _, text in seen)  # the whole save


async def test_a_file_left_open_is_not_waited_for_past_write_wait(tmp_path: Path) -> None:
    """A writer that holds the file open longer than WRITE_WAIT: the change
    comes after WRITE_WAIT, and its close is one more change."""
    seen = await saves_seen(tmp_path, pause=WRITE_WAIT * 4, saves=1)
    assert len(seen) == 2, seen
    assert seen[0][1] == "first half 0\n"
    assert seen[1][1].endswith("second half\n")
