"""Readiness and health probes for a running unit: STARTING -> READY <-> UNHEALTHY."""

from __future__ import annotations

import asyncio
import contextlib

from devenv.engine.core import EngineCore
from devenv.engine.records import S, _Rec
from devenv.events import ProbeResult


class HealthProbes(EngineCore):
    """A part of `Engine`: probes a launched unit until it ends."""

    async def _probe(self, rec: _Rec) -> None:
        unit = rec.unit
        assert unit is not None
        timing = unit.probe_timing
        if timing is None:
            self._set(rec, S.READY, "started")
            return
        await asyncio.sleep(timing.start_period)
        failures = 0
        last_ok: bool | None = None
        retries = timing.retries or 3
        me = asyncio.current_task()
        while True:
            # asyncio.wait_for (3.11) can swallow a cancellation that races with
            # its result, somewhere below; never go round again once cancelled.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            try:
                async with asyncio.timeout(timing.timeout + 1.0):
                    ok, detail = await unit.check_ready()
            except TimeoutError:
                ok, detail = False, f"check timed out after {timing.timeout:g}s"
            except Exception as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
            if not unit.running:
                return
            if ok != last_ok:
                self._emit(ProbeResult(rec.name, rec.service.name, ok, detail))
                last_ok = ok
            if ok:
                failures = 0
                if rec.state in (S.STARTING, S.UNHEALTHY):
                    rec.health = "healthy"
                    self._set(rec, S.READY, detail)
                if not timing.health:
                    return
            else:
                failures += 1
                if rec.state == S.STARTING:
                    rec.health = "starting"
                    if timing.retries is not None and failures >= retries:
                        rec.health = "unhealthy"
                        self._set(rec, S.UNHEALTHY, detail)
                    else:
                        self._set(rec, S.STARTING, detail)
                elif rec.state == S.READY and failures >= retries:
                    rec.health = "unhealthy"
                    self._set(rec, S.UNHEALTHY, detail)
            interval = timing.interval
            if rec.state == S.READY:
                interval = max(interval, self.options.health_interval)
            hint = unit.ready_hint
            if hint is None or hint.is_set():
                await asyncio.sleep(interval)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await hint.wait()
