"""Checks of `x-devenv` values: each failure names the file, line, service and
`x-devenv.<key>`, with a hint where one helps."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devenv.config.compose.durations import parse_duration
from devenv.config.compose.errors_at import error_at, type_name
from devenv.errors import ConfigError


class Checker:
    """Reads typed values out of one service's `x-devenv` block."""

    def __init__(self, service: str, block: Mapping[str, Any]) -> None:
        self.service = service
        self.block = block

    def fail(
        self, node: Any, key: Any, dotted: str, message: str, hint: str | None = None
    ) -> ConfigError:
        return error_at(
            node, key, message, service=self.service, dotted=f"x-devenv.{dotted}", hint=hint
        )

    def string(self, node: Any, key: Any, dotted: str) -> str:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(node, key, dotted, f"must be a string, not {type_name(value)}")
        return str(value)

    def boolean(self, node: Mapping[str, Any], key: str, dotted: str) -> bool:
        value = node[key]
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise self.fail(node, key, dotted, f"must be true or false, not {value!r}")
        return value

    def integer(self, node: Any, key: Any, dotted: str, low: int, high: int) -> int:
        value = node[key]
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(str(value)) if isinstance(value, str) else int(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            raise self.fail(node, key, dotted, f"must be a whole number, not {value!r}") from None
        if not low <= number <= high:
            raise self.fail(node, key, dotted, f"must be between {low} and {high}, not {number}")
        return number

    def duration(self, node: Mapping[str, Any], key: str, dotted: str) -> float:
        try:
            return parse_duration(node[key])
        except ValueError as error:
            raise self.fail(
                node, key, dotted, str(error), hint="write e.g. 500ms, 2s, 1m30s"
            ) from None

    def string_list(self, node: Mapping[str, Any], key: str, dotted: str) -> list[str]:
        value = node[key]
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise self.fail(node, key, dotted, f"must be a list of strings, not {type_name(value)}")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(
                    value, index, f"{dotted}[{index}]", f"must be a string, not {type_name(item)}"
                )
            out.append(item)
        return out


def host_path(value: str, base: Path, variables: Mapping[str, str]) -> Path:
    """A path from `x-devenv`, absolute: `~` expanded, relative to `base`."""
    if value == "~" or value.startswith("~/"):
        value = (variables.get("HOME") or os.path.expanduser("~")) + value[1:]
    path = Path(value)
    return Path(os.path.normpath(path if path.is_absolute() else base / path))
