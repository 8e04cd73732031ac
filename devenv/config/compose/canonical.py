"""The helpers every canonical form uses: the context of one service, and
scalars, mappings and lists in Compose's shapes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devenv.config.compose.errors_at import error_at, type_name
from devenv.config.compose.yamlload import YDict, YList, copy_meta
from devenv.errors import ConfigError


class Context:
    """What canonicalising one service needs to know."""

    def __init__(self, service: str, base_dir: Path, variables: Mapping[str, str]) -> None:
        self.service = service
        self.base_dir = base_dir
        self.variables = variables

    def fail(
        self, node: Any, key: Any, dotted: str, message: str, hint: str | None = None
    ) -> ConfigError:
        return error_at(node, key, message, service=self.service, dotted=dotted, hint=hint)

    def home(self) -> str:
        return self.variables.get("HOME") or os.path.expanduser("~")

    def path(self, value: str) -> str:
        """A host path made absolute against the base directory, `~` expanded."""
        if value == "~" or value.startswith("~/"):
            value = self.home() + value[1:]
        if os.path.isabs(value):
            return value  # Compose keeps absolute paths as written
        return os.path.normpath(os.path.join(self.base_dir, value))


def new_like(source: Any) -> YDict:
    return copy_meta(source, YDict()) if isinstance(source, YDict) else YDict()


def scalar_text(value: Any) -> str:
    """How Compose turns a scalar into a string (booleans in lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mapping_or_list(
    raw: Any, key: Any, value: Any, ctx: Context, dotted: str, *, allow_null: bool = True
) -> YDict:
    """`{K: V}` or `[K=V, K]` -> mapping of str -> str | None."""
    out = new_like(value)
    if value is None:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list):
                raise ctx.fail(
                    value,
                    k,
                    f"{dotted}.{k}",
                    f"must be a string, a number or a boolean, not {type_name(v)}",
                )
            out[str(k)] = (
                None if v is None and allow_null else scalar_text(v) if v is not None else ""
            )
        return out
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list) or item is None:
                raise ctx.fail(
                    value, index, f"{dotted}[{index}]", f"must be KEY=VALUE, not {type_name(item)}"
                )
            text = scalar_text(item)
            name, sep, val = text.partition("=")
            out[name] = val if sep else None
            if isinstance(value, YList):
                out.key_pos[name] = value.where(index)
        return out
    raise ctx.fail(
        raw,
        key,
        dotted,
        f"must be a mapping or a list of KEY=VALUE, not {type_name(value)}",
        hint="write `KEY: value` lines or `- KEY=value` items",
    )


def string_list(raw: Any, key: Any, value: Any, ctx: Context, dotted: str) -> YList:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ctx.fail(raw, key, dotted, f"must be a list of strings, not {type_name(value)}")
    out = copy_meta(value, YList()) if isinstance(value, YList) else YList()
    for index, item in enumerate(value):
        if isinstance(item, dict | list) or item is None:
            raise ctx.fail(
                value, index, f"{dotted}[{index}]", f"must be a string, not {type_name(item)}"
            )
        out.append(scalar_text(item))
    return out


def boolean(node: Any, key: str, dotted: str, ctx: Context) -> bool:
    value = node[key]
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ctx.fail(node, key, dotted, f"must be true or false, not {value!r}")
    return value


def integer(raw: YDict, key: str, value: Any, ctx: Context) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
        if number < 0:
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise ctx.fail(raw, key, key, f"must be a whole number, not {value!r}") from None
