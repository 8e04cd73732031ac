"""The reloader: one file watcher for the units that watch files, routing each
change to the units it concerns, sorted by what the rule that saw it asks for.

Rules are `WatchRule`s (`x-devenv.watch` paths: `rebuild`; `develop.watch`
entries keep Compose's action and ignores). It only reports a `UnitChange` per
unit; what a change does (build steps, a restart, the quiet window that makes a
burst one restart, running a `sync+exec` command) is decided by the engine and
the unit's runner.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devenv.config.model import WatchRule
from devenv.engine.watcher import Watcher, WatchSpec

RESTARTS = frozenset({"rebuild", "restart", "sync+restart"})


@dataclass(frozen=True)
class UnitChange:
    """What one burst of file changes means for one unit."""

    unit: str
    restart: tuple[str, ...] = ()  # changed files whose rules restart it
    build: bool = False  # one of those rules is `rebuild`: build steps first
    execs: tuple[tuple[WatchRule, tuple[str, ...]], ...] = ()  # `sync+exec` rules to run
    synced: tuple[str, ...] = ()  # `sync` only: the process reads them itself
    at: float = field(default_factory=time.monotonic)  # when, the same for every unit


OnChanges = Callable[[list[UnitChange]], None]

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
        self._rules: dict[str, tuple[str, WatchRule]] = {}  # watcher key -> (unit, rule)
        self._closing: set[asyncio.Task[None]] = set()

    def update(self, rules: Mapping[str, Sequence[WatchRule]]) -> None:
        """Watch exactly these units' rules from now on."""
        self._rules = {}
        specs: list[WatchSpec] = []
        for unit, unit_rules in rules.items():
            for number, rule in enumerate(unit_rules):
                key = f"{unit}#{number}"
                self._rules[key] = (unit, rule)
                specs.append(WatchSpec(key, (rule.path,), rule.ignore))
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
        for key, path in watcher.missing:
            self._on_missing(self._rules[key][0], path)

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
        at = time.monotonic()
        restart: dict[str, set[str]] = {}
        build: set[str] = set()
        execs: dict[str, list[tuple[WatchRule, tuple[str, ...]]]] = {}
        synced: dict[str, set[str]] = {}
        for key, paths in routed.items():
            known = self._rules.get(key)
            if known is None:
                continue
            unit, rule = known
            files = meaningful(paths, self._project_dir)
            if rule.action in RESTARTS:
                restart.setdefault(unit, set()).update(files)
                if rule.action == "rebuild":
                    build.add(unit)
            elif rule.action == "sync+exec":
                execs.setdefault(unit, []).append((rule, tuple(files)))
            else:
                synced.setdefault(unit, set()).update(files)
        units = dict.fromkeys([*restart, *execs, *synced])
        self._on_changes(
            [
                UnitChange(
                    unit,
                    tuple(sorted(restart.get(unit, ()))),
                    unit in build,
                    tuple(execs.get(unit, ())),
                    tuple(sorted(synced.get(unit, ()))),
                    at,
                )
                for unit in units
            ]
        )

    def _close_later(self, watcher: Watcher) -> None:
        task = asyncio.ensure_future(watcher.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
