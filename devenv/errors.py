"""Errors a user can cause. The CLI prints them on one or two lines, without a traceback.

Every message names where the problem is (file and line when known, the service
and the key) and, where we can guess one, a hint on what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class DevenvError(Exception):
    """Base class of every error the user can cause and fix."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | Path | None = None,
        line: int | None = None,
        service: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = str(file) if file is not None else None
        self.line = line
        self.service = service
        self.key = key

    def location(self) -> str:
        """`compose.yaml:12: service 'api': x-devenv.watch` — whatever parts are known."""
        parts: list[str] = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.service:
            parts.append(f"service '{self.service}'")
        if self.key:
            parts.append(self.key)
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(DevenvError):
    """The Compose files, `.env` or `x-devenv` blocks are wrong."""


class InterpolationError(ConfigError):
    """A `${VAR:?msg}` was unset, or a `$` expression is malformed."""


class SelectionError(DevenvError):
    """An unknown service name was asked for."""


class PortInUseError(DevenvError):
    """A port a service needs is already taken by another process."""


class DockerUnavailableError(DevenvError):
    """The Docker Engine cannot be reached."""


class ImageError(DevenvError):
    """An image is missing and cannot be pulled or built."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest valid choice, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else None
