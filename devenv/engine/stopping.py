"""Stopping units (dependents first, layer by layer) and restarting them on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from devenv.engine.lifecycle import UnitLifecycle
from devenv.engine.records import RUNNING_STATES, S, _Rec
from devenv.errors import DevenvError
from devenv.runtime.base import Unit

log = logging.getLogger("devenv.engine")


class StopRestart(UnitLifecycle):
    """A part of `Engine`: stops and restarts asked for, never ones of its own accord."""

    def _with_dependents(self, units: Sequence[str]) -> list[_Rec]:
        if not units:
            return list(self._recs.values())
        chosen = {self._recs[n].name for n in units}
        stopped_services = {
            s for s, recs in self._by_service.items() if all(r.name in chosen for r in recs)
        }
        changed = True
        while changed:
            changed = False
            for name, recs in self._by_service.items():
                if name in stopped_services:
                    continue
                if any(d in stopped_services for d in self.stack.services[name].depends_on):
                    stopped_services.add(name)
                    chosen.update(r.name for r in recs)
                    changed = True
        return [r for r in self._recs.values() if r.name in chosen]

    def _layer_of(self) -> dict[str, int]:
        layers: dict[str, int] = {}
        try:
            order = self.stack.start_order()
        except DevenvError:
            order = [list(self.stack.services)]
        for index, layer in enumerate(order):
            for name in layer:
                layers[name] = index
        return layers

    async def _stop_in_order(self, recs: list[_Rec], *, force: bool) -> None:
        for rec in recs:
            rec.stop_requested = True
        layers = self._layer_of()
        by_layer: dict[int, list[_Rec]] = {}
        for rec in recs:
            by_layer.setdefault(layers.get(rec.service.name, 0), []).append(rec)
        for rec in recs:  # nothing waiting or backing off may start meanwhile
            rec.want = "stop"
        for index in sorted(by_layer, reverse=True):
            await asyncio.gather(*(self._stop_rec(r, force=force) for r in by_layer[index]))

    async def _stop_rec(self, rec: _Rec, *, force: bool, final: bool = True) -> None:
        rec.want = "stop"
        task = rec.task
        async with rec.lock:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            rec.task = None
            unit = rec.unit
            if unit is not None and (unit.running or rec.state in RUNNING_STATES):
                self._set(rec, S.STOPPING, "forced" if force else "")
                try:
                    await self._unit_stop(rec, unit, force)
                except Exception as error:
                    log.exception("stopping %s", rec.name)
                    self._devenv_line(rec, f"stop failed: {error}")
                self._release(rec)
                if final:
                    self._set(rec, S.STOPPED, "")
            elif final and rec.state in (S.PENDING, S.WAITING, S.BACKOFF, S.STOPPING):
                self._set(rec, S.STOPPED, "")

    async def _unit_stop(self, rec: _Rec, unit: Unit, force: bool) -> None:
        grace = self.options.stop_grace
        if grace is not None and hasattr(unit, "grace"):
            unit.grace = grace
        await unit.stop(force=force)

    async def _restart(self, rec: _Rec) -> None:
        """Stop if running, then launch again at once (dependencies already held)."""
        rec.stop_requested = False
        rec.restarting = True
        try:
            await self._stop_rec(rec, force=False, final=False)
            await self._relaunch(rec)
        finally:
            rec.restarting = False

    async def _relaunch(self, rec: _Rec) -> None:
        if self._closed or rec.stop_requested:
            return
        rec.want = "run"
        rec.crashes = 0
        if rec.ever_started:
            rec.restarts += 1
        before = rec.attempts
        rec.task = self._spawn(
            self._lifecycle(rec, check_deps=not rec.ever_started), f"unit-{rec.name}"
        )
        # The restart is over once the new instance is launched (or failed).
        while rec.want == "run" and rec.attempts == before and rec.state != S.WAITING:
            await self._next_change()

    async def _restart_dependents(self, services: set[str]) -> None:
        """Compose's `depends_on: {x: {restart: true}}`: when x was restarted on
        purpose (command or reload), restart the services that asked for it."""
        todo = [
            rec
            for rec in self._recs.values()
            if rec.service.name not in services
            and rec.ever_started
            and not rec.stop_requested
            and any(
                name in services and dep.restart for name, dep in rec.service.depends_on.items()
            )
        ]
        if todo:
            await asyncio.gather(*(self._restart(r) for r in todo))
            await self._restart_dependents({r.service.name for r in todo} | services)

    async def _kill_now(self, rec: _Rec) -> None:
        unit = rec.unit
        if unit is not None and unit.running:
            with contextlib.suppress(Exception):
                await unit.stop(force=True)
