"""The unit state machine: every transition a unit can make, in one table.

A runner never assigns a state; it fires a trigger, and `next_state` says where
that leads from where the unit is, or raises `IllegalTransition` (a bug in the
runner, never the user's doing). Detail-only updates keep the state.

    PENDING -> WAITING -> PULLING/BUILDING -> STARTING -> READY <-> UNHEALTHY
    STARTING/READY/UNHEALTHY -> COMPLETED (exit 0) | CRASHED -> BACKOFF -> STARTING
    any running state -> STOPPING -> STOPPED;  anything not running -> STOPPED
    a launch that cannot happen -> FAILED
    a container stopped by hand -> STOPPED ("outside devenv"); started by hand -> STARTING
"""

from __future__ import annotations

from enum import StrEnum

from devenv.events import ACTIVE_STATES, UnitState

S = UnitState


class Trigger(StrEnum):
    SELECT = "select"  # asked to start
    WAIT = "wait"  # a dependency is not there yet
    PULL = "pull"  # its image is being pulled
    BUILD = "build"  # its image or its build steps run
    LAUNCH = "launch"  # the process or container was launched
    PROBE_OK = "probe-ok"
    PROBE_FAILED = "probe-failed"  # after its retries
    EXIT_OK = "exit-ok"
    EXIT_ERROR = "exit-error"
    BACKOFF = "backoff"  # will start again after a delay (restart policy)
    STOP = "stop"  # its stop signal was sent
    STOPPED = "stopped"  # it is down, on purpose
    FAIL = "fail"  # it could not be launched
    OUTSIDE_STOP = "outside-stop"  # stopped by someone else (docker stop)
    OUTSIDE_START = "outside-start"  # started by someone else (docker start)


# Not running: where a unit may be when asked to come up.
DOWN = frozenset({S.PENDING, S.STOPPED, S.CRASHED, S.COMPLETED, S.FAILED, S.BACKOFF})
PREPARING = frozenset({S.PENDING, S.WAITING, S.PULLING, S.BUILDING})
ALL = frozenset(S)

# trigger -> (the states it may fire from, the state it leads to)
TRANSITIONS: dict[Trigger, tuple[frozenset[UnitState], UnitState]] = {
    Trigger.SELECT: (DOWN | {S.WAITING}, S.PENDING),
    Trigger.WAIT: (DOWN | PREPARING, S.WAITING),
    # STOPPING: a restart may pull or build once the old instance is down
    Trigger.PULL: (DOWN | PREPARING | {S.STOPPING}, S.PULLING),
    Trigger.BUILD: (DOWN | PREPARING | {S.STOPPING}, S.BUILDING),
    # STOPPING: a restart launches the new instance right after the old one is down
    Trigger.LAUNCH: (DOWN | PREPARING | {S.STOPPING}, S.STARTING),
    Trigger.PROBE_OK: (ACTIVE_STATES, S.READY),
    Trigger.PROBE_FAILED: (ACTIVE_STATES, S.UNHEALTHY),
    Trigger.EXIT_OK: (ACTIVE_STATES, S.COMPLETED),
    Trigger.EXIT_ERROR: (ACTIVE_STATES, S.CRASHED),
    Trigger.BACKOFF: (frozenset({S.CRASHED, S.COMPLETED, S.BACKOFF}), S.BACKOFF),
    Trigger.STOP: (ACTIVE_STATES | {S.STOPPING}, S.STOPPING),
    Trigger.STOPPED: (ALL, S.STOPPED),
    Trigger.FAIL: (DOWN | PREPARING | {S.STOPPING}, S.FAILED),
    Trigger.OUTSIDE_STOP: (ACTIVE_STATES | {S.STOPPING}, S.STOPPED),
    Trigger.OUTSIDE_START: (DOWN, S.STARTING),
}


class IllegalTransition(RuntimeError):
    """A runner fired a trigger its unit's state does not allow."""


def next_state(state: UnitState, trigger: Trigger) -> UnitState:
    sources, target = TRANSITIONS[trigger]
    if state not in sources:
        raise IllegalTransition(f"{trigger} from {state}")
    return target


def can_fire(state: UnitState, trigger: Trigger) -> bool:
    return state in TRANSITIONS[trigger][0]
