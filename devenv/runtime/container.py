"""The container unit: a Compose service run as a Docker container, through the SDK.

Names, labels, networks and volumes follow Compose (`<project>-<service>-<n>`,
`<project>_default`, `<project>_<volume>`, `com.docker.compose.*`), so
`docker compose -p <project> ps` sees what devenv started and both share data.

Blocking SDK calls run in threads; the long-lived ones (log streams, waiting
for the exit) run in daemon threads so that a forgotten container can never
keep the interpreter from exiting. Output and progress reach the engine on its
own loop through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from devenv.config.model import Service, Stack
from devenv.errors import DevenvError, PortInUseError
from devenv.events import Progress, Stream
from devenv.runtime import docker_spec as ds
from devenv.runtime.base import ProbeTiming, Unit, UnitContext
from devenv.runtime.docker_connect import connect, resolve_endpoint
from devenv.runtime.docker_images import api_reason, ensure_image
from devenv.runtime.docker_logs import docker_since, pump
from devenv.runtime.docker_stats import UsageMeter

HEALTH_EXEC_INTERVAL = 0.1  # seconds between devenv's own runs of a healthcheck while starting
# ...when the container printed something since the last run; a quiet one is
# checked less often: an exec costs Docker ~50 ms of CPU, which a starting
# database on a small machine feels, and services tend to log when they get ready.
HEALTH_EXEC_QUIET = 0.5
HEALTH_EXEC_AFTER_OK = 1.0  # once it passed, Docker's status is trusted for this long


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
        self.spec = ds.container_spec(ctx.stack, service, replica)
        self.health_exec_interval = health_exec_interval
        self.container_id: str | None = None
        self.reused = False  # the last start() kept the existing container
        self.grace: float | None = None  # overrides stop_grace_period when set (tests)
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._exit: asyncio.Future[int] | None = None
        self._host_ports: tuple[int, ...] = ()
        self._health_cmd: list[str] | None = None
        self._exec_at = 0.0
        self._exec_result: tuple[bool, str] = (False, "starting")
        self._checked_at = 0.0
        self._output_seq = 0  # batches of output seen; bumped by the log thread
        self._output_seq_checked = -1
        self._usage = UsageMeter()

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
    def probe_timing(self) -> ProbeTiming | None:
        """Often: while the container starts each call may run the healthcheck
        itself; once ready the engine slows down to its own health interval."""
        check = self.service.healthcheck
        if check is not None and check.disable:
            return None
        timeout = (check.timeout if check is not None and check.timeout else 30.0) + 1.0
        # retries None: a check failing while starting leaves the unit starting;
        # once ready, Docker's `unhealthy` (already after its retries) shows as such.
        return ProbeTiming(interval=self.health_exec_interval, timeout=timeout, retries=None)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = await asyncio.to_thread(connect)
        image = await asyncio.to_thread(
            ensure_image,
            self._client,
            self.service,
            self.spec.image,
            self._progress_from_thread,
            lambda line: self._log_from_thread("stdout", line),
        )
        launch = asyncio.ensure_future(asyncio.to_thread(self._create_and_start, image))
        try:
            info, since, tail = await asyncio.shield(launch)
        except asyncio.CancelledError:
            # The thread carries on and may start the container; the engine, which
            # cancelled us, will not know to stop it. Do it here.
            with contextlib.suppress(Exception):
                await launch
            if self.container_id is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._stop, False)
            raise
        self._after_start(info, since, tail)

    async def wait_exit(self) -> int:
        if self._exit is None:
            if self.container_id is None or self._client is None:
                return 0
            info = await asyncio.to_thread(self._client.api.inspect_container, self.container_id)
            return int(info["State"].get("ExitCode") or 0)
        return await asyncio.shield(self._exit)

    async def stop(self, force: bool = False) -> None:
        if self.container_id is None or self._client is None:
            return
        await asyncio.to_thread(self._stop, force)
        if self._exit is not None and not self._exit.done():
            # The waiter thread reports the exit; give it a moment to arrive.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exit), timeout=5)
        self._running = False

    async def sample_usage(self) -> tuple[float, int] | None:
        if not self._running or self.container_id is None or self._client is None:
            return None
        try:
            raw = await asyncio.to_thread(
                self._client.api.stats, self.container_id, stream=False, one_shot=True
            )
        except Exception:  # gone, or the engine went away: no sample this time
            return None
        return self._usage.update(raw)

    async def check_ready(self) -> tuple[bool, str]:
        if not self._running or self.container_id is None:
            return False, "not running"
        if not self._exec_result[0]:
            quiet = self._output_seq == self._output_seq_checked
            wait = HEALTH_EXEC_QUIET if quiet else self.health_exec_interval
            if time.monotonic() - self._checked_at < wait:
                return self._exec_result
        self._checked_at = time.monotonic()
        self._output_seq_checked = self._output_seq
        result = await asyncio.to_thread(self._check_health)
        self._exec_result = result
        return result

    # -- blocking parts, run in threads -----------------------------------

    def _create_and_start(self, image_id: str) -> tuple[dict[str, Any], str | None, int | None]:
        """Create (or reuse) and start; returns the inspected container and where
        its logs are to be read from: a time (a restarted container: after its
        last run; Docker may stamp a fast first line before `StartedAt`, so that
        is no bound) and a number of last lines (a container found running)."""
        import docker.errors

        api = self._client.api
        ensure_resources(self._client, self.ctx.stack, [self.service])
        wanted_hash = self.spec.config_hash()
        existing = self._existing()
        container_id: str | None = None
        since: str | None = None  # a new container: all of its output is this run's
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
                if existing["State"].get("Running"):
                    self.container_id = container_id
                    self._log_from_thread("devenv", f"using running container {self.spec.name}")
                    return existing, None, 50
                self._log_from_thread("devenv", f"reusing container {self.spec.name}")
                finished = existing["State"].get("FinishedAt") or ""
                if finished and not finished.startswith("0001-"):
                    since = docker_since(finished)
            else:
                self._log_from_thread(
                    "devenv", f"recreating {self.spec.name}: its configuration changed"
                )
                api.remove_container(existing["Id"], force=True)
        if container_id is None:
            self.reused = False
            container_id = self._create(image_id, wanted_hash)
            self._log_from_thread("devenv", f"created container {self.spec.name}")
        self.container_id = container_id
        try:
            api.start(container_id)
        except docker.errors.APIError as error:
            raise self._start_error(error) from None
        return api.inspect_container(container_id), since, None

    def _existing(self) -> dict[str, Any] | None:
        import docker.errors

        try:
            info: dict[str, Any] = self._client.api.inspect_container(self.spec.name)
        except docker.errors.NotFound:
            return None
        return info

    def _create(self, image_id: str, config_hash: str) -> str:
        import docker.errors

        spec = self.spec
        api = self._client.api
        labels = {
            **spec.labels,
            ds.CONFIG_HASH: config_hash,
            ds.IMAGE: image_id,
            **ds.extra_labels(),
        }
        bindings = {
            key: [{"HostIp": ip, "HostPort": port or ""} for ip, port in binds]
            for key, binds in spec.ports.items()
        }
        networks = list(spec.networks.items())
        host_config: dict[str, Any] = {
            "PortBindings": bindings,
            "Mounts": spec.mounts,
            "NetworkMode": spec.network_mode or (networks[0][0] if networks else "default"),
            **spec.host_options,
        }
        config: dict[str, Any] = {
            "Image": spec.image,
            "Env": spec.env_list,
            "Labels": labels,
            "Tty": spec.tty,
            "OpenStdin": spec.stdin_open,
            "AttachStdout": True,
            "AttachStderr": True,
            "ExposedPorts": {key: {} for key in spec.ports},
            "StopTimeout": math.ceil(spec.stop_grace),
            "HostConfig": host_config,
        }
        optional = {
            "Cmd": spec.command,
            "Entrypoint": spec.entrypoint,
            "WorkingDir": spec.working_dir,
            "User": spec.user,
            "Hostname": spec.hostname,
            "StopSignal": spec.stop_signal,
            "Healthcheck": spec.healthcheck,
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        if networks and spec.network_mode is None:
            first, aliases = networks[0]
            config["NetworkingConfig"] = {"EndpointsConfig": {first: {"Aliases": aliases}}}
        try:
            created = api.create_container_from_config(config, name=spec.name)
        except docker.errors.APIError as error:
            raise DevenvError(
                f"cannot create container '{spec.name}': {api_reason(error)}",
                service=self.service.name,
            ) from None
        container_id = str(created["Id"])
        # API versions before 1.44 take one network at create; the others join here.
        for name, aliases in networks[1:]:
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
                api.stop(self.container_id, timeout=math.ceil(grace))
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: not running, nothing to stop
                raise
        # Both calls return before the container is fully gone; wait for that.
        with contextlib.suppress(docker.errors.APIError):
            api.wait(self.container_id, timeout=max(30, self.spec.stop_grace + 10))

    def _check_health(self) -> tuple[bool, str]:
        import docker.errors

        api = self._client.api
        try:
            info = api.inspect_container(self.container_id)
        except docker.errors.NotFound:
            return False, "container removed"
        state = info["State"]
        if not state.get("Running"):
            return False, f"exited with code {state.get('ExitCode')}"
        health = state.get("Health")
        if not health:
            return True, "running"
        status = health.get("Status")
        if status == "healthy":
            return True, "healthy"
        if status == "unhealthy":
            return False, "unhealthy: " + last_health_output(health)
        # Docker says "starting" until its first check after `interval`; run the
        # check ourselves so that dependents start as soon as it passes.
        if self._health_cmd is None:
            test = (info["Config"].get("Healthcheck") or {}).get("Test")
            self._health_cmd = ds.health_command(test) or []
        if not self._health_cmd:
            return False, "starting"
        now = time.monotonic()
        if self._exec_result[0] and now - self._exec_at < HEALTH_EXEC_AFTER_OK:
            return self._exec_result
        self._exec_at = now
        return self._exec_health()

    def _exec_health(self) -> tuple[bool, str]:
        import docker.errors

        api = self._client.api
        try:
            exec_id = api.exec_create(self.container_id, self._health_cmd, stdout=True, stderr=True)
            output = api.exec_start(exec_id, stream=False)
            code = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError as error:
            return False, f"starting ({api_reason(error)})"
        if code == 0:
            return True, "healthy"
        text = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        return False, f"starting: {text.splitlines()[-1]}" if text else "starting"

    # -- threads and the loop ---------------------------------------------

    def _after_start(self, info: dict[str, Any], since: str | None, tail: int | None) -> None:
        assert self._loop is not None
        self._running = True
        self._host_ports = published_ports(info)
        self._health_cmd = None
        self._exec_at = 0.0
        self._exec_result = (False, "starting")
        self._checked_at = 0.0
        self._output_seq_checked = -1
        self._exit = self._loop.create_future()
        container_id = str(info["Id"])
        tty = bool(info["Config"].get("Tty"))
        threading.Thread(
            target=self._pump_logs,
            args=(container_id, tty, since, tail),
            name=f"devenv-logs-{self.name}",
            daemon=True,
        ).start()
        threading.Thread(
            target=self._wait_thread,
            args=(container_id, self._exit),
            name=f"devenv-wait-{self.name}",
            daemon=True,
        ).start()

    def _pump_logs(self, container_id: str, tty: bool, since: str | None, tail: int | None) -> None:
        try:
            pump(
                self._client,
                container_id,
                self._lines_from_thread,
                tty=tty,
                since=since,
                tail=tail,
            )
        except Exception as error:  # the engine went away; the wait thread reports the exit
            self._log_from_thread("devenv", f"log stream ended: {error}")

    def _wait_thread(self, container_id: str, future: asyncio.Future[int]) -> None:
        try:
            result = self._client.api.wait(container_id)
            code = int(result.get("StatusCode", 0))
        except Exception as error:  # engine unreachable: report it as an abnormal end
            self._log_from_thread("devenv", f"lost the container: {error}")
            code = 255
        self._call(self._set_exit, future, code)

    def _set_exit(self, future: asyncio.Future[int], code: int) -> None:
        if future is self._exit:
            self._running = False
        if not future.done():
            future.set_result(code)

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


# -- project resources ------------------------------------------------------

_resource_lock = threading.Lock()


async def prepare_project(ctx: UnitContext) -> None:
    """Create the project's networks and volumes (Compose names and labels).

    Raises DockerUnavailableError when the engine cannot be reached."""
    client = await asyncio.to_thread(connect)
    containers = [s for s in ctx.stack.services.values() if s.kind == "container"]
    await asyncio.to_thread(ensure_resources, client, ctx.stack, containers, True)


def ensure_resources(
    client: Any, stack: Stack, services: Iterable[Service], all_volumes: bool = False
) -> None:
    """Networks the services join and volumes they mount (every declared volume with
    all_volumes), created when missing; external ones must exist."""
    import docker.errors

    api = client.api
    networks: set[str] = set()
    volumes: set[str] = set(stack.volumes) if all_volumes else set()
    for service in services:
        networks.update(ds.service_networks(service))
        volumes.update(v.source for v in service.volumes if v.type == "volume" and v.source)
    with _resource_lock:
        for key in sorted(networks):
            name = ds.network_name(stack, key)
            if any(n["Name"] == name for n in api.networks(names=[name])):
                continue
            if ds.is_external(stack.networks, key):
                raise DevenvError(
                    f"external network '{name}' does not exist",
                    key=f"networks.{key}",
                    hint=f"create it: docker network create {name}",
                )
            spec = stack.networks.get(key) or {}
            api.create_network(
                name,
                driver=spec.get("driver") or "bridge",
                options=dict(spec.get("driver_opts") or {}) or None,
                internal=bool(spec.get("internal", False)),
                attachable=bool(spec.get("attachable", False)),
                labels=ds.network_labels(stack, key),
                check_duplicate=True,
            )
        for key in sorted(volumes):
            name = ds.volume_name(stack, key)
            try:
                api.inspect_volume(name)
                continue
            except docker.errors.NotFound:
                pass
            if ds.is_external(stack.volumes, key):
                raise DevenvError(
                    f"external volume '{name}' does not exist",
                    key=f"volumes.{key}",
                    hint=f"create it: docker volume create {name}",
                )
            spec = stack.volumes.get(key) or {}
            api.create_volume(
                name,
                driver=spec.get("driver") or "local",
                driver_opts=dict(spec.get("driver_opts") or {}) or None,
                labels=ds.volume_labels(stack, key),
            )


# -- devenv down --------------------------------------------------------------


@dataclass
class DownResult:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


def project_volumes(client: Any, stack: Stack) -> list[str]:
    """The volumes `down --volumes` would remove: labelled with the project, or
    declared (not external) in the stack and present."""
    found = client.api.volumes(filters={"label": f"{ds.PROJECT}={stack.name}"}) or {}
    names = {v["Name"] for v in found.get("Volumes") or ()}
    import docker.errors

    for key in stack.volumes:
        if ds.is_external(stack.volumes, key):
            continue
        name = ds.volume_name(stack, key)
        with contextlib.suppress(docker.errors.NotFound):
            client.api.inspect_volume(name)
            names.add(name)
    return sorted(names)


def down(
    stack: Stack,
    remove_volumes: bool,
    on_step: Callable[[str], None] | None = None,
) -> DownResult:
    """Stop and remove the project's containers and networks; volumes too when asked.

    Raises DockerUnavailableError when the engine cannot be reached."""
    import docker.errors

    client = connect()
    api = client.api
    step = on_step or (lambda _text: None)
    result = DownResult()
    flt = {"label": f"{ds.PROJECT}={stack.name}"}
    containers = api.containers(all=True, filters=flt)

    def remove(container: dict[str, Any]) -> str:
        name = str(container["Names"][0]).lstrip("/")
        service = (container.get("Labels") or {}).get(ds.SERVICE, "")
        grace = stack.services[service].stop_grace_period if service in stack.services else None
        with contextlib.suppress(docker.errors.NotFound):
            if container.get("State") == "running":
                api.stop(container["Id"], timeout=math.ceil(grace or ds.DEFAULT_STOP_GRACE))
            api.remove_container(container["Id"], v=remove_volumes, force=True)
        return name

    threads: list[threading.Thread] = []
    names: list[str] = []
    lock = threading.Lock()

    def run(container: dict[str, Any]) -> None:
        name = remove(container)
        with lock:
            names.append(name)
        step(f"removed container {name}")

    for container in containers:
        thread = threading.Thread(target=run, args=(container,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    result.containers = sorted(names)
    for network in api.networks(filters=flt):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_network(network["Id"])
            result.networks.append(network["Name"])
            step(f"removed network {network['Name']}")
    if remove_volumes:
        for name in project_volumes(client, stack):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(name, force=True)
                result.volumes.append(name)
                step(f"removed volume {name}")
    return result


# -- helpers ------------------------------------------------------------------


def published_ports(info: dict[str, Any]) -> tuple[int, ...]:
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    found: list[int] = []
    for bindings in ports.values():
        for binding in bindings or ():
            port = binding.get("HostPort")
            if port and port.isdigit() and int(port) not in found:
                found.append(int(port))
    return tuple(found)


def last_health_output(health: dict[str, Any]) -> str:
    log = health.get("Log") or []
    if not log:
        return "no output"
    text = str(log[-1].get("Output") or "").strip()
    return text.splitlines()[-1] if text else f"exit code {log[-1].get('ExitCode')}"
