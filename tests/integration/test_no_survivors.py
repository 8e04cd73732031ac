"""No process of a service survives its stop, whatever it does to escape: real
escapees (a cleared environment plus `setsid`, a double fork, a process deaf to
SIGTERM), with a cgroup v2, a cgroup v1 and none (then devenv is a child
subreaper and finds orphans by parentage); the orphan reaper; the guard after
a SIGKILL of a real `devenv start`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_support import (
    fast_options,
    hang_guard,  # noqa: F401 (autouse fixture)
    make_stack,
    pid_alive,
    read_pids,
    service,
    wait_state,
    wait_until,
)

from devenv.engine.supervisor import Engine
from devenv.events import UnitState as S
from devenv.runtime import cgroups, orphans, reap

PY = sys.executable
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

# `(env -i setsid sleep N &)`: the subshell exits at once, the sleep has left the
# group and has no environment (no marker): the case of issue 11.
ESCAPE = "(env -i setsid sh -c 'echo $$ >> pids; exec sleep 2222' &)"
# A double fork with setsid, keeping the environment, deaf to SIGTERM.
DOUBLE_FORK = textwrap.dedent(
    """
    import os, signal, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            open("pids", "a").write(f"{os.getpid()}\\n")
            time.sleep(300)
        os._exit(0)
    print("forked", flush=True)
    time.sleep(300)
    """
)
# Deaf to SIGTERM in its own group, says when it got it.
STUBBORN = textwrap.dedent(
    """
    import os, signal, time
    def note(*_):
        open("termed", "a").write(f"{os.getpid()}\\n")
    signal.signal(signal.SIGTERM, note)
    open("pids", "a").write(f"{os.getpid()}\\n")
    print("up", flush=True)
    while True:
        time.sleep(0.05)
    """
)


def modes() -> list[str]:
    found = ["off"]
    for kind in ("v2", "v1"):
        if cgroups.backend_for(kind) is not None:
            found.append(kind)
    return found


@pytest.fixture(params=["v2", "v1", "off"])
def cgroup_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DEVENV_CGROUP for the test; with "off", this process is a child subreaper
    for the test's length (as devenv is), reaping adopted orphans."""
    mode: str = request.param
    if mode not in modes():
        pytest.skip(f"no writable cgroup {mode} hierarchy here")
    monkeypatch.setenv("DEVENV_CGROUP", mode)
    if mode == "off":
        if not orphans.become_subreaper():
            pytest.skip("cannot become a child subreaper (not Linux)")
        try:
            yield mode
        finally:
            orphans.stop_being_subreaper()
    else:
        yield mode


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid in read_pids(tmp_path / "pids"):  # never leave anything behind, even on failure
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def no_cgroups_left(run_id: str) -> bool:
    return all(
        not (backend.base / f"devenv-{run_id}").exists()
        for kind in ("v2", "v1")
        if (backend := cgroups.backend_for(kind)) is not None
    )


@linux_only
async def test_an_escapee_with_no_environment_is_stopped(cgroup_mode: str, project: Path) -> None:
    reaper = orphans.Reaper()
    reaper.start()
    stack = make_stack(
        project, service("api", f"{ESCAPE}; echo started; sleep 300", project, shell=True)
    )
    engine = Engine(stack, fast_options(project, watchdog=False))
    try:
        await engine.start()
        await wait_until(lambda: len(read_pids(project / "pids")) == 1, what="the escapee")
        (escapee,) = read_pids(project / "pids")
        assert pid_alive(escapee)
        await engine.stop()
        await wait_until(lambda: not pid_alive(escapee), 5, "the escapee gone")
        assert engine.state_of("api") == S.STOPPED
    finally:
        await engine.shutdown()
        reaper.close()
    assert no_cgroups_left(engine.run_id)


@linux_only
async def test_a_double_fork_deaf_to_sigterm_is_killed_after_the_grace(
    cgroup_mode: str, project: Path
) -> None:
    (project / "forker.py").write_text(DOUBLE_FORK)
    (project / "stubborn.py").write_text(STUBBORN)
    stack = make_stack(
        project,
        service("api", f"{PY} forker.py", project, grace=1.0),
        service("deaf", f"{PY} stubborn.py", project, grace=1.0),
    )
    engine = Engine(stack, fast_options(project, watchdog=False, stop_grace=None))
    try:
        await engine.start()
        await wait_until(lambda: len(read_pids(project / "pids")) == 2, what="both processes")
        pids = read_pids(project / "pids")
        began = time.monotonic()
        stopping = asyncio.ensure_future(engine.stop())
        await wait_until(lambda: (project / "termed").exists(), what="SIGTERM first")
        assert all(pid_alive(p) for p in pids)  # told, not killed
        await stopping
        elapsed = time.monotonic() - began
        assert not any(pid_alive(p) for p in pids)
        assert elapsed >= 1.0  # SIGKILL only once the grace period was over
        texts = [r.text for r in engine.logs("api")] + [r.text for r in engine.logs("deaf")]
        assert any("did not stop within 1s of SIGTERM" in t for t in texts)
    finally:
        await engine.shutdown()


