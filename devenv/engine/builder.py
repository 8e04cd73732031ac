"""`x-devenv.build`: a service's build steps, run before its first start and
before each restart a watched change causes, while the running instance (if
any) keeps serving.

One builder per service, shared by its replicas (they run the same build), so
builds of one service never overlap. A newer change while a build runs cancels
it (SIGTERM to its whole process group, SIGKILL after a moment) and a fresh
build starts with every change since the last good one. A step with `when`
paths runs only when one of those changed (and at the first build).

Steps run in the service's working directory with its environment; their
output goes to the service's log, and the outcome is reported (the runner
keeps the old instance when a build fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devenv.config.model import BuildStep, Service
from devenv.events import Stream
from devenv.runtime.base import describe_exit
from devenv.runtime.lines import LineSplitter

KILL_AFTER = 2.0  # a cancelled build's group gets SIGKILL this long after SIGTERM

Output = Callable[[Stream, list[str]], None]


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    detail: str  # "built in 1.2s", "exit 2 in go build …"
    stamp: float = 0.0  # the newest change this build includes


class Builder:
    def __init__(
        self,
        service: Service,
        project_dir: Path,
        output: Output,
        environment: Callable[[], dict[str, str]],
    ) -> None:
        self.service = service
        self.project_dir = project_dir
        self._output = output
        self._environment = environment
        self._task: asyncio.Task[BuildResult] | None = None
        self._task_stamp = 0.0
        self._want = -1.0  # the newest change asked for
        self._changes: set[str] = set()
        self._first = True  # nothing built yet: every step runs
        self._last: BuildResult | None = None
        self._waiters = 0
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def steps(self) -> tuple[BuildStep, ...]:
        local = self.service.local
        return local.build if local is not None else ()

    async def build(self, changes: frozenset[str], stamp: float) -> BuildResult:
        """A build that includes every change up to `stamp` (joining one under way
        that does; replacing one that does not)."""
        self.request(changes, stamp)
        self._waiters += 1
        try:
            while True:
                last = self._last
                if last is not None and last.stamp >= stamp and not self._running:
                    return last
                if not self._running:
                    self._start()
                task = self._task
                assert task is not None
                try:
                    result = await asyncio.shield(task)
                except asyncio.CancelledError:
                    if task.cancelled() and not _cancelling():
                        continue  # superseded by a newer change: wait for that one
                    raise
                if result.stamp >= stamp:
                    return result
        finally:
            self._waiters -= 1
            if self._waiters == 0 and self._running and self._task is not None:
                self._task.cancel()  # nobody wants it any more (a stop)

    def request(self, changes: frozenset[str], stamp: float) -> None:
        """Newer changes: the build under way (older) is cancelled for a fresh one."""
        self._changes |= changes
        if stamp > self._want:
            self._want = stamp
        if self._running and self._task_stamp < self._want and self._task is not None:
            self._task.cancel()

    @property
    def _running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _start(self) -> None:
        changes, self._changes = frozenset(self._changes), set()
        first, self._first = self._first, False
        self._task_stamp = self._want
        self._task = asyncio.ensure_future(self._run(changes, first, self._want))

    def selected(self, changes: frozenset[str], first: bool) -> list[BuildStep]:
        """The steps a build for these changes runs."""
        if first:
            return list(self.steps)
        changed = [self.project_dir / c for c in changes]
        chosen = []
        for step in self.steps:
            if not step.when or any(
                path == root or root in path.parents for path in changed for root in step.when
            ):
                chosen.append(step)
        return chosen

    async def _run(self, changes: frozenset[str], first: bool, stamp: float) -> BuildResult:
        began = time.monotonic()
        steps = self.selected(changes, first)
        try:
            for number, step in enumerate(steps, 1):
                counter = f" ({number}/{len(steps)})" if len(steps) > 1 else ""
                self._output("devenv", [f"build{counter}: {step.run}"])
                code = await self._step(step)
                if code != 0:
                    result = BuildResult(False, f"{describe_exit(code)} in {step.run}", stamp)
                    self._output("devenv", [f"build failed: {result.detail}"])
                    self._last = result
                    # the next build tries these changes again (all steps, if
                    # nothing was ever built)
                    self._changes |= changes
                    self._first = self._first or first
                    return result
        except asyncio.CancelledError:
            self._changes |= changes  # the next build includes these too
            self._first = self._first or first
            self._output("devenv", ["build cancelled: newer changes"])
            raise
        result = BuildResult(True, f"built in {time.monotonic() - began:.1f}s", stamp)
        self._output("devenv", [result.detail])
        self._last = result
        return result

    async def _step(self, step: BuildStep) -> int:
        local = self.service.local
        cwd = local.cwd if local is not None else self.project_dir
        try:
            proc = await asyncio.create_subprocess_exec(
                *step.argv,
                cwd=cwd,
                env=self._environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            self._output("stderr", [f"cannot run {step.argv[0]}: {error.strerror or error}"])
            return 127
        self._proc = proc
        try:
            assert proc.stdout is not None and proc.stderr is not None
            await asyncio.gather(
                self._relay(proc.stdout, "stdout"), self._relay(proc.stderr, "stderr")
            )
            return await proc.wait()
        except asyncio.CancelledError:
            await _kill_group(proc)
            raise
        finally:
            self._proc = None

    async def _relay(self, reader: asyncio.StreamReader, stream: Stream) -> None:
        splitter = LineSplitter()
        while chunk := await reader.read(65536):
            lines = splitter.feed(chunk)
            if lines:
                self._output(stream, lines)
        rest = splitter.flush()
        if rest:
            self._output(stream, rest)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """The whole build goes: its group gets SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, KILL_AFTER), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            async with asyncio.timeout(wait):
                await proc.wait()
            break
        except TimeoutError:
            continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
