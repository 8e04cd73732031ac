"""devenv as a child subreaper: orphans of its services come back to it.

When a process dies, its children are re-parented to the nearest ancestor that
is a "child subreaper" (`prctl(PR_SET_CHILD_SUBREAPER)`, Linux 3.4+), or else to
init. With devenv one, a service's descendant that left the process group and
cleared its environment (`(env -i setsid sleep 2222 &)`: the subshell exits at
once) becomes devenv's child instead of init's, where devenv can find it: a
process whose parent is devenv and that devenv did not start is an orphan of a
service. (A cgroup per unit, devenv/runtime/cgroups.py, finds it exactly; this
is what is left where none can be made, and what keeps zombies away.)
Becoming one also sets `DEVENV_SUBREAPER=<pid>` in devenv's environment, so
that children devenv starts itself can be told from a service's orphans.

Orphans die as devenv's children, so devenv must reap them. It must not reap
the children it started itself: asyncio's child watcher waits for those (a
`waitpid(-1)` would take their exit status away, and the watcher would report
255). `Reaper` therefore reaps only zombies whose parent is devenv, that are
not registered as devenv's own (`own_child`; units register their leaders,
the orphan guard registers itself), and that it has seen as zombies on two
passes at least `interval` apart: a child someone waits for is collected within
microseconds of its exit, long before the second pass. Passes run after a
SIGCHLD (coalesced: at most one per `interval`), or, where no SIGCHLD handler
can be installed (not the main thread), every `POLL` seconds (5).

What the engine calls: `become_subreaper()` once at start, then
`Reaper().start()` in its event loop, and `Reaper.close()` at shutdown, after
every unit has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable

from devenv.runtime import reap

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

POLL = 5.0  # seconds between passes where no SIGCHLD handler can be installed
OWNER = "DEVENV_SUBREAPER"  # set to devenv's pid in its own environment (see unclaimed())
_own: set[int] = set()  # children devenv started and someone waits for
_runs: dict[int, str] = {}  # leader pid -> marker of every live process run


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here: only Linux needs it, and only once devenv adopts orphans

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
        return prctl
    except (OSError, AttributeError):
        return None


def become_subreaper() -> bool:
    """Make this process a child subreaper (idempotent); False where not possible."""
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return False
    os.environ[OWNER] = str(os.getpid())
    return True


def stop_being_subreaper() -> None:
    """For embedders and tests: orphans go to init again from now on."""
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    if os.environ.get(OWNER) == str(os.getpid()):
        del os.environ[OWNER]


def is_subreaper() -> bool:
    prctl = _prctl()
    if prctl is None:
        return False
    import ctypes

    value = ctypes.c_int(0)
    if prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0) != 0:
        return False
    return value.value != 0


# --- who is whose -------------------------------------------------------------


def own_child(pid: int) -> None:
    """`pid` is a child devenv started (and waits for): never an orphan."""
    _own.add(pid)


def release_child(pid: int) -> None:
    _own.discard(pid)


def register_run(leader: int, marker: str) -> None:
    """A unit's process is running (its leader is devenv's own child)."""
    _runs[leader] = marker
    _own.add(leader)


def unregister_run(leader: int) -> None:
    _runs.pop(leader, None)
    _own.discard(leader)


def live_runs() -> dict[int, str]:
    return dict(_runs)


def adopted(table: reap.Table | None = None) -> list[int]:
    """Live orphans devenv adopted: children of this process it did not start.
    Empty unless this process is a subreaper (then every other child is its own)."""
    if not is_subreaper():
        return []
    table = reap.scan() if table is None else table
    me = os.getpid()
    return sorted(
        info.pid
        for info in table.values()
        if info.ppid == me and info.alive and info.pid not in _own
    )


def unclaimed(table: reap.Table, marker: str) -> list[int]:
    """Adopted orphans the last unit to stop takes with it (with their
    descendants): those that carry no marker of another live run than
    `marker`'s, and are not helpers devenv started itself (a browser the UI
    opened, a credential helper): those have devenv's own environment, with
    `DEVENV_SUBREAPER=<devenv's pid>` and no unit marker, where a service's
    processes either carry their unit's marker or have cleared the environment."""
    others = [reap.marker_needle(m) for m in _runs.values() if m != marker]
    mine = f"\0{OWNER}={os.getpid()}\0".encode()
    unit = f"{reap.MARKER}=".encode()

    def helper(pid: int) -> bool:
        environ = b"\0" + reap.environ(pid)
        return mine in environ and unit not in environ

    return [
        pid
        for pid in adopted(table)
        if not helper(pid) and not any(reap.carries(pid, needle) for needle in others)
    ]


# --- reaping ------------------------------------------------------------------


class Reaper:
    """Reaps the zombies of adopted orphans (see the module docstring)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._suspects: set[int] = set()  # zombies seen on the last pass
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._on_signal = False
        self._polling = False
        self.reaped: list[int] = []  # pids reaped so far (for tests and logs)

    def start(self) -> None:
        """Begin reaping, in the running event loop."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
            if signal.getsignal(signal.SIGCHLD) in (signal.SIG_DFL, None):
                self._loop.add_signal_handler(signal.SIGCHLD, self._sigchld)
                self._on_signal = True
        if not self._on_signal:
            self._polling = True
            self._schedule()

    def close(self) -> None:
        """Stop reaping; one last pass for zombies already seen."""
        loop, self._loop = self._loop, None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if loop is not None and self._on_signal:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signal.SIGCHLD)
        self._on_signal = self._polling = False
        self.reap()

    def _sigchld(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        if self._loop is not None and self._handle is None:
            delay = self.interval if self._on_signal or self._suspects else POLL
            self._handle = self._loop.call_later(delay, self._pass)

    def _pass(self) -> None:
        self._handle = None
        self.reap()
        if self._suspects or self._polling:
            self._schedule()

    def reap(self) -> list[int]:
        """One pass: reap the zombies seen on the previous pass too; remember the
        new ones for the next. Returns the pids reaped."""
        me = os.getpid()
        zombies = {
            info.pid
            for info in reap.scan().values()
            if info.ppid == me and not info.alive and info.pid not in _own
        }
        done: list[int] = []
        for pid in zombies & self._suspects:
            with contextlib.suppress(ChildProcessError, OSError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    done.append(pid)
        self._suspects = zombies - set(done)
        self.reaped.extend(done)
        return done