@linux_only
async def test_what_a_leader_leaves_when_it_exits_goes_too(cgroup_mode: str, project: Path) -> None:
    reaper = orphans.Reaper()
    reaper.start()
    stack = make_stack(project, service("task", f"{ESCAPE}; echo done", project, shell=True))
    engine = Engine(stack, fast_options(project, watchdog=False))
    try:
        await engine.start()
        await wait_state(engine, "task", S.COMPLETED)
        escapees = read_pids(project / "pids")
        await wait_until(lambda: not any(pid_alive(p) for p in escapees), 5, "escapee gone")
    finally:
        await engine.shutdown()
        reaper.close()


@linux_only
async def test_a_second_stop_does_not_kill_early(project: Path) -> None:
    (project / "stubborn.py").write_text(STUBBORN)
    stack = make_stack(project, service("deaf", f"{PY} stubborn.py", project, grace=1.0))
    engine = Engine(stack, fast_options(project, watchdog=False, stop_grace=None))
    try:
        await engine.start()
        await wait_until(lambda: len(read_pids(project / "pids")) == 1)
        (pid,) = read_pids(project / "pids")
        first = asyncio.ensure_future(engine.stop())
        await wait_until(lambda: (project / "termed").exists(), what="SIGTERM")
        second = asyncio.ensure_future(engine.stop())
        await asyncio.sleep(0.3)
        assert pid_alive(pid)  # the second stop waited for the first's grace
        await asyncio.gather(first, second)
        assert not pid_alive(pid)
        assert (project / "termed").read_text().split() == [str(pid)]  # one SIGTERM
    finally:
        await engine.shutdown()


# --- the reaper ---------------------------------------------------------------


@linux_only
async def test_the_reaper_reaps_orphans_and_never_steals_asyncios_children(
    tmp_path: Path,
) -> None:
    if not orphans.become_subreaper():
        pytest.skip("cannot become a child subreaper")
    reaper = orphans.Reaper(interval=0.1)
    reaper.start()
    try:
        # Orphans: their parent exits at once, they come back to us and die.
        for _ in range(5):
            subprocess.run(["/bin/sh", "-c", "(sleep 0.2 &)"], check=True)
        adopted = orphans.adopted()
        assert len(adopted) == 5
        await wait_until(lambda: set(adopted) <= set(reaper.reaped), 10, "orphans reaped")
        assert not [p for p in adopted if os.path.exists(f"/proc/{p}")]
        # Children asyncio waits for, exiting all the time while the reaper runs.
        started: set[int] = set()
        for _ in range(10):
            procs = [
                await asyncio.create_subprocess_exec("/bin/sh", "-c", f"exit {n}")
                for n in range(10)
            ]
            started.update(p.pid for p in procs)
            codes = await asyncio.gather(*(p.wait() for p in procs))
            assert codes == list(range(10))  # not 255: no exit status was taken away
        await asyncio.sleep(0.5)  # two more passes
        assert not started & set(reaper.reaped)
    finally:
        reaper.close()
        orphans.stop_being_subreaper()


@linux_only
@linux_only
def test_the_subtree_walk_finds_what_a_scan_of_proc_finds() -> None:
    """Children and grandchildren, through the kernel's children lists, exactly
    as a pass over all of /proc sees them."""
    tree = subprocess.Popen(
        ["sh", "-c", "sleep 30 & sleep 30 & sh -c 'sleep 30 & wait' & wait"],
        start_new_session=True,
    )
    try:
        wait_until_sync(lambda: len(reap.descendants(reap.scan(), [tree.pid])) >= 4, 10)
        walked = reap.subtree(os.getpid())
        assert walked is not None, "this kernel keeps children lists (CONFIG_PROC_CHILDREN)"
        table = reap.scan()
        below = reap.descendants(table, [os.getpid()])
        assert {pid for pid, info in walked.items() if info.alive} == below
        assert reap.descendants(walked, [tree.pid]) == reap.descendants(table, [tree.pid])
        assert {tree.pid} <= walked.keys()
    finally:
        os.killpg(tree.pid, signal.SIGKILL)
        tree.wait()


