"""Random interleavings of commands against the real engine with real processes.

A hypothesis state machine starts, stops, restarts, reloads (a real file write)
and quits two services, never waiting for a command to finish before the next
one, and after every step checks what must always hold:
- at most one live instance per unit;
- every line a stopped instance printed appears exactly once in its log;
- a stop always sends the stop signal first: an instance that handles it is
  never killed without it, and one that ignores it is killed only after the
  grace period;
- after a quit, nothing it started is alive.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from engine_support import make_stack, pid_alive, service
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from devenv.engine.supervisor import Engine, EngineOptions
from devenv.events import Event, StateChanged, UnitState

S = UnitState
GRACE = 0.4
UNITS = ("calm", "stubborn")

SCRIPT = """
import os, pathlib, signal, sys, time
unit, stubborn = sys.argv[1], sys.argv[2] == "stubborn"
pid = os.getpid()
here = pathlib.Path(".")
def term(signum, frame):
    (here / "terms" / f"{pid}").write_text(repr(time.time()))
    if not stubborn:
        time.sleep(0.03)
        sys.exit(0)
signal.signal(signal.SIGTERM, term)
(here / "pids" / f"{unit}.{pid}").write_text(repr(time.time()))
out = open(here / "out" / f"{pid}", "a", buffering=1)
n = 0
while True:
    n += 1
    line = f"line {unit} {pid} {n}"
    print(line, flush=True)
    out.write(line + "\\n")
    time.sleep(0.02)
"""


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tasks: list[asyncio.Task[object]] = []
        self.events: list[Event] = []
        self.sessions = 0

    @initialize()
    def setup(self) -> None:
        import tempfile

        self.root = Path(tempfile.mkdtemp(prefix="devenv-stateful-"))
        for sub in ("pids", "terms", "out", "src/calm", "src/stubborn"):
            (self.root / sub).mkdir(parents=True)
        (self.root / "svc.py").write_text(textwrap.dedent(SCRIPT))
        services = [
            service(
                name,
                f"{sys.executable} svc.py {name} {name}",
                self.root,
                watch=(self.root / "src" / name,),
                grace=GRACE,
            )
            for name in UNITS
        ]
        stack = make_stack(self.root, *services)
        options = EngineOptions(
            state_dir=self.root / ".devenv",
            watch_quiet=0.02,
            log_files=False,
            watchdog=True,
        )
        self.engine = Engine(stack, options)
        self.engine.subscribe(self.events.append, lines=False)

    # --- commands: fired without waiting, then the loop runs a little ---------------

    def _fire(self, coro: object, settle: float) -> None:
        self.tasks.append(self.loop.create_task(coro))  # type: ignore[arg-type]
        self.loop.run_until_complete(asyncio.sleep(settle))
        for task in [t for t in self.tasks if t.done()]:
            self.tasks.remove(task)
            task.result()  # a command that raised is a failure

    settle = st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.5])
    unit = st.sampled_from(UNITS)

    @rule(names=st.lists(unit, max_size=2, unique=True), settle=settle)
    def start(self, names: list[str], settle: float) -> None:
        self._fire(self.engine.start(names), settle)

    @rule(name=unit, settle=settle)
    def stop(self, name: str, settle: float) -> None:
        self._fire(self.engine.stop([name]), settle)

    @rule(name=unit, settle=settle)
    def restart(self, name: str, settle: float) -> None:
        self._fire(self.engine.restart([name]), settle)

    @rule(name=unit, settle=settle)
    def reload(self, name: str, settle: float) -> None:
        (self.root / "src" / name / "app.py").write_text(f"x = {time.time()}\n")
        self.loop.run_until_complete(asyncio.sleep(settle))

    @precondition(lambda self: self.sessions < 2)
    @rule()
    def quit(self) -> None:
        self.sessions += 1
        self._quit_and_check()

    def _quit_and_check(self) -> None:
        self.loop.run_until_complete(asyncio.wait_for(self.engine.shutdown(), 60))
        for task in self.tasks:
            self.loop.run_until_complete(asyncio.wait_for(task, 30))
        self.tasks = []
        alive = [p for p in self._instances() if pid_alive(p[1])]
        assert alive == [], f"alive after quit: {alive}"
        self.check_lines()
        self.check_signals()

    # --- what must always hold --------------------------------------------------------

    def _instances(self) -> list[tuple[str, int, float]]:
        found = []
        for path in (self.root / "pids").iterdir():
            unit, pid = path.name.split(".")
            found.append((unit, int(pid), float(path.read_text() or 0)))
        return found

    @invariant()
    def one_live_instance_per_unit(self) -> None:
        if not hasattr(self, "root"):
            return
        live = Counter(unit for unit, pid, _ in self._instances() if pid_alive(pid))
        assert all(count <= 1 for count in live.values()), live

    @invariant()
    def check_lines(self) -> None:
        if not hasattr(self, "root"):
            return
        logged = Counter(r.text for r in self.engine.logs() if r.text.startswith("line "))
        for _unit, pid, _ in self._instances():
            if pid_alive(pid):
                continue  # its last lines may still be on their way
            for line in (self.root / "out" / str(pid)).read_text().splitlines():
                assert logged[line] == 1, f"{line!r} logged {logged[line]} times"

    @invariant()
    def check_signals(self) -> None:
        if not hasattr(self, "root"):
            return
        for unit, pid, _began in self._instances():
            if pid_alive(pid):
                continue
            term = self.root / "terms" / str(pid)
            assert term.exists(), f"{unit} pid {pid} was killed without its stop signal"
        self._stubborn_waited()

    def _stubborn_waited(self) -> None:
        """Each stop of the stubborn unit (which ignores SIGTERM once it has set up)
        took the grace period before it was killed."""
        ready_at = {pid: began for unit, pid, began in self._instances() if unit == "stubborn"}
        changes = [e for e in self.events if isinstance(e, StateChanged) and e.unit == "stubborn"]
        for before, after in itertools.pairwise(changes):
            if before.state != S.STOPPING or after.state not in (S.STARTING, S.STOPPED):
                continue
            began = ready_at.get(before.pid or 0)
            if began is None or began > before.ts:
                continue  # stopped before it could ignore anything
            took = after.ts - before.ts
            assert took >= GRACE - 0.05, f"stubborn killed after {took:.3f}s"

    def teardown(self) -> None:
        try:
            if hasattr(self, "engine"):
                self._quit_and_check()
        finally:
            self.loop.close()


@pytest.mark.slow
def test_engine_under_random_interleavings() -> None:
    # every step is real processes and real time: a few dozen steps in all
    runs = int(os.environ.get("DEVENV_STATEFUL_EXAMPLES", "10"))
    machine = EngineMachine.TestCase
    machine.settings = settings(
        max_examples=runs,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine("runTest").runTest()
