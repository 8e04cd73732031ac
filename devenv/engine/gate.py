"""The dependency gate: whether a unit's `depends_on` conditions hold, what it is
waiting for, and whether that can still happen by itself.

Pure functions over `UnitSnapshot`s (what each runner last published), so the
rules are tested without running anything; `DependencyGate` only re-evaluates
them each time some unit changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from devenv.config.model import Condition, Service
from devenv.events import UnitState

S = UnitState


@dataclass(frozen=True)
class UnitSnapshot:
    """What the gate (and `EngineAPI.wait`) need to know of a unit."""

    name: str
    service: str
    state: UnitState
    detail: str = ""
    exit_code: int | None = None
    launches: int = 0  # instances launched so far
    idle: bool = True  # nothing will bring it up by itself (stopped, failed, ended for good)


Snapshots = Mapping[str, Sequence[UnitSnapshot]]  # service name -> its units
Report = Callable[[str, bool], None]  # (what it waits for, whether that is blocked)


def unmet(service: str, condition: Condition, units: Sequence[UnitSnapshot]) -> str | None:
    """None when `condition` holds for the units of `service`; otherwise what is
    being waited for, in words."""
    if condition == Condition.STARTED:
        want = "started"
        ok = all(u.launches > 0 and u.state not in (S.FAILED, S.STOPPED) for u in units)
    elif condition == Condition.HEALTHY:
        want = "healthy"
        ok = all(u.state == S.READY for u in units)
    else:
        want = "completed successfully"
        ok = all(u.state == S.COMPLETED for u in units)
    if ok:
        return None
    for u in units:
        if u.state == S.FAILED:
            return f"{u.name} failed: {u.detail}"
        if u.state == S.CRASHED and u.idle:
            return f"{u.name} crashed ({u.detail})"
        if condition == Condition.COMPLETED and u.state == S.CRASHED:
            return f"{u.name} exited with {u.exit_code}"
        if u.state == S.STOPPED:
            return f"{u.name} is stopped" + (f" ({u.detail})" if u.detail else "")
    states = ", ".join(sorted({str(u.state) for u in units}))
    return f"{service} to be {want} (now {states})"


def _failed_for_good(units: Iterable[UnitSnapshot]) -> bool:
    return any(u.state == S.FAILED for u in units)


def blockers(service: Service, snapshots: Snapshots) -> list[str]:
    """What `service` still waits for (empty: it may start). Dependencies that
    are not part of the session are not waited for; an optional one
    (`required: false`) that could not be launched is skipped, as Compose does."""
    found = []
    for name, dep in service.depends_on.items():
        units = snapshots.get(name)
        if units is None or name == service.name:
            continue
        reason = unmet(name, dep.condition, units)
        if reason is not None and not (not dep.required and _failed_for_good(units)):
            found.append(reason)
    return found


def blocked(
    service: Service,
    snapshots: Snapshots,
    services: Mapping[str, Service],
    _seen: frozenset[str] = frozenset(),
) -> bool:
    """Waiting on something that will not happen by itself: a dependency that
    failed, was stopped, or ended for good short of the condition, or one that
    is itself blocked."""
    if service.name in _seen:
        return False
    seen = _seen | {service.name}
    for name, dep in service.depends_on.items():
        units = snapshots.get(name)
        if units is None or name == service.name:
            continue
        if unmet(name, dep.condition, units) is None:
            continue
        if not dep.required and _failed_for_good(units):
            continue
        for u in units:
            if u.state in (S.FAILED, S.STOPPED) and u.idle:
                return True
            if u.idle and u.state in (S.CRASHED, S.COMPLETED, S.PENDING):
                return True
            waiting = u.state == S.WAITING and name in services
            if waiting and blocked(services[name], snapshots, services, seen):
                return True
    return False


class DependencyGate:
    """Waits until a service's conditions hold, telling the caller what it waits
    for each time that changes."""

    def __init__(
        self,
        snapshots: Callable[[], Snapshots],
        services: Callable[[], Mapping[str, Service]],
        changed: Callable[[], Awaitable[None]],
    ) -> None:
        self._snapshots = snapshots
        self._services = services
        self._changed = changed  # an awaitable that completes at the next change

    def check(self, service: Service) -> tuple[list[str], bool]:
        """(what it waits for, whether that is blocked) right now."""
        snapshots = self._snapshots()
        waits = blockers(service, snapshots)
        if not waits:
            return [], False
        return waits, blocked(service, snapshots, self._services())

    async def wait(self, service: Service, report: Report) -> None:
        last: tuple[str, bool] | None = None
        while True:
            waits, is_blocked = self.check(service)
            if not waits:
                return
            now = ("; ".join(waits), is_blocked)
            if now != last:
                report(*now)
                last = now
            await self._changed()
