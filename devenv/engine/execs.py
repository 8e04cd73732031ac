"""`develop.watch` entries with `action: sync+exec`: the files are already where
the local process reads them, so only `exec.command` runs, in the service's
working directory with its environment, its output in the unit's log.

One run at a time per rule and unit; changes meanwhile make one more run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from devenv.config.model import Service, WatchRule
from devenv.events import Stream
from devenv.runtime.lines import LineSplitter


class Execs:
    def __init__(
        self,
        note: Callable[[str, str], None],
        output: Callable[[str, Stream, list[str]], None],
        environment: Callable[[Service], dict[str, str]],
    ) -> None:
        self._note = note
        self._output = output
        self._environment = environment
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._again: set[tuple[str, int]] = set()

    def run(self, unit: str, service: Service, rule: WatchRule, files: tuple[str, ...]) -> None:
        key = (unit, id(rule))
        if key in self._running and not self._running[key].done():
            self._again.add(key)
            return
        task = asyncio.create_task(self._loop(key, unit, service, rule, files))
        self._running[key] = task

    async def _loop(
        self,
        key: tuple[str, int],
        unit: str,
        service: Service,
        rule: WatchRule,
        files: tuple[str, ...],
    ) -> None:
        await self._once(unit, service, rule, files)
        while key in self._again:
            self._again.discard(key)
            await self._once(unit, service, rule, ())

    async def _once(
        self, unit: str, service: Service, rule: WatchRule, files: tuple[str, ...]
    ) -> None:
        argv = rule.exec or ()
        if not argv or service.local is None:
            return
        shown = ", ".join(files[:3]) or "files"
        self._note(unit, f"synced {shown}: running {' '.join(argv)}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=service.local.cwd,
                env=self._environment(service),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            self._note(unit, f"cannot run {argv[0]}: {error.strerror or error}")
            return
        assert proc.stdout is not None
        splitter = LineSplitter()
        try:
            while chunk := await proc.stdout.read(65536):
                if lines := splitter.feed(chunk):
                    self._output(unit, "stdout", lines)
            if rest := splitter.flush():
                self._output(unit, "stdout", rest)
            code = await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        self._note(unit, f"{' '.join(argv)}: exit {code}")

    def close(self) -> None:
        for task in self._running.values():
            task.cancel()
