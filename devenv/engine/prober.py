"""The health prober: runs a launched unit's readiness and health checks and says
what they mean, by callback. It owns only its own counters; the runner that
started it decides what each verdict does to the unit's state.

While the unit starts, checks run every `interval` (or at once when the unit
hints that one is worth running, e.g. its output matched `ready.log`). Once
ready they run every `health_interval` (settable per service:
`x-devenv.ready.health_interval`, default 10 s; Docker's own interval for a
container), or never when that is None: a service's own log is not flooded by
checks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Literal

from devenv.runtime.base import ProbeTiming, Unit

Verdict = Literal["ready", "starting", "unhealthy"]
Report = Callable[[Verdict, str], None]  # (what the checks say now, the last check's detail)
Result = Callable[[bool, str], None]  # each change of a single check's outcome


class Prober:
    def __init__(
        self,
        unit: Unit,
        timing: ProbeTiming,
        report: Report,
        result: Result,
        *,
        proven: bool = False,
    ) -> None:
        self.unit = unit
        self.timing = timing
        self._report = report
        self._result = result
        # Its readiness was just checked (a handover's new instance): health
        # checks only, the first after an interval, not a check at once.
        self.proven = proven

    async def run(self) -> None:
        timing = self.timing
        ready = self.proven
        if ready:
            self._report("ready", "ready before the switch")
            if timing.health_interval is None:
                return
            await asyncio.sleep(timing.health_interval)
        else:
            await asyncio.sleep(timing.start_period)
        failures = 0
        last_ok: bool | None = True if ready else None
        retries = timing.retries or 3
        me = asyncio.current_task()
        while True:
            # asyncio.wait_for (3.11) can swallow a cancellation that races with
            # its result, somewhere below; never go round again once cancelled.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            ok, detail = await self._check()
            if not self.unit.running:
                return
            if ok != last_ok:
                self._result(ok, detail)
                last_ok = ok
            if ok:
                failures = 0
                ready = True
                self._report("ready", detail)
                if timing.health_interval is None:
                    return
            else:
                failures += 1
                if not ready:
                    gave_up = timing.retries is not None and failures >= retries
                    self._report("unhealthy" if gave_up else "starting", detail)
                elif failures >= retries:
                    self._report("unhealthy", detail)
            await self._pause(timing.health_interval if ready else timing.interval, ready)

    async def _check(self) -> tuple[bool, str]:
        timeout = self.timing.timeout
        try:
            async with asyncio.timeout(timeout + 1.0):
                return await self.unit.check_ready()
        except TimeoutError:
            return False, f"check timed out after {timeout:g}s"
        except Exception as error:
            return False, f"{type(error).__name__}: {error}"

    async def _pause(self, interval: float | None, ready: bool) -> None:
        wait = interval if interval is not None else self.timing.interval
        hint = self.unit.ready_hint
        if ready or hint is None or hint.is_set():
            await asyncio.sleep(wait)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await hint.wait()
