"""Waiting on `depends_on` conditions: what a unit still waits for, and whether
anything it waits for can still happen."""

from __future__ import annotations

from devenv.config.model import Condition
from devenv.engine.core import EngineCore
from devenv.engine.records import RUNNING_STATES, S, _Rec


class DependencyWaits(EngineCore):
    """A part of `Engine`; the parts share one state, so none is used on its own."""

    async def _wait_dependencies(self, rec: _Rec) -> None:
        deps = [
            (name, dep)
            for name, dep in rec.service.depends_on.items()
            if name in self._by_service and name != rec.service.name
        ]
        while True:
            blockers = [
                reason
                for name, dep in deps
                if (reason := self._unmet(name, dep.condition)) is not None
                and not (not dep.required and self._failed_for_good(name))
            ]
            if not blockers:
                return
            self._set(rec, S.WAITING, "; ".join(blockers))
            await self._next_change()

    def _failed_for_good(self, service: str) -> bool:
        """Could not be launched: an optional (`required: false`) dependency in this
        state is skipped, as Compose does."""
        return any(r.state == S.FAILED for r in self._by_service[service])

    def _unmet(self, service: str, condition: Condition) -> str | None:
        """None when the condition holds; otherwise what is being waited for."""
        recs = self._by_service[service]
        if condition == Condition.STARTED:
            want = "started"
            ok = all(r.ever_started and r.state != S.FAILED for r in recs)
        elif condition == Condition.HEALTHY:
            want = "healthy"
            ok = all(r.state == S.READY for r in recs)
        else:
            want = "completed successfully"
            ok = all(r.state == S.COMPLETED for r in recs)
        if ok:
            return None
        for r in recs:
            if r.state == S.FAILED:
                return f"{r.name} failed: {r.detail}"
            if r.state in (S.CRASHED,) and r.want != "run":
                return f"{r.name} {r.state} ({r.detail})"
            if condition == Condition.COMPLETED and r.state in (S.CRASHED,):
                return f"{r.name} exited with {r.exit_code}"
            if r.state == S.STOPPED:
                return f"{r.name} is stopped"
        states = ", ".join(sorted({str(r.state) for r in recs}))
        return f"{service} to be {want} (now {states})"

    async def _wait_launched(self, recs: list[_Rec]) -> None:
        def settled(rec: _Rec) -> bool:
            if rec.want != "run" or rec.state in (S.FAILED, *RUNNING_STATES):
                return True
            if rec.state in (S.COMPLETED, S.CRASHED, S.BACKOFF):
                return True
            return rec.state == S.WAITING and self._blocked(rec)

        while not all(settled(r) for r in recs):
            await self._next_change()

    def _blocked(self, rec: _Rec) -> bool:
        """Waiting on something that will not happen by itself."""
        for name, dep in rec.service.depends_on.items():
            if name not in self._by_service:
                continue
            for r in self._by_service[name]:
                if r.state in (S.FAILED, S.STOPPED):
                    return True
                ended = r.state in (S.CRASHED, S.COMPLETED) and r.want != "run"
                if ended and (dep.condition != Condition.COMPLETED or r.state != S.COMPLETED):
                    return True
                if r.state == S.WAITING and r is not rec and self._blocked(r):
                    return True
        return False