def wait_until_sync(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_orphans_are_told_from_helpers_devenv_started_itself(tmp_path: Path) -> None:
    """Without a cgroup, the last unit to stop takes the orphans no unit claims:
    an `env -i` escapee is one; a process with devenv's own environment (a
    browser the UI opened, re-parented the same way) is not."""
    if not orphans.become_subreaper():
        pytest.skip("cannot become a child subreaper")
    pids = tmp_path / "pids"
    try:
        subprocess.run(["/bin/sh", "-c", f"(sleep 301 & echo $! >> {pids})"], check=True)
        subprocess.run(
            ["/bin/sh", "-c", f"(env -i setsid sleep 302 & echo $! >> {pids})"], check=True
        )
        helper, escapee = read_pids(pids)
        table = reap.scan()
        assert {helper, escapee} <= set(orphans.adopted(table))
        assert orphans.unclaimed(table, "run/x/1/") == [escapee]
    finally:
        for pid in read_pids(pids):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        orphans.stop_being_subreaper()


# --- the real CLI: devenv stop, and the guard after SIGKILL ---------------------


def write_project(directory: Path) -> None:
    (directory / "compose.yaml").write_text(
        textwrap.dedent(
            f"""
            services:
              api:
                stop_grace_period: 1s
                x-devenv:
                  shell: true
                  run: "{ESCAPE.replace("$", "$$")}; {PY} forker.py"
            """
        )
    )
    (directory / "forker.py").write_text(DOUBLE_FORK)


def devenv(directory: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-m", "devenv", *args],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **env},
        start_new_session=True,
    )


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@linux_only
@pytest.mark.parametrize("mode", ["v2", "v1"])
def test_devenv_stop_leaves_no_escapee(project: Path, mode: str) -> None:
    if mode not in modes():
        pytest.skip(f"no writable cgroup {mode} hierarchy here")
    write_project(project)
    proc = devenv(project, "start", "--no-tui", DEVENV_CGROUP=mode)
    try:
        wait_for(lambda: len(read_pids(project / "pids")) == 2, 20, "both escapees")
        pids = read_pids(project / "pids")
        stop = subprocess.run(
            [PY, "-m", "devenv", "stop"], cwd=project, capture_output=True, text=True, timeout=30
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        out, _ = proc.communicate(timeout=30)
        assert not [p for p in pids if pid_alive(p)], out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@linux_only
@pytest.mark.parametrize("mode", ["v2", "v1", "off"])
def test_the_guard_after_sigkill_of_devenv(project: Path, mode: str) -> None:
    """With a cgroup the guard finds both escapees; without one it finds the
    one that kept the marker in its environment, and cannot find the one that
    cleared it (its parent is gone, and so is devenv, to which it belonged)."""
    if mode != "off" and mode not in modes():
        pytest.skip(f"no writable cgroup {mode} hierarchy here")
    write_project(project)
    proc = devenv(project, "start", "--no-tui", DEVENV_CGROUP=mode)
    try:
        wait_for(lambda: len(read_pids(project / "pids")) == 2, 20, "both escapees")
        cleared, marked = read_pids(project / "pids")
        if read_environ_has_marker(cleared):  # the order of the two writes may vary
            cleared, marked = marked, cleared
        proc.kill()
        proc.wait(timeout=5)
        wait_for(lambda: not pid_alive(marked), 10, "the guard to kill the marked escapee")
        if mode == "off":
            time.sleep(0.5)
            assert pid_alive(cleared)  # the documented limit, without a cgroup
        else:
            wait_for(lambda: not pid_alive(cleared), 10, "the guard to kill the cleared one")
            run_dirs = [b.base for k in ("v2", "v1") if (b := cgroups.backend_for(k)) is not None]
            wait_for(
                lambda: (
                    not any(
                        (p / "api.1").exists()
                        for d in run_dirs
                        for p in d.iterdir()
                        if p.name.startswith("devenv-")
                    )
                ),
                10,
                "the guard to remove the run's cgroups",
            )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_environ_has_marker(pid: int) -> bool:
    try:
        return b"DEVENV_INSTANCE=" in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def test_closing_the_guard_does_not_block() -> None:
    from devenv.engine.watchdog import Guard

    guard = Guard("closetest")
    guard.start()
    pid = guard.pid
    assert pid is not None
    began = time.monotonic()
    waiter = guard.close()
    assert time.monotonic() - began < 0.1
    assert waiter is None or isinstance(waiter.name, str)
    if waiter is not None:
        waiter.join(10)
    assert not pid_alive(pid)


@linux_only
async def test_a_cgroup_that_cannot_be_joined_falls_back_to_proc(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cgroup is gone before the service starts (its wrapper's write fails):
    devenv sees the leader outside it, says so, finds the processes through
    /proc instead, and does not use that hierarchy again."""
    if "v2" not in modes():
        pytest.skip("no writable cgroup v2 hierarchy here")
    monkeypatch.setenv("DEVENV_CGROUP", "v2")
    made = cgroups.RunCgroups.unit

    def vanishing(self: cgroups.RunCgroups, name: str, generation: int) -> object:
        group = made(self, name, generation)
        assert group is not None
        group.remove()  # a real cgroup, removed under devenv's feet
        return group

    monkeypatch.setattr(cgroups.RunCgroups, "unit", vanishing)
    (project / "forker.py").write_text(DOUBLE_FORK)
    stack = make_stack(project, service("api", f"{PY} forker.py", project, grace=0.5))
    engine = Engine(stack, fast_options(project, watchdog=False, stop_grace=None))
    try:
        await engine.start()
        await wait_until(lambda: len(read_pids(project / "pids")) == 1, what="the escapee")
        await asyncio.sleep(1.2)  # past the time a leader has to join
        await engine.stop()
        assert not any(pid_alive(p) for p in read_pids(project / "pids"))
        assert any("could not join cgroup" in r.text for r in engine.logs("api"))
        assert cgroups.backend_for("v2") is None
    finally:
        await engine.shutdown()
        cgroups.reset()  # found afresh by the next test
