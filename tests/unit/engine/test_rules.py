"""The engine's pure rules: the transition table, how commands merge, the
dependency gate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from memory_unit import svc

from devenv.config.model import Condition, Dependency
from devenv.engine.gate import UnitSnapshot, blocked, blockers, unmet
from devenv.engine.machine import TRANSITIONS, IllegalTransition, Trigger, next_state
from devenv.engine.mailbox import Command, Mailbox, Op, merge
from devenv.events import UnitState

S = UnitState


def test_every_state_is_reachable_and_can_end() -> None:
    reached = {S.PENDING}
    frontier = [S.PENDING]
    while frontier:
        state = frontier.pop()
        for sources, target in TRANSITIONS.values():
            if state in sources and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(S)
    for state in S:  # a stop (or a quit) is possible from anywhere
        assert next_state(state, Trigger.STOPPED) == S.STOPPED


def test_illegal_transitions_raise() -> None:
    with pytest.raises(IllegalTransition):
        next_state(S.STOPPED, Trigger.PROBE_OK)
    with pytest.raises(IllegalTransition):
        next_state(S.READY, Trigger.LAUNCH)  # one instance at a time
    assert next_state(S.READY, Trigger.STOP) == S.STOPPING
    assert next_state(S.STOPPING, Trigger.LAUNCH) == S.STARTING  # a restart


ops = st.sampled_from(list(Op))


@given(st.lists(ops, min_size=1, max_size=8))
@example([Op.STOP, Op.START, Op.RESTART])
@example([Op.RESTART, Op.STOP, Op.RESTART])
def test_merge_rules(sequence: list[Op]) -> None:
    merged: Command | None = None
    for op in sequence:
        merged = merge(merged, Command(op))
    assert merged is not None
    result = merged.op
    if Op.KILL in sequence:
        assert result == Op.KILL
    elif Op.QUIT in sequence:
        assert result == Op.QUIT
    elif Op.STOP in sequence:
        last_stop = len(sequence) - 1 - sequence[::-1].index(Op.STOP)
        if Op.START in sequence[last_stop:]:
            assert result != Op.STOP  # stop, then start: the user toggled
        else:
            assert result == Op.STOP  # stop wins over restart, reload, halt
    else:
        assert result == max(sequence)  # restart + restart is one restart, etc.


def test_merge_keeps_every_waiter_and_change() -> None:
    async def check() -> None:
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        merged = merge(
            Command(Op.RELOAD, frozenset({"a.py"}), waiters=[a]),
            Command(Op.RELOAD, frozenset({"b.py"}), waiters=[b]),
        )
        assert merged.op == Op.RELOAD and merged.changes == {"a.py", "b.py"}
        box = Mailbox()
        box.put(merged)
        box.put(Command(Op.RESTART))
        taken = box.take()
        assert taken is not None and taken.op == Op.RESTART
        taken.resolve()
        assert a.done() and b.done()
        assert box.take() is None

    asyncio.run(check())


def snap(name: str, state: UnitState, *, idle: bool = False, launches: int = 1) -> UnitSnapshot:
    return UnitSnapshot(name, name.split("-")[0], state, "", None, launches, idle)


def test_conditions() -> None:
    ready, starting = [snap("db", S.READY)], [snap("db", S.STARTING)]
    assert unmet("db", Condition.STARTED, starting) is None
    assert unmet("db", Condition.HEALTHY, ready) is None
    assert unmet("db", Condition.HEALTHY, starting) == "db to be healthy (now starting)"
    assert unmet("db", Condition.COMPLETED, [snap("db", S.COMPLETED)]) is None
    never = [snap("db", S.PENDING, launches=0)]
    assert unmet("db", Condition.STARTED, never) is not None
    assert unmet("db", Condition.HEALTHY, []) is None  # scaled to zero: nothing to wait for
    replicas = [snap("w-1", S.READY), snap("w-2", S.STARTING)]
    assert unmet("w", Condition.HEALTHY, replicas) == "w to be healthy (now ready, starting)"


def test_blocked_only_when_it_cannot_happen_by_itself(tmp_path: Path) -> None:
    db, api = svc("db", tmp_path), svc("api", tmp_path, db=Condition.HEALTHY)
    web = svc("web", tmp_path, api=Condition.STARTED)
    services = {"db": db, "api": api, "web": web}

    def view(db_state: UnitState, idle: bool) -> dict[str, list[UnitSnapshot]]:
        return {
            "db": [snap("db", db_state, idle=idle)],
            "api": [snap("api", S.WAITING, launches=0)],
            "web": [snap("web", S.WAITING, launches=0)],
        }

    assert not blocked(api, view(S.STARTING, False), services)
    assert not blocked(api, view(S.BACKOFF, False), services)  # it will try again
    assert blocked(api, view(S.FAILED, True), services)
    assert blocked(api, view(S.CRASHED, True), services)
    assert blocked(api, view(S.STOPPED, True), services)
    assert blocked(web, view(S.FAILED, True), services)  # through api
    assert blockers(api, view(S.FAILED, True))[0].startswith("db failed")
    optional = svc("api", tmp_path, db=Dependency("db", Condition.HEALTHY, required=False))
    assert blockers(optional, view(S.FAILED, True)) == []
    assert blockers(optional, view(S.STARTING, False)) != []
