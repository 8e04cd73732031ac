"""How asyncio learns that a child devenv started has ended: through a pidfd.

Python 3.11's default child watcher starts a thread per child, which blocks in
`waitpid`. Starting that thread waits for it to take the GIL, which costs 1.5 ms
of every launch on a quiet machine and several under load (measured: 2.0 ms per
`subprocess_exec` against 0.8 with pidfds). A handover reload pays that between
an edit and the new instance's spawn. A pidfd (Linux 5.3+) becomes readable
when the child ends, so the event loop itself waits for it, with no thread.

Python 3.12 does this by itself and deprecates setting a watcher; 3.11 needs
`use_pidfds()` once before the first child is started. It keeps the default
wherever pidfds are missing (an old kernel, a seccomp filter that refuses
`pidfd_open`).

Orphans devenv reaps as a subreaper (devenv/runtime/orphans.py) are left to it:
the reaper takes only zombies no one else waits for, seen on two passes an
interval apart, and a pidfd's reader runs on the first loop turn after the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import TypeVarTuple, Unpack

log = logging.getLogger(__name__)
_Args = TypeVarTuple("_Args")


class PidfdWatcher(asyncio.AbstractChildWatcher):
    """A child watcher for any running loop (3.11's own is tied to one loop and
    raises when used from another; devenv's tests run many)."""

    def __init__(self) -> None:
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

    def add_child_handler(
        self, pid: int, callback: Callable[[int, int, Unpack[_Args]], object], *args: *_Args
    ) -> None:
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        self._waiting[pid] = (loop, pidfd)
        loop.add_reader(pidfd, self._ended, pid, callback, args)

    def _ended(
        self,
        pid: int,
        callback: Callable[[int, int, Unpack[_Args]], object],
        args: tuple[*_Args],
    ) -> None:
        waiting = self._waiting.pop(pid, None)
        if waiting is None:
            return
        loop, pidfd = waiting
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere: as asyncio reports it
            returncode = 255
            log.warning("child %d's exit status was already read", pid)
        else:
            returncode = os.waitstatus_to_exitcode(status)
        callback(pid, returncode, *args)

    def remove_child_handler(self, pid: int) -> bool:
        waiting = self._waiting.pop(pid, None)
        if waiting is None:
            return False
        loop, pidfd = waiting
        with contextlib.suppress(Exception):  # its loop may be closed by now
            loop.remove_reader(pidfd)
        os.close(pidfd)
        return True

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass  # each child is watched on the loop that started it

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> PidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def pidfds_work() -> bool:
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    os.close(fd)
    return True


def use_pidfds() -> bool:
    """Have asyncio wait for children through pidfds (True: it does now)."""
    if sys.version_info >= (3, 12):
        return True  # asyncio's own choice where pidfds work
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if isinstance(asyncio.get_child_watcher(), PidfdWatcher):
            return True
        if not pidfds_work():
            return False
        asyncio.set_child_watcher(PidfdWatcher())
    return True
