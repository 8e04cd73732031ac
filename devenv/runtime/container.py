"""The container unit: a Compose service run as a Docker container, through the SDK.

Names, labels, networks and volumes follow Compose (`<project>-<service>-<n>`,
`<project>_default`, `<project>_<volume>`, `com.docker.compose.*`), so
`docker compose -p <project> ps` sees what devenv started and both share data.
What is created is a pure function of the service (`docker_spec`); the
project's networks and volumes and `down` are in `docker_project`; readiness
in `docker_health`.

What happens to the container is learnt from Docker's events for the project
(`docker_events`): it died (with its code), someone else stopped it (a `kill`
or `stop` devenv did not ask for: `stopped_outside`), someone started it again
(`revival`). When the Engine cannot be reached the container is not declared
dead: the unit waits for the connection, looks at the container again and
carries on, its output resumed from the last line it had (never replayed).

Blocking SDK calls run in threads; output and events reach the engine on its
own loop through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from devenv.config.model import Service
from devenv.errors import DevenvError, DockerUnavailableError, PortInUseError
from devenv.events import Progress, Stream
from devenv.runtime import docker_spec as ds
from devenv.runtime.base import Phase, ProbeTiming, Unit, UnitContext
from devenv.runtime.docker_connect import connect, resolve_endpoint, short_reason
from devenv.runtime.docker_events import ProjectEvents, project_events
from devenv.runtime.docker_health import HealthCheck, ports_answer, published_bindings
from devenv.runtime.docker_images import Cancel, Cancelled, api_reason, ensure_image
from devenv.runtime.docker_logs import LogCursor, docker_since, pump
from devenv.runtime.docker_project import prepare_project
from devenv.runtime.docker_stats import UsageMeter

__all__ = ["ContainerUnit", "docker_host", "prepare_project"]

HEALTH_EXEC_INTERVAL = 0.1  # seconds between devenv's own runs of a healthcheck while starting
# ...when the container printed something since the last run; a quiet one is
# checked less often: an exec costs Docker ~50 ms of CPU, which a starting
# database on a small machine feels, and services tend to log when they get ready.
HEALTH_EXEC_QUIET = 0.5
DEFAULT_HEALTH_INTERVAL = 30.0  # Docker's default healthcheck interval
RECONNECT_WAIT = 30.0  # how long a stop waits for an unreachable Engine to answer again
FOLLOW_WAIT = 10.0  # how long a start waits for the event stream


def docker_host() -> str | None:
    """Where containers run, for the UI header (resolved, not connected)."""
    return resolve_endpoint().host


class ContainerUnit(Unit):
    kind: Literal["process", "container"] = "container"

    def __init__(
        self,
        service: Service,
        replica: int,
        ctx: UnitContext,
        *,
        health_exec_interval: float = HEALTH_EXEC_INTERVAL,
    ) -> None:
        super().__init__(service, replica, ctx)
        self.spec = ds.container_spec(ctx.stack, service, replica, ctx.kinds())
        self.health_exec_interval = health_exec_interval
        self.container_id: str | None = None
        self.reused = False  # the last start() kept the existing container
        self.grace: float | None = None  # overrides stop_grace_period when set (tests)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: ProjectEvents | None = None
        self._image: str | None = None
        self._running = False
        self._exit: asyncio.Future[int] | None = None
        self._revival: asyncio.Future[None] | None = None
        self._bindings: list[tuple[str, int]] = []
        self._host_ports: tuple[int, ...] = ()
        self._health: HealthCheck | None = None
        self._checked_at = 0.0
        self._last_check: tuple[bool, str] = (False, "starting")
        self._inside_ok = False  # the healthcheck passed (the ports may not answer yet)
        self._output_seq = 0  # batches of output seen; bumped by the log thread
        self._output_seq_checked = -1
        self._usage = UsageMeter()
        self._expected_starts = 0  # `start` events devenv caused and has not seen yet
        self._stopping = False  # devenv is stopping it: its kill/die/stop are ours
        self._outside = False  # a kill or stop nobody in devenv asked for
        self._stopped_outside = False
        self._cursor = LogCursor()
        self._pump: threading.Thread | None = None
        self._users = 0

    # -- Unit interface ---------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def host_ports(self) -> tuple[int, ...]:
        return self._host_ports

    @property
    def command_text(self) -> str:
        return ds.command_text(self.spec)

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.spec.environment)

    @property
    def stopped_outside(self) -> bool:
        return self._stopped_outside

    @property
    def revival(self) -> asyncio.Future[None] | None:
        return self._revival if self.container_id is not None else None

    @property
    def probe_timing(self) -> ProbeTiming | None:
        """Often while the container starts (each call may run the healthcheck
        itself); once ready, Docker's own healthcheck interval."""
        check = self.service.healthcheck
        if check is not None and check.disable:
            return None
        timeout = (check.timeout if check is not None and check.timeout else 30.0) + 1.0
        interval = check.interval if check is not None and check.interval else None
        # retries None: a check failing while starting leaves the unit starting;
        # once ready, Docker's `unhealthy` (already after its retries) shows as such.
        return ProbeTiming(
            interval=self.health_exec_interval,
            timeout=timeout,
            retries=None,
            health_interval=interval or DEFAULT_HEALTH_INTERVAL,
        )

    async def prepare(self, on_phase: Callable[[Phase], None]) -> None:
        """Pull or build the image (cancellable: the stream is closed)."""
        # The spec again, for this launch: the services it addresses may have
        # switched kind since the last one (a dependency flipped to a local
        # process is reached at host.docker.internal); a changed spec means a
        # recreated container.
        self.spec = ds.container_spec(self.ctx.stack, self.service, self.replica, self.ctx.kinds())
        self._loop = asyncio.get_running_loop()
        self._client = await asyncio.to_thread(connect)
        cancel = Cancel()

        def phase(name: str) -> None:
            self._call(on_phase, "build" if name == "build" else "pull")

        work = asyncio.ensure_future(
            asyncio.to_thread(
                ensure_image,
                self._client,
                self.service,
                self.spec.image,
                self._progress_from_thread,
                lambda line: self._log_from_thread("stdout", line),
                phase,
                cancel,
            )
        )
        try:
            self._image = await asyncio.shield(work)
        except asyncio.CancelledError:
            cancel.cancel()
            with contextlib.suppress(Exception, Cancelled):
                async with asyncio.timeout(10):
                    await work
            raise

    async def start(self) -> None:
        if self._image is None:
            await self.prepare(lambda _phase: None)
        assert self._image is not None and self._loop is not None
        events = self._events_follower()
        events.acquire()
        self._users += 1
        try:
            if not await events.following(FOLLOW_WAIT):
                raise DockerUnavailableError(
                    f"cannot follow Docker's events: {events.detail or 'no answer'}",
                    service=self.service.name,
                )
            cancel = threading.Event()
            launch = asyncio.ensure_future(
                asyncio.to_thread(self._create_and_start, self._image, cancel)
            )
            try:
                info, cursor = await asyncio.shield(launch)
            except asyncio.CancelledError:
                # No container may start once the start is cancelled (a quit): the
                # thread checks `cancel` before it creates and before it starts,
                # and one that got started meanwhile is stopped here.
                cancel.set()
                with contextlib.suppress(Exception):
                    await launch
                if self._running or (launch.done() and not launch.exception()):
                    with contextlib.suppress(Exception):
                        await self.stop()
                raise
        except BaseException:
            self._release()
            raise
        self._image = None  # the next start looks at the image again
        self._after_start(info, cursor)

    async def wait_exit(self) -> int:
        if self._exit is None:
            return 0
        code = await asyncio.shield(self._exit)
        pump = self._pump
        if pump is not None:  # its last lines come before its end is reported
            await asyncio.to_thread(pump.join, 2.0)
        return code

    async def stop(self, force: bool = False) -> None:
        if self.container_id is None or self._client is None:
            return
        self._stopping = True
        exit_ = self._exit
        deadline = time.monotonic() + RECONNECT_WAIT
        while True:
            try:
                await asyncio.to_thread(self._stop, force)
                break
            except DockerUnavailableError:
                events = self._events
                left = deadline - time.monotonic()
                if events is None or left <= 0 or not await events.wait_connected(left):
                    raise
                self._client = await asyncio.to_thread(connect)
        if exit_ is not None and not exit_.done():
            # the `die` event says it is down; a container that was not running has none
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.shield(exit_)
            if not exit_.done():
                await self._exit_from_inspect()
        self._running = False

    async def sample_usage(self) -> tuple[float, int] | None:
        if not self._running or self.container_id is None or self._client is None:
            return None
        if self._events is not None and not self._events.connected:
            return None
        try:
            raw = await asyncio.to_thread(
                self._client.api.stats, self.container_id, stream=False, one_shot=True
            )
        except Exception:  # gone, or the engine went away: no sample this time
            return None
        return self._usage.update(raw)

    async def check_ready(self) -> tuple[bool, str]:
        if not self._running or self.container_id is None or self._health is None:
            return False, "not running"
        if self._events is not None and not self._events.connected:
            return self._last_check  # no news while the Engine is away: not a failure
        if not self._last_check[0] and not self._inside_ok:
            # a quiet container is checked less often: an exec costs Docker CPU;
            # once the check passes, only the ports are waited for, at full pace
            quiet = self._output_seq == self._output_seq_checked
            wait = HEALTH_EXEC_QUIET if quiet else self.health_exec_interval
            if time.monotonic() - self._checked_at < wait:
                return self._last_check
        self._checked_at = time.monotonic()
        self._output_seq_checked = self._output_seq
        try:
            ok, detail, _info = await asyncio.to_thread(self._health.check)
        except Exception as error:
            return self._last_check[0], f"{self._last_check[1]} (check failed: {error})"
        self._inside_ok = ok
        if ok and self._bindings and not self._last_check[0]:
            # healthy inside is not enough: the host must reach it
            ports_ok, why = await ports_answer(self._bindings)
            if not ports_ok:
                ok, detail = False, f"{detail}; {why}"
        self._last_check = (ok, detail)
        return ok, detail

    # -- events from Docker (on the loop) --------------------------------------

    def on_event(self, action: str, attributes: dict[str, str]) -> None:
        if action == "start":
            if self._expected_starts > 0:
                self._expected_starts -= 1
            elif not self._running:
                self._revived()
        elif action in ("kill", "stop") and not self._stopping and self._running:
            self._outside = True
        elif action == "die":
            code = _int(attributes.get("exitCode"), 255)
            self._died(code)
        elif action == "destroy" and self._running:
            self._died(255)

    def resync(self) -> None:
        """The Engine answers again: see what became of the container meanwhile."""
        if self._loop is not None and self.container_id is not None:
            self._loop.create_task(self._resync())

    async def _resync(self) -> None:
        try:
            self._client = await asyncio.to_thread(connect)
            info = await asyncio.to_thread(self._client.api.inspect_container, self.container_id)
        except Exception:
            return  # gone, or away again: the next resync looks again
        running = bool(info["State"].get("Running"))
        if self._running and not running:
            self._died(_int(info["State"].get("ExitCode"), 255))
        elif running and self._running:
            self._follow_logs(info)  # resumes after the last line it had
        elif running and not self._running and not self._stopping:
            self._revived()

    def _died(self, code: int) -> None:
        if not self._running:
            return
        self._running = False
        self._stopped_outside = self._outside and not self._stopping
        self._outside = False
        self._release()
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)
        if self._loop is not None:
            self._revival = self._loop.create_future()

    def _revived(self) -> None:
        """Started by someone else: follow it again, from where its log stopped."""
        if self._revival is None or self._revival.done() or self._loop is None:
            return
        self._loop.create_task(self._attach_again(self._revival))

    async def _attach_again(self, revival: asyncio.Future[None]) -> None:
        try:
            info = await asyncio.to_thread(self._client.api.inspect_container, self.container_id)
        except Exception:
            return
        if not info["State"].get("Running") or revival.done():
            return
        self._events_follower().acquire()
        self._users += 1
        self._after_start(info, None)
        revival.set_result(None)

    # -- blocking parts, run in threads -----------------------------------

    def _create_and_start(
        self, image_id: str, cancel: threading.Event
    ) -> tuple[dict[str, Any], LogCursor]:
        """Create (or reuse) and start; returns the inspected container and where
        its output is to be read from: all of a new container's; after what was
        read last (or after its last run: Docker may stamp a fast first line
        before `StartedAt`, so that is no bound) for one started again; the last
        lines of one found running."""
        import docker.errors

        from devenv.runtime.docker_project import ensure_resources

        api = self._client.api
        ensure_resources(self._client, self.ctx.stack, [self.service])
        wanted_hash = self.spec.config_hash()
        existing = self._existing()
        container_id: str | None = None
        cursor = LogCursor()  # a new container: all of its output is this run's
        if existing is not None:
            labels = existing["Config"].get("Labels") or {}
            if labels.get(ds.PROJECT) != self.ctx.stack.name:
                raise DevenvError(
                    f"a container named '{self.spec.name}' exists and is not part of "
                    f"project '{self.ctx.stack.name}'",
                    service=self.service.name,
                    hint=f"remove or rename it: docker rm -f {self.spec.name}",
                )
            same = labels.get(ds.CONFIG_HASH) == wanted_hash and labels.get(ds.IMAGE) == image_id
            if same:
                container_id = str(existing["Id"])
                self.reused = True
                self._listen(container_id)
                if existing["State"].get("Running"):
                    self._log_from_thread("devenv", f"using running container {self.spec.name}")
                    return existing, LogCursor(tail=50)
                self._log_from_thread("devenv", f"reusing container {self.spec.name}")
                if self._cursor.container == container_id and self._cursor.last:
                    cursor = self._cursor  # read on after the last line it gave
                else:
                    finished = existing["State"].get("FinishedAt") or ""
                    if finished and not finished.startswith("0001-"):
                        cursor = LogCursor(since=docker_since(finished))
            else:
                self._log_from_thread(
                    "devenv", f"recreating {self.spec.name}: its configuration changed"
                )
                api.remove_container(existing["Id"], force=True)
        if cancel.is_set():
            raise Cancelled
        if container_id is None:
            self.reused = False
            container_id = self._create(image_id, wanted_hash)
            self._listen(container_id)
            self._log_from_thread("devenv", f"created container {self.spec.name}")
        if cancel.is_set():
            raise Cancelled
        self._call(self._expect_start)
        try:
            api.start(container_id)
        except docker.errors.APIError as error:
            raise self._start_error(error) from None
        cursor.container = container_id
        return api.inspect_container(container_id), cursor

    def _listen(self, container_id: str) -> None:
        self.container_id = container_id
        events = self._events
        if events is not None:
            events.register(container_id, self)

    def _expect_start(self) -> None:
        self._expected_starts += 1

    def _existing(self) -> dict[str, Any] | None:
        import docker.errors

        try:
            info: dict[str, Any] = self._client.api.inspect_container(self.spec.name)
        except docker.errors.NotFound:
            return None
        return info

    def _create(self, image_id: str, config_hash: str) -> str:
        import docker.errors

        api = self._client.api
        config, more_networks = ds.create_config(self.spec, image_id, config_hash)
        try:
            created = api.create_container_from_config(config, name=self.spec.name)
        except docker.errors.APIError as error:
            raise DevenvError(
                f"cannot create container '{self.spec.name}': {api_reason(error)}",
                service=self.service.name,
            ) from None
        container_id = str(created["Id"])
        for name, aliases in more_networks:
            api.connect_container_to_network(container_id, name, aliases=aliases)
        return container_id

    def _start_error(self, error: Any) -> DevenvError:
        reason = api_reason(error)
        taken = re.search(r"(?:Bind for |listen tcp\d? )([\d.:\[\]a-f]*):(\d+)", reason)
        if "already allocated" in reason or "address already in use" in reason:
            port = taken.group(2) if taken else "?"
            return PortInUseError(
                f"host port {port} is already in use",
                service=self.service.name,
                key="ports",
                hint=f"stop what listens there (`lsof -i :{port}`), or change the published "
                "port (the compose file or its variable in .env)",
            )
        return DevenvError(
            f"cannot start container '{self.spec.name}': {reason}", service=self.service.name
        )

    def _stop(self, force: bool) -> None:
        import docker.errors

        api = self._client.api
        try:
            if force:
                api.kill(self.container_id)
            else:
                grace = self.spec.stop_grace if self.grace is None else self.grace
                # the request outlives the grace period: Docker kills after it
                api.stop(self.container_id, timeout=math.ceil(grace))
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: not running, nothing to stop
                raise
        except Exception as error:  # the Engine went away
            raise DockerUnavailableError(
                f"cannot stop {self.spec.name}: {short_reason(error)}", service=self.service.name
            ) from None

    async def _exit_from_inspect(self) -> None:
        try:
            info = await asyncio.to_thread(self._client.api.inspect_container, self.container_id)
            state = info["State"]
        except Exception:
            state = {"Running": False, "ExitCode": 255}
        if not state.get("Running"):
            self._died(_int(state.get("ExitCode"), 255))

    # -- threads and the loop ---------------------------------------------

    def _events_follower(self) -> ProjectEvents:
        assert self._loop is not None
        if self._events is None or self._events._closed.is_set():
            self._events = project_events(connect, self.ctx.stack.name, self._loop)
        return self._events

    def _release(self) -> None:
        if self._users > 0 and self._events is not None:
            self._users -= 1
            self._events.release()

    def _after_start(self, info: dict[str, Any], cursor: LogCursor | None) -> None:
        """It runs: follow it (output from `cursor`, or on from where it was)."""
        assert self._loop is not None
        self._running = True
        self._stopping = False
        self._outside = False
        self._stopped_outside = False
        self._bindings = published_bindings(info)
        self._host_ports = tuple(dict.fromkeys(port for _, port in self._bindings))
        self._health = HealthCheck(self._client.api, str(info["Id"]))
        self._checked_at = 0.0
        self._last_check = (False, "starting")
        self._inside_ok = False
        self._output_seq_checked = -1
        self._exit = self._loop.create_future()
        self._revival = None
        self._listen(str(info["Id"]))
        state = info["State"]
        if not state.get("Running"):  # it ended before we looked
            self._died(_int(state.get("ExitCode"), 255))
        if cursor is not None:
            self._cursor = cursor
        self._follow_logs(info)

    def _follow_logs(self, info: dict[str, Any]) -> None:
        """A thread that follows the output until the container stops, from where
        the cursor is. One reader at a time: a new one waits for the one before
        (finishing its catch-up read) and reads on after it."""
        tty = bool(info["Config"].get("Tty"))
        container_id = str(info["Id"])
        self._pump = threading.Thread(
            target=self._pump_logs,
            args=(container_id, tty, self._cursor, self._pump),
            name=f"devenv-logs-{self.name}",
            daemon=True,
        )
        self._pump.start()

    def _pump_logs(
        self, container_id: str, tty: bool, cursor: LogCursor, before: threading.Thread | None
    ) -> None:
        if before is not None:
            before.join()
        try:
            pump(connect(), container_id, self._lines_from_thread, tty=tty, cursor=cursor)
        except Exception:  # the Engine went away: `resync` starts a reader when it is back
            return

    def _log_from_thread(self, stream: Stream, line: str) -> None:
        self._call(self.ctx.on_log, self.name, stream, line)

    def _lines_from_thread(self, stream: Stream, lines: list[str]) -> None:
        self._output_seq += 1
        batch = self.ctx.on_log_batch
        if batch is not None:
            self._call(batch, self.name, stream, lines)
        else:
            self._call(self._log_lines, stream, lines)

    def _log_lines(self, stream: Stream, lines: list[str]) -> None:
        for line in lines:
            self.ctx.on_log(self.name, stream, line)

    def _progress_from_thread(
        self, action: str, status: str, current: int | None, total: int | None
    ) -> None:
        event = Progress(
            unit=self.name,
            service=self.service.name,
            action="build" if action == "build" else "pull",
            status=status,
            current=current,
            total=total,
        )
        self._call(self.ctx.on_progress, event)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(fn, *args)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def follow_project(
    ctx: UnitContext, on_connection: Callable[[Any, str], None]
) -> Callable[[], None]:
    """Follow the project's container events for a session (so containers that
    someone else starts again are seen), reporting the connection to the Engine
    as it changes; returns the function that ends it."""
    events = project_events(connect, ctx.stack.name, asyncio.get_running_loop())
    events.acquire()
    forget = events.watch_connection(on_connection)

    def release() -> None:
        forget()
        events.release()

    return release
