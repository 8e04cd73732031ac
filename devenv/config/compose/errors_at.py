"""Building ConfigErrors that point at a key in a file."""

from __future__ import annotations

from typing import Any

from devenv.config.compose.yamlload import where
from devenv.errors import ConfigError


def error_at(
    node: Any,
    key: Any,
    message: str,
    *,
    service: str | None = None,
    dotted: str | None = None,
    hint: str | None = None,
) -> ConfigError:
    """A ConfigError located at `key` inside `node` (a YDict/YList from the loader)."""
    file, line = where(node, key)
    return ConfigError(message, file=file, line=line, service=service, key=dotted, hint=hint)


def type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
