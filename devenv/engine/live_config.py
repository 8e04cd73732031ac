"""Live configuration: the stack's files are watched, and an edit reloads it.

`ConfigWatcher` watches every file the stack was read from (`Stack.sources`:
compose files, included and extended ones, env files, `.env`) and, once the
edits have settled, loads the stack again in a thread and hands over the new
stack or the error. `diff_stacks` says what changed, service by service; the
engine applies it (restart what changed, start what was added, stop what was
removed) or, for an invalid edit, keeps the old stack running and shows the
error.

A service counts as changed when its resolved definition differs (where it is
written does not count): an edit to `.env` restarts the services whose
definitions use the variable, not every service.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from devenv.config.model import Origin, Service, Stack
from devenv.engine.watcher import Watcher, WatchSpec
from devenv.errors import DevenvError

SETTLE = 0.2  # seconds without an edit before the stack is read again
_NOWHERE = Origin(Path("."))


@dataclass(frozen=True)
class StackDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # keys changed

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        parts = [
            f"{name} restarts ({', '.join(keys)})" if keys else f"{name} restarts"
            for name, keys in self.changed.items()
        ]
        parts += [f"{name} added" for name in self.added]
        parts += [f"{name} removed" for name in self.removed]
        return "; ".join(parts)


def _comparable(service: Service) -> Service:
    local = service.local
    if local is not None:
        local = dataclasses.replace(local, raw={})
    return dataclasses.replace(service, origin=_NOWHERE, local=local)


def changed_keys(old: Service, new: Service) -> tuple[str, ...]:
    """The fields of the resolved definition that differ ("" when none do)."""
    a, b = _comparable(old), _comparable(new)
    if a == b:
        return ()
    keys = [f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]
    if "local" in keys and a.local is not None and b.local is not None:
        keys.remove("local")
        keys += [
            f"x-devenv.{f.name}"
            for f in dataclasses.fields(a.local)
            if getattr(a.local, f.name) != getattr(b.local, f.name)
        ]
    return tuple(keys) or ("definition",)


def diff_stacks(old: Stack, new: Stack) -> StackDiff:
    added = tuple(n for n in new.services if n not in old.services)
    removed = tuple(n for n in old.services if n not in new.services)
    changed = {
        name: keys
        for name, service in new.services.items()
        if name in old.services and (keys := changed_keys(old.services[name], service))
    }
    return StackDiff(added, removed, changed)


def watched_files(stack: Stack) -> list[Path]:
    """What to watch: the files the stack came from (or, for a stack built by
    hand, its compose files, .env and env files)."""
    files: list[Path] = list(stack.sources) or [*stack.files]
    if stack.env_file is not None:
        files.append(stack.env_file)
    for service in stack.services.values():
        if service.local is not None:
            files.extend(service.local.env_files)
    return list(dict.fromkeys(files))


Loaded = Callable[[Stack | None, DevenvError | None], None]


class ConfigWatcher:
    def __init__(
        self,
        load: Callable[[], Stack],
        on_loaded: Loaded,
        *,
        project_dir: Path,
        backend: str,
        settle: float = SETTLE,
    ) -> None:
        self._load = load
        self._on_loaded = on_loaded
        self._project_dir = project_dir
        self._backend = backend
        self._settle = settle
        self._watcher: Watcher | None = None
        self._files: tuple[Path, ...] = ()
        self._timer: asyncio.TimerHandle | None = None
        self._loading: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None  # a replaced watcher's close
        self._again = False

    def watch(self, files: Iterable[Path]) -> None:
        wanted = tuple(sorted(set(files)))
        if wanted == self._files:
            return
        self._files = wanted
        old, self._watcher = self._watcher, None
        if old is not None:
            self._closing = asyncio.ensure_future(old.close())
        specs = [WatchSpec("config", (path,)) for path in wanted]
        self._watcher = Watcher(
            specs,
            self._changed,
            project_dir=self._project_dir,
            quiet=0.0,
            backend=self._backend,
        )
        self._watcher.start()

    async def ready(self) -> None:
        if self._watcher is not None:
            await self._watcher.ready.wait()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._loading is not None:
            self._loading.cancel()
        if self._watcher is not None:
            await self._watcher.close()
            self._watcher = None

    def _changed(self, routed: dict[str, list[str]]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._settle, self._reload)

    def _reload(self) -> None:
        self._timer = None
        if self._loading is not None and not self._loading.done():
            self._again = True  # once this load is done, read the files again
            return
        self._loading = asyncio.ensure_future(self._load_once())

    async def _load_once(self) -> None:
        try:
            stack = await asyncio.to_thread(self._load)
        except DevenvError as error:
            self._on_loaded(None, error)
        except Exception as error:  # a bug in loading must not end the session
            self._on_loaded(None, DevenvError(f"cannot read the configuration: {error}"))
        else:
            self._on_loaded(stack, None)
        if self._again:
            self._again = False
            self._reload()
