"""Hot reload: which units the file watcher covers, and how a burst of changes
to a unit's files becomes one restart."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from devenv.engine.records import S, _Rec
from devenv.engine.stopping import StopRestart
from devenv.events import Reloaded


class HotReload(StopRestart):
    """A part of `Engine`: file changes in, restarts out."""

    def _update_watcher(self) -> None:
        if not self.options.watch:
            return
        specs = self._watch_specs()
        names = frozenset(s.unit for s in specs)
        if not specs or names == self._watched:
            return
        self._watched = names
        from devenv.engine.watcher import Watcher

        old = self._watcher
        self._watcher = Watcher(
            specs,
            self._on_changes,
            project_dir=self.stack.project_dir,
            quiet=0.0,  # the quiet window is applied per unit by _reload
            step_ms=self.options.watch_step_ms,
            max_group_ms=self.options.watch_max_group_ms,
            backend=self.options.watch_backend,
        )
        if old is not None:
            self._spawn(old.close(), "watcher-close")
        self._watcher.start()
        for unit, path in self._watcher.missing:
            self._devenv_line(self._recs[unit], f"watch path {path} does not exist")

    def _watch_specs(self) -> list[Any]:
        from devenv.engine.watcher import WatchSpec

        specs = []
        for rec in self._recs.values():
            local = rec.service.local
            if rec.want == "run" and local is not None and local.watch:
                specs.append(WatchSpec(rec.name, local.watch, local.ignore))
        return specs

    def _on_changes(self, routed: dict[str, list[str]]) -> None:
        for unit, changes in routed.items():
            rec = self._recs.get(unit)
            if rec is None:
                continue
            if rec.reloading and rec.reload_stopping:  # not relaunched yet: same reload
                rec.reload_changes.update(changes)
                rec.last_change = time.monotonic()
                continue
            if rec.reloading:  # one more restart once this one is done, however many changes
                rec.reload_pending = sorted({*(rec.reload_pending or ()), *changes})
                continue
            if rec.want == "stop" or rec.state in (S.PENDING, S.WAITING):
                continue
            self._spawn(self._reload(rec, changes), f"reload-{unit}")

    async def _reload(self, rec: _Rec, changes: list[str]) -> None:
        """Stop the old instance at once, launch the new one when no change has come
        for `watch_quiet` seconds: a burst is one restart, and the quiet window
        overlaps the stop instead of adding to it."""
        rec.reloading = True
        try:
            pending: list[str] | None = changes
            while pending is not None and not (self._closed or rec.stop_requested):
                rec.reload_pending = None
                rec.reload_stopping = True
                rec.reload_changes = set(pending)
                rec.last_change = time.monotonic()
                self._emit(Reloaded(rec.name, rec.service.name, tuple(pending[:5])))
                await self._stop_rec(rec, force=False, final=False)
                quiet = self.options.watch_quiet
                while (left := rec.last_change + quiet - time.monotonic()) > 0:
                    await asyncio.sleep(left)
                rec.reload_stopping = False
                changed = sorted(rec.reload_changes)
                more = f" (+{len(changed) - 5} more)" if len(changed) > 5 else ""
                self._devenv_line(rec, f"reloading: {', '.join(changed[:5])}{more} changed")
                await self._relaunch(rec)
                await self._restart_dependents({rec.service.name})
                pending = rec.reload_pending
        finally:
            rec.reloading = False
            rec.reload_stopping = False
            rec.reload_pending = None
