"""The life of one unit: wait for its dependencies, launch it, watch it run, and
restart it with backoff under its restart policy."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from devenv.config.model import Service, Stack
from devenv.engine.conditions import DependencyWaits
from devenv.engine.health import HealthProbes
from devenv.engine.records import S, _Rec
from devenv.errors import DevenvError
from devenv.runtime.base import Unit

log = logging.getLogger("devenv.engine")


def docker_host_of(stack: Stack) -> str | None:
    """The Docker Engine the stack's containers run on; None without containers."""
    if not any(not s.is_process for s in stack.services.values()):
        return None
    try:
        from devenv.runtime import container
    except ImportError:
        return None
    host: str | None = container.docker_host()
    return host


class UnitLifecycle(DependencyWaits, HealthProbes):
    """A part of `Engine`: one task per unit runs `_lifecycle`."""

    def _make_unit(self, rec: _Rec) -> Unit:
        assert self._ctx is not None
        if rec.unit is not None:
            return rec.unit
        factory = self.options.unit_factory
        if factory is not None:
            rec.unit = factory(rec.service, rec.replica, self._ctx)
        elif rec.service.is_process:
            from devenv.runtime.process import ProcessUnit

            rec.unit = ProcessUnit(rec.service, rec.replica, self._ctx)
        else:
            try:
                from devenv.runtime.container import (
                    ContainerUnit,
                )
            except ImportError as error:
                raise DevenvError(
                    "container support not available", hint=str(error), service=rec.service.name
                ) from None
            rec.unit = ContainerUnit(rec.service, rec.replica, self._ctx)
        return rec.unit

    async def _prepare_containers(self) -> None:
        if self._containers_ready is None:
            self._containers_ready = asyncio.get_running_loop().create_future()
            try:
                from devenv.runtime.container import (
                    prepare_project,
                )

                assert self._ctx is not None
                await prepare_project(self._ctx)
            except ImportError as error:
                failure = DevenvError("container support not available", hint=str(error))
                self._containers_ready.set_exception(failure)
            except BaseException as error:
                self._containers_ready.set_exception(error)
            else:
                self._containers_ready.set_result(None)
        await asyncio.shield(self._containers_ready)

    async def _lifecycle(self, rec: _Rec, *, check_deps: bool) -> None:
        while rec.want == "run":
            if check_deps:
                await self._wait_dependencies(rec)
            check_deps = False
            if not await self._launch(rec):
                return
            began = time.monotonic()
            code = await self._run_until_exit(rec)
            self._release(rec)
            if rec.want != "run":
                return
            if time.monotonic() - began >= self.options.backoff_reset:
                rec.crashes = 0
            again = self._should_restart(rec, code)
            if not again:
                rec.want = "idle"  # ended for good: dependents can tell before we return
            if code == 0:
                self._set(rec, S.COMPLETED, "exit 0", exit_code=0)
            else:
                self._set(rec, S.CRASHED, _describe_exit(code), exit_code=code)
            if not again:
                return
            rec.crashes += 1
            delay = min(
                self.options.backoff_cap, self.options.backoff_base * 2 ** (rec.crashes - 1)
            )
            why = _describe_exit(code)
            self._set(rec, S.BACKOFF, f"{why}; restarting in {delay:.1f}s (#{rec.crashes})")
            self._devenv_line(rec, f"{why}; restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            rec.restarts += 1

    def _restart_policy(self, service: Service) -> str:
        local = service.local
        if local is not None and local.restart != "no":
            return local.restart
        return service.restart or "no"

    def _should_restart(self, rec: _Rec, code: int) -> bool:
        policy = self._restart_policy(rec.service)
        if policy in ("always", "unless-stopped"):
            return True
        return policy == "on-failure" and code != 0

    async def _launch(self, rec: _Rec) -> bool:
        async with rec.lock:
            if rec.want != "run":
                return False
            try:
                unit = self._make_unit(rec)
                if unit.kind == "container" and self.options.unit_factory is None:
                    await self._prepare_containers()
                await unit.start()
            except asyncio.CancelledError:
                raise
            except DevenvError as error:
                rec.attempts += 1
                self._fail(rec, error.message, str(error))
                return False
            except Exception as error:  # an unexpected failure stays visible on the unit
                log.exception("starting %s", rec.name)
                rec.attempts += 1
                self._fail(rec, f"{type(error).__name__}: {error}", None)
                return False
            rec.attempts += 1
            rec.ever_started = True
            rec.started_at = time.time()
            rec.exit_code = None
            rec.pid = unit.pid
            rec.health = None
            if unit.kind == "process" and unit.pid is not None and self._guard is not None:
                self._guard.add(unit.pid)
                rec.guarded = unit.pid
            if unit.container_id is not None and self._guard is not None:
                self._guard.add_container(unit.container_id, docker_host_of(self.stack) or "")
                rec.guarded_container = unit.container_id
            self._set(rec, S.STARTING, f"pid {unit.pid}" if unit.pid else "")
            return True

    def _fail(self, rec: _Rec, detail: str, full: str | None) -> None:
        rec.want = "idle"
        self._set(rec, S.FAILED, detail)
        self._devenv_line(rec, f"failed to start: {full or detail}")

    def _release(self, rec: _Rec) -> None:
        """The unit's process is gone: the guard no longer needs to watch it."""
        if self._guard is not None:
            if rec.guarded is not None:
                self._guard.remove(rec.guarded)
            if rec.guarded_container is not None:
                self._guard.remove_container(rec.guarded_container)
        rec.guarded = rec.guarded_container = None

    async def _run_until_exit(self, rec: _Rec) -> int:
        assert rec.unit is not None
        probe = asyncio.create_task(self._probe(rec), name=f"probe-{rec.name}")
        try:
            return await rec.unit.wait_exit()
        finally:
            probe.cancel()
            # bounded: a probe must never keep a stop waiting
            await asyncio.wait({probe}, timeout=2.0)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"
