"""One session per project: an exclusive `flock` on `<state dir>/lock`.

A session takes the lock before it starts anything and holds it for its whole
life. `flock` is atomic (of two `devenv start` in the same instant exactly one
gets it) and belongs to the open file, so the kernel releases it when the
holder exits, however it exits (SIGKILL included): there is no stale lock to
clean up. The holder writes its pid into the file, for the message the next
one prints and for `holder()`.

The file itself is never deleted (deleting a lock file lets a third process
lock a new file while a second still holds the old one) and is not inherited
by the services devenv starts (close-on-exec), so a service that outlives
devenv cannot keep the project locked.

    lock = SessionLock(state_dir)
    lock.acquire()          # SessionLocked (a DevenvError) naming the holder
    try:
        ...                 # the session
    finally:
        lock.release()

Elsewhere, `holder(state_dir)` says which pid holds the lock, or None.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from devenv.errors import DevenvError

LOCK_FILE = "lock"


class SessionLocked(DevenvError):
    """Another devenv session holds this project."""

    def __init__(self, pid: int | None, path: Path) -> None:
        who = f"pid {pid}" if pid else "another process"
        stop = f"`kill {pid}`" if pid else "stopping it"
        super().__init__(
            f"devenv is already running for this project ({who} holds {path})",
            hint=f"stop it with `devenv stop` (or {stop}), or use `devenv status` to see it",
        )
        self.pid = pid


class SessionLock:
    """The project's session lock, as held by this process."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.5) -> None:
        """Take the lock, or raise `SessionLocked`. The lock is tried for up to
        `wait` seconds: a `holder()` check in another command holds it for an
        instant, and a session that lost a race has written its pid by then."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise SessionLocked(pid, self.path) from None
                time.sleep(0.01)
            except OSError:
                os.close(fd)
                raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the kernel does it too when the process ends)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no pid of a session that is gone
        os.close(fd)

    def __enter__(self) -> SessionLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder(state_dir: Path) -> int | None:
    """The pid of the session holding the project's lock; None when none does.
    (0 when it is held but the holder has not written its pid yet.)"""
    path = state_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            # A shared lock: it conflicts with a session's exclusive lock only,
            # never with another reader's.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
