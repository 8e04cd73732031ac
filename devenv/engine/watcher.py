"""One file watcher for the whole stack, routing changes to the units that watch them.

One watcher covers the union of every unit's watch paths: on Linux an inotify
fd read from the event loop (`devenv.engine.inotify`: no polling, each change
seen at once), elsewhere `watchfiles.awatch` (batches every `step_ms`).
Changes are collected until nothing new arrived for `quiet` seconds and then
handed over, per unit, as paths relative to the project directory. (The engine
passes quiet=0 and applies its own window per unit while restarting.) With
inotify, a change to a file still open for writing waits for its close, up to
WRITE_WAIT: one save (truncate, write, close) often reaches devenv in two or
three reads, and a handover, which has no quiet window, would otherwise start
a second new instance for the rest of it.

Ignored everywhere: .git, .hg, .svn, __pycache__, node_modules, .venv, .devenv,
tool caches, *.pyc, and editor droppings (*.swp, *.swo, *.swx, *~, .#*, #*#,
vim's 4913 probe file, JetBrains' *___jb_tmp___). A unit's `x-devenv.ignore`
globs are matched against the file name and against the path relative to the
watched directory; `dir/`, `dir/*` and `dir/**` ignore everything under `dir`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

WRITE_WAIT = 0.05  # seconds a change to a file still being written may wait for its close

IGNORE_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        "node_modules",
        ".venv",
        ".devenv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
    }
)
IGNORE_NAMES = (
    "*.pyc",
    "*.pyo",
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    "4913",
    "*___jb_tmp___",
    "*___jb_old___",
    ".DS_Store",
)


@dataclass(frozen=True)
class WatchSpec:
    unit: str
    paths: tuple[Path, ...]
    ignore: tuple[str, ...] = ()


def ignored_by_default(path: str) -> bool:
    parts = path.split(os.sep)
    if any(part in IGNORE_DIRS for part in parts[:-1]):
        return True
    name = parts[-1]
    return name in IGNORE_DIRS or any(fnmatch.fnmatchcase(name, pat) for pat in IGNORE_NAMES)


def _matches(globs: tuple[str, ...], name: str, relative: str) -> bool:
    for glob in globs:
        if fnmatch.fnmatch(name, glob) or fnmatch.fnmatch(relative, glob):
            return True
        # "dir/", "dir/*" and "dir/**" also cover the directory itself and all below it
        base = glob.rstrip("*").rstrip("/")
        if base != glob and base and (relative == base or relative.startswith(base + "/")):
            return True
    return False


def route(specs: Iterable[WatchSpec], paths: Iterable[str]) -> dict[str, set[str]]:
    """Which units a set of changed absolute paths concerns."""
    routed: dict[str, set[str]] = {}
    for path in paths:
        name = os.path.basename(path)
        for spec in specs:
            for root in spec.paths:
                text = str(root)
                if path == text:
                    relative = name
                elif path.startswith(text.rstrip(os.sep) + os.sep):
                    relative = path[len(text.rstrip(os.sep)) + 1 :]
                else:
                    continue
                if ignored_by_default(relative):
                    continue
                if spec.ignore and _matches(spec.ignore, name, relative):
                    continue
                routed.setdefault(spec.unit, set()).add(path)
                break
    return routed


def watch_roots(paths: Iterable[Path]) -> list[Path]:
    """The directories to watch: existing paths, a file's directory rather than the
    file (editors that save by renaming would end a watch on the file itself),
    without those already inside another one."""
    dirs = {p if p.is_dir() else p.parent for p in paths if p.exists()}
    existing = sorted(dirs, key=lambda p: (len(p.parts), str(p)))
    roots: list[Path] = []
    for path in existing:
        if not any(path == r or r in path.parents for r in roots):
            roots.append(path)
    return roots


class Watcher:
    def __init__(
        self,
        specs: list[WatchSpec],
        on_changes: Callable[[dict[str, list[str]]], None],
        *,
        project_dir: Path,
        quiet: float = 0.03,
        step_ms: int = 10,
        max_group_ms: int = 500,
        backend: str = "auto",  # "auto" (inotify on Linux), "inotify" or "watchfiles"
    ) -> None:
        self.specs = specs
        self.on_changes = on_changes
        self.project_dir = project_dir
        self.quiet = quiet
        self.step_ms = step_ms
        self.max_group_ms = max_group_ms
        self.backend = backend
        self.using = ""  # the backend in use once running
        self._pending: dict[str, set[str]] = {}
        self._since = 0.0  # when the first pending change came
        self._timer: asyncio.TimerHandle | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    @property
    def missing(self) -> list[tuple[str, Path]]:
        return [(s.unit, p) for s in self.specs for p in s.paths if not p.exists()]

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="devenv-watcher")

    async def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        roots = watch_roots(p for s in self.specs for p in s.paths)
        if not roots:
            self.ready.set()
            return
        if self.backend != "watchfiles":
            from devenv.engine import inotify

            if inotify.available():
                try:
                    self.using = "inotify"
                    await inotify.watch_forever(roots, IGNORE_DIRS, self._collect, self.ready)
                    return
                except OSError:
                    if self.backend == "inotify" or self.ready.is_set():
                        raise
        await self._run_watchfiles(roots)

    async def _run_watchfiles(self, roots: list[Path]) -> None:
        from watchfiles import awatch

        self.using = "watchfiles"
        changes_iter = awatch(
            *roots,
            watch_filter=None,
            debounce=self.max_group_ms,
            step=self.step_ms,
            stop_event=self._stop,
            rust_timeout=60_000,
        ).__aiter__()
        pending = asyncio.ensure_future(changes_iter.__anext__())
        # awatch sets up its inotify watches synchronously on its first step;
        # letting that step run makes `ready` mean "changes from now on are seen".
        for _ in range(3):
            await asyncio.sleep(0)
        self.ready.set()
        try:
            while True:
                changes = await pending
                if changes:
                    self._collect({path for _, path in changes})
                pending = asyncio.ensure_future(changes_iter.__anext__())
        except StopAsyncIteration:
            return
        finally:
            pending.cancel()

    def _collect(self, paths: set[str], writing: frozenset[str] = frozenset()) -> None:
        routed = route(self.specs, paths)
        if not routed:
            return
        loop = asyncio.get_running_loop()
        if not self._pending:
            self._since = loop.time()
        for unit, changed in routed.items():
            self._pending.setdefault(unit, set()).update(changed)
        delay = self.quiet
        if any(writing.intersection(changed) for changed in self._pending.values()):
            # a file is still being written: its close comes in a moment (and
            # ends the wait), so one save is one change, not two or three
            delay = max(delay, self._since + WRITE_WAIT - loop.time())
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, {}
        out: dict[str, list[str]] = {}
        for unit, paths in pending.items():
            out[unit] = sorted(self._relative(p) for p in paths)
        self.on_changes(out)

    def _relative(self, path: str) -> str:
        try:
            return os.path.relpath(path, self.project_dir)
        except ValueError:
            return path
