"""Finding the processes of a unit in /proc, and signalling them.

A unit's processes, without a cgroup (devenv/runtime/cgroups.py is exact and
preferred): its process group; every process carrying its run's
`DEVENV_INSTANCE=<run>/<unit>/<n>/` marker in its environment (children inherit
it, so a double fork plus `setsid` is still found); and every live descendant
of those. A process that left the group *and* cleared its environment is found
only by parentage: while its parent lives, as a descendant; once its parent has
died, it is re-parented to devenv (when devenv is a child subreaper, see
devenv/runtime/orphans.py) and found there.

One pass over /proc reads every process's stat once (pid, parent, group,
state); zombies are dead already and never counted. Only Linux has /proc;
elsewhere process groups are all there is.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

MARKER = "DEVENV_INSTANCE"


@dataclass(frozen=True, slots=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    state: str  # R, S, D, Z, ... (proc(5))
    started: int  # clock ticks since boot

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X", "x")


Table = dict[int, ProcInfo]


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat's fields after the command (which may hold spaces and
    parentheses), from the state on; None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


def stat(pid: int) -> ProcInfo | None:
    """One process's entry, or None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # started: field 22 of proc(5)
    return ProcInfo(pid, int(fields[1]), int(fields[2]), fields[0].decode(), int(fields[19]))


def scan() -> Table:
    """Every process but this one (zombies included: see `ProcInfo.alive`)."""
    table: Table = {}
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if entry.isdigit() and int(entry) != me:
            info = stat(int(entry))
            if info is not None:
                table[info.pid] = info
    return table


def subtree(root: int) -> Table | None:
    """The processes below `root` (zombies included), read from the kernel's
    per-thread children lists: a walk of a few entries where `scan` reads every
    process of the machine (a stop of devenv's last unit looks for its orphans
    twice; on a desktop with hundreds of processes each scan costs ~10 ms).
    None where the kernel keeps no such lists (CONFIG_PROC_CHILDREN unset).
    A process re-parented in that very instant may be missed by this look (a
    scan that read its old parent would miss it too); a stop looks again on
    each pass while anything of its unit is left."""
    table: Table = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            if pid == root:
                return None
            continue  # gone meanwhile
        for thread in threads:
            try:
                with open(f"/proc/{pid}/task/{thread}/children", "rb") as f:
                    children = f.read().split()
            except FileNotFoundError:
                if pid == root and thread == str(root):
                    return None
                continue
            except OSError:
                continue
            for child in map(int, children):
                if child not in table and (info := stat(child)) is not None:
                    table[child] = info
                    stack.append(child)
    return table


def environ(pid: int) -> bytes:
    """The process's environment as /proc has it (NUL-separated); b"" if unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def carries(pid: int, needle: bytes) -> bool:
    """Whether the process's environment holds `needle` (`KEY=value...`)."""
    return needle in environ(pid)


def marker_needle(marker: str) -> bytes:
    return f"{MARKER}={marker}".encode()


def descendants(table: Table, roots: Iterable[int]) -> set[int]:
    """Live processes below `roots` (the roots not included)."""
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return {pid for pid in found if table[pid].alive}


def unit_processes(
    table: Table, *, pgid: int | None, marker: str | None, extra: Iterable[int] = ()
) -> set[int]:
    """Live processes of a unit: its group, its marked processes, `extra` (pids
    found otherwise: cgroup members, adopted orphans), and the descendants of all."""
    needle = marker_needle(marker) if marker else None
    found: set[int] = set()
    for info in table.values():
        if not info.alive:
            continue
        if (pgid is not None and info.pgid == pgid) or (needle and carries(info.pid, needle)):
            found.add(info.pid)
    found.update(pid for pid in extra if pid in table and table[pid].alive)
    found |= descendants(table, found)
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


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
