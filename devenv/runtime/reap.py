"""Finding and killing every process of a unit, including the ones that left its
process group (a double fork plus setsid).

Every process devenv launches carries `DEVENV_INSTANCE=<run>/<unit>/<n>` in its
environment, which children inherit; a scan of /proc for that marker finds
escapees. Zombies are skipped: they are already dead.
"""

from __future__ import annotations

import contextlib
import os
import signal

MARKER = "DEVENV_INSTANCE"


def _stat(pid: str) -> tuple[str, int] | None:
    """(state letter, process group) of a pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[2])


def live_processes(marker: str, pgid: int | None = None) -> list[int]:
    """Live pids carrying `DEVENV_INSTANCE=<marker>...` or in process group `pgid`."""
    needle = f"{MARKER}={marker}".encode()
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        info = _stat(entry)
        if info is None or info[0] in ("Z", "X"):
            continue
        if pgid is not None and info[1] == pgid:
            found.append(int(entry))
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if needle in environ:
            found.append(int(entry))
    return found


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_pids(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
