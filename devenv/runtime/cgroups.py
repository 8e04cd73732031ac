"""A cgroup per local unit, where one can be made: every process of the unit,
exactly, whatever it does (a double fork, `setsid`, a cleared environment).

Where: under devenv's own cgroup, `devenv-<run id>/<unit>.<n>` (n counts the
unit's launches), in

- the cgroup v2 hierarchy (`cgroup2` mounted, at /sys/fs/cgroup or, on hybrid
  machines, /sys/fs/cgroup/unified), when devenv's own cgroup there is writable
  (root, or a delegated subtree such as systemd's `user@.service`); killing
  is one write to `cgroup.kill` (Linux 5.14+), which no fork can race;
- else a cgroup v1 `pids` or `freezer` hierarchy, writable the same way;
  killing sets `pids.max` to 0 (no more forks) and kills the members until
  none is left;
- else nowhere: the unit falls back to its process group, the
  `DEVENV_INSTANCE` marker and orphans found by parentage (devenv/runtime/reap.py).

`DEVENV_CGROUP=off|v2|v1|auto` (default auto) overrides the choice. A
hierarchy is used where devenv can write its own cgroup's `cgroup.procs` and
make a cgroup below it; if a launch then shows that the process did not land
in its cgroup, the unit is found through /proc instead and the hierarchy is not
used again by this devenv process.

A process is moved into its unit's cgroup right after it is launched, by
devenv, beside the launch (in a thread): in cgroup v1, and in v2 on a loaded
machine, the kernel makes a move wait for an RCU grace period (10-20 ms), and a
wrapper that joined before the exec put that on every launch, and on every
level of a dependency chain (bench/start_overhead.py: 139 ms against 38 ms for
a chain six deep). What the program forks in the instant before the move is
still found: through its process group, the DEVENV_INSTANCE marker, its
descendants, and, for a process that both leaves its group and clears its
environment in that instant, as an orphan of devenv's when the session ends.
What is left of a unit is then one read of `cgroup.procs`, not a scan of every
process's stat and environment in /proc.

Empty cgroups are removed as units end, and the run's directory with the last
of them; the orphan guard removes them when devenv is killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["v2", "v1"]
PROCS = "cgroup.procs"


@dataclass(frozen=True)
class Backend:
    kind: Kind
    base: Path  # devenv's own cgroup, where run directories go
    controller: str = ""  # v1: the hierarchy's controller (pids, freezer)


class UnitCgroup:
    """The cgroup of one launch of a unit."""

    def __init__(self, backend: Backend, path: Path) -> None:
        self.backend = backend
        self.path = path

    @property
    def procs_file(self) -> Path:
        return self.path / PROCS

    def pids(self) -> list[int]:
        """Its processes now (zombies are not members any more)."""
        try:
            text = self.procs_file.read_text()
        except OSError:
            return []
        return [int(x) for x in text.split()]

    def contains(self, pid: int) -> bool:
        return pid in self.pids()

    def add(self, pid: int) -> bool:
        """Move `pid` (and its threads) in: a blocking write the kernel may make
        wait ~10 ms (an RCU grace period), so callers do it off their loop."""
        return _write(self.procs_file, str(pid))

    def ever_used(self) -> bool:
        """Whether any process ever ran in it (v2: CPU time used; v1 `pids`:
        a peak above 0); False when it cannot tell."""
        try:
            if self.backend.kind == "v2":
                for line in (self.path / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) > 0
            elif self.backend.controller == "pids":
                return int((self.path / "pids.peak").read_text()) > 0
        except (OSError, ValueError):
            pass
        return False

    def signal(self, sig: int) -> list[int]:
        """Send `sig` to every member; the pids it went to."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        return pids

    def kill(self) -> None:
        """SIGKILL every member, and any it forks meanwhile."""
        if self.backend.kind == "v2" and _write(self.path / "cgroup.kill", "1"):
            return
        if self.backend.controller == "pids":
            _write(self.path / "pids.max", "0")  # no more forks while we kill
        for _ in range(100):
            if not self.signal(signal.SIGKILL):
                return
            time.sleep(0.002)

    def remove(self) -> None:
        """Remove the cgroup (once empty), and the run's directory if it is the last."""
        for path in (self.path, self.path.parent):
            try:
                path.rmdir()
            except OSError:
                return


