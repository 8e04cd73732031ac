"""Which files a load read: every compose file (included and extended ones too)
and env file, so that a live session can watch exactly those."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

_read: ContextVar[list[Path] | None] = ContextVar("devenv_config_sources", default=None)


def note(path: Path) -> None:
    """`path` was read (a no-op outside `recording`)."""
    read = _read.get()
    if read is not None:
        read.append(path.resolve())


@contextlib.contextmanager
def recording() -> Iterator[list[Path]]:
    """Collects the paths `note` is given while the block runs."""
    read: list[Path] = []
    token = _read.set(read)
    try:
        yield read
    finally:
        _read.reset(token)
