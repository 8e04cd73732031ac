"""Linux inotify on the event loop: the kernel wakes devenv when a file changes.

watchfiles' Rust loop wakes every `step` (10 ms) and takes the GIL each time:
that was all of devenv's idle CPU and 10-20 ms of every reload, and since it
ends a batch after one quiet step, repeated writes to one file came in many
small batches. Here an inotify fd is read from the event loop
(`loop.add_reader`): no thread, no polling, every change seen when it happens,
so the engine's quiet window measures real silence. Directories created later
are watched as they appear; ignored directories (node_modules, .git, …) are
never watched at all. Other platforms, or a kernel without inotify, keep
watchfiles. (After a prototype by the benchmark work.)
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable, Collection
from pathlib import Path

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x4000, 0x8000, 0x40000000
MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)
EVENT = struct.Struct("iIII")  # wd, mask, cookie, name length


class Inotify:
    """An inotify instance watching directory trees."""

    def __init__(self, skip_dirs: Collection[str]) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd: int = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd
        self.skip_dirs = skip_dirs
        self.roots: list[str] = []
        self._paths: dict[int, str] = {}
        # Files modified and not closed since: a write under way. One save
        # (truncate, write, close) can come in two or three reads, and whoever
        # acts on the first alone would act again on the rest.
        self.writing: set[str] = set()

    def add_tree(self, root: str) -> list[str]:
        """Watch `root` and every directory below it (not ignored ones); the
        directories added."""
        added: list[str] = []
        for directory, subdirs, _ in os.walk(root):
            subdirs[:] = [d for d in subdirs if d not in self.skip_dirs]
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), MASK)
            if wd >= 0:  # gone meanwhile, or out of watches: nothing to do about it
                self._paths[wd] = directory
                added.append(directory)
        return added

    def read(self) -> set[str]:
        """The paths changed since the last read (a new directory: it and what
        is below it, as it may have been filled before its watch was added)."""
        changed: set[str] = set()
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return changed
            offset = 0
            while offset < len(data):
                wd, mask, _, length = EVENT.unpack_from(data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\0")
                offset += 16 + length
                if mask & IN_Q_OVERFLOW:  # events were lost: assume everything changed
                    changed.update(self.roots)
                    continue
                base = self._paths.get(wd)
                if base is None:
                    continue
                if mask & IN_IGNORED:
                    del self._paths[wd]
                    continue
                path = os.path.join(base, os.fsdecode(name)) if name else base
                changed.add(path)
                if not mask & IN_ISDIR:
                    if mask & IN_MODIFY:
                        self.writing.add(path)
                    if mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM):
                        self.writing.discard(path)
                new_dir = mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO)
                if new_dir and os.path.basename(path) not in self.skip_dirs:
                    changed.update(self.add_tree(path))

    def close(self) -> None:
        os.close(self.fd)


async def watch_forever(
    roots: list[Path],
    skip_dirs: Collection[str],
    on_paths: Callable[[set[str], frozenset[str]], None],
    ready: asyncio.Event,
) -> None:
    """Call `on_paths` with each batch of changed paths, and the files still
    being written (modified, not closed yet), until cancelled."""
    notify = Inotify(skip_dirs)
    loop = asyncio.get_running_loop()
    try:
        for root in roots:
            notify.roots.append(str(root))
            notify.add_tree(str(root))

        def readable() -> None:
            changed = notify.read()
            if changed:
                on_paths(changed, frozenset(notify.writing))

        loop.add_reader(notify.fd, readable)
        ready.set()
        await asyncio.Event().wait()
    finally:
        loop.remove_reader(notify.fd)
        notify.close()


def available() -> bool:
    return hasattr(os, "O_CLOEXEC") and os.uname().sysname == "Linux"