class RunCgroups:
    """The cgroups of one devenv run."""

    def __init__(self, backend: Backend, run_id: str) -> None:
        self.backend = backend
        self.dir = backend.base / f"devenv-{run_id}"

    def unit(self, name: str, generation: int) -> UnitCgroup | None:
        """A new cgroup for a launch of `name`; None when it cannot be made."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path = self.dir / f"{safe}.{generation}"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return UnitCgroup(self.backend, path)


def for_run(run_id: str, environ: Mapping[str, str] | None = None) -> RunCgroups | None:
    """This run's cgroups, or None where devenv cannot make any."""
    choice = (os.environ if environ is None else environ).get("DEVENV_CGROUP", "auto")
    backend = backend_for(choice)
    if backend is None or not run_id:
        return None
    return RunCgroups(backend, run_id)


_BACKENDS: dict[str, Backend | None] = {}


def backend_for(choice: str) -> Backend | None:
    """The backend for a `DEVENV_CGROUP` value, found and checked once per process."""
    choice = choice.strip().lower() or "auto"
    if choice not in _BACKENDS:
        _BACKENDS[choice] = _find(choice)
    return _BACKENDS[choice]


def _find(choice: str) -> Backend | None:
    if choice == "off" or not os.path.exists("/proc/self/cgroup"):
        return None
    kinds: list[Kind] = ["v2"] if choice == "v2" else ["v1"] if choice == "v1" else ["v2", "v1"]
    for kind in kinds:
        for backend in _candidates(kind):
            if _works(backend):
                return backend
    return None


def _candidates(kind: Kind) -> list[Backend]:
    own = _own_cgroups()
    found: list[Backend] = []
    for mount_point, root, fstype, options in _mounts():
        if kind == "v2" and fstype == "cgroup2":
            path = own.get("")
            if path is not None:
                base = _inside(mount_point, root, path)
                if base is not None:
                    found.append(Backend("v2", base))
        elif kind == "v1" and fstype == "cgroup":
            for controller in ("pids", "freezer"):
                if controller in options.split(","):
                    path = own.get(controller)
                    base = _inside(mount_point, root, path) if path is not None else None
                    if base is not None:
                        found.append(Backend("v1", base, controller))
    found.sort(key=lambda b: b.controller != "pids")
    return found


def _mounts() -> list[tuple[str, str, str, str]]:
    """(mount point, root, fs type, super options) of every cgroup file system."""
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    out.append((_unescape(fields[4]), fields[3], tail[0], tail[2]))
    except OSError:
        pass
    return out


def _own_cgroups() -> dict[str, str]:
    """controller -> devenv's own cgroup path; "" for the v2 hierarchy."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for controller in controllers.split(",") if controllers else [""]:
                    own[controller] = path
    except (OSError, ValueError):
        pass
    return own


def _inside(mount_point: str, root: str, path: str) -> Path | None:
    if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
        return None
    relative = path[len(root) :] if root != "/" else path
    return Path(mount_point) / relative.lstrip("/")


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _works(backend: Backend) -> bool:
    """devenv may move processes into cgroups it makes there: it can write its
    own cgroup's `cgroup.procs` (the common ancestor's, which migration needs)
    and make a cgroup below it. Whether a process really lands in it is seen on
    the first launch (see `disable`)."""
    if not os.access(backend.base / PROCS, os.W_OK):
        return False
    probe = backend.base / f"devenv-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return False
    return True


def reset() -> None:
    """Find the backends afresh on next use (tests, embedders)."""
    _BACKENDS.clear()


def disable(backend: Backend) -> None:
    """Stop using `backend` in this process: a launch found that a process
    does not land in the cgroups made there (the units fall back to /proc)."""
    for choice, found in list(_BACKENDS.items()):
        if found == backend:
            _BACKENDS[choice] = None


def _write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
    except OSError:
        return False
    return True
