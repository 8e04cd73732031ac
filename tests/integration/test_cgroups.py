"""cgroups per unit on the real kernel: joining before the first fork, killing
a tree that keeps forking, removing what is empty."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from devenv.runtime import cgroups
from devenv.runtime.cgroups import Backend, _inside


def backend(kind: str) -> Backend:
    found = cgroups.backend_for(kind)
    if found is None:
        pytest.skip(f"no writable cgroup {kind} hierarchy here")
    return found


@pytest.mark.parametrize("kind", ["v2", "v1"])
def test_a_forking_tree_joins_and_is_killed_whole(kind: str) -> None:
    run = cgroups.RunCgroups(backend(kind), f"test{os.getpid()}")
    group = run.unit("forker", 1)
    assert group is not None
    # A shell that forks short-lived children without end, and one escapee
    # with its own session and no environment.
    # (it waits a moment first: the move into the cgroup is made beside the
    # launch, and what forks before it lands is its process group's to find)
    script = (
        "sleep 0.5; (env -i setsid sleep 300 &); while true; do (sleep 0.01 &); sleep 0.005; done"
    )
    proc = subprocess.Popen(["/bin/sh", "-c", script])
    assert group.add(proc.pid)
    try:
        deadline = time.monotonic() + 10
        while len(group.pids()) < 3:
            assert time.monotonic() < deadline, group.pids()
            time.sleep(0.01)
        assert group.contains(proc.pid)  # the leader itself joined, same pid
        group.kill()
        proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while group.pids():
            assert time.monotonic() < deadline, group.pids()
            time.sleep(0.01)
        group.remove()
        assert not group.path.exists() and not run.dir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        group.kill()
        group.remove()


def test_paths_inside_a_mount() -> None:
    assert _inside("/sys/fs/cgroup", "/", "/user.slice/a") == Path("/sys/fs/cgroup/user.slice/a")
    assert _inside("/sys/fs/cgroup", "/", "/") == Path("/sys/fs/cgroup")
    assert _inside("/c", "/docker/x", "/docker/x/y") == Path("/c/y")
    assert _inside("/c", "/docker/x", "/other") is None


def test_off_means_no_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVENV_CGROUP", "off")
    assert cgroups.for_run("anything") is None
    assert cgroups.for_run("") is None
