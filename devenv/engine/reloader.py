"""The reloader: one file watcher for the units that watch files, routing each
change to the units it concerns.

It only reports; what a change does to a unit (build steps, a restart, the
quiet window that makes a burst one restart) is the unit's runner's business.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from devenv.engine.watcher import Watcher, WatchSpec

OnChanges = Callable[[dict[str, list[str]]], None]  # unit -> changed paths (project-relative)

# Temporary files editors and tools write next to the real one and rename over
# it: a change list names the real file, not these (they are gone by then).
_TEMPORARY = re.compile(r"(^|/)(sed[A-Za-z0-9]{6}|\.goutputstream-\w+|[^/]*\.tmp\.\d+)$")


def meaningful(changes: Sequence[str], project_dir: Path) -> list[str]:
    """The changed files worth naming: a tool's temporary file that was renamed
    over the real one is left out (unless nothing else is left)."""
    kept = [
        path
        for path in changes
        if not (_TEMPORARY.search(path) and not os.path.exists(project_dir / path))
    ]
    return kept or list(changes)


class Reloader:
    def __init__(
        self,
        on_changes: OnChanges,
        *,
        project_dir: Path,
        step_ms: int,
        max_group_ms: int,
        backend: str,
        on_missing: Callable[[str, Path], None],
    ) -> None:
        self._on_changes = on_changes
        self._project_dir = project_dir
        self._step_ms = step_ms
        self._max_group_ms = max_group_ms
        self._backend = backend
        self._on_missing = on_missing
        self._watcher: Watcher | None = None
        self._specs: frozenset[WatchSpec] = frozenset()
        self._closing: set[asyncio.Task[None]] = set()

    def update(self, specs: Sequence[WatchSpec]) -> None:
        """Watch exactly these units' paths from now on."""
        wanted = frozenset(specs)
        if wanted == self._specs:
            return
        self._specs = wanted
        old, self._watcher = self._watcher, None
        if old is not None:
            self._close_later(old)
        if not wanted:
            return
        watcher = Watcher(
            list(specs),
            self._routed,
            project_dir=self._project_dir,
            quiet=0.0,  # the quiet window is the runners'
            step_ms=self._step_ms,
            max_group_ms=self._max_group_ms,
            backend=self._backend,
        )
        watcher.start()
        self._watcher = watcher
        for unit, path in watcher.missing:
            self._on_missing(unit, path)

    @property
    def backend(self) -> str:
        """The watcher in use ("inotify", "watchfiles"), "" when none runs."""
        return self._watcher.using if self._watcher is not None else ""

    async def ready(self) -> None:
        """Until changes are being watched (tests and benchmarks)."""
        if self._watcher is not None:
            await self._watcher.ready.wait()

    async def close(self) -> None:
        old, self._watcher = self._watcher, None
        self._specs = frozenset()
        if old is not None:
            await old.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _routed(self, routed: dict[str, list[str]]) -> None:
        self._on_changes(
            {unit: meaningful(paths, self._project_dir) for unit, paths in routed.items()}
        )

    def _close_later(self, watcher: Watcher) -> None:
        task = asyncio.ensure_future(watcher.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
