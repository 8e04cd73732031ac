"""Service keys with simple shapes (strings, lists, mappings, sizes) in the
form `docker compose config` prints."""

from __future__ import annotations

import re
import shlex
from typing import Any

from devenv.config.compose.canonical import (
    Context,
    boolean,
    mapping_or_list,
    new_like,
    scalar_text,
    string_list,
)
from devenv.config.compose.errors_at import type_name
from devenv.config.compose.yamlload import YDict, YList


def command(raw: YDict, key: str, value: Any, ctx: Context) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as error:
            raise ctx.fail(
                raw, key, key, f"cannot split the command: {error}", hint="close every quote"
            ) from None
    if isinstance(value, list):
        return [scalar_text(v) for v in value]
    raise ctx.fail(raw, key, key, f"must be a string or a list, not {type_name(value)}")


def environment(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    return mapping_or_list(raw, key, value, ctx, key)


def labels(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    return mapping_or_list(raw, key, value, ctx, key, allow_null=False)


def profiles(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    if isinstance(value, str):
        raise ctx.fail(raw, key, key, "must be a list of profile names", hint=f"write [{value}]")
    return string_list(raw, key, value, ctx, key)


def expose(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    return string_list(raw, key, value, ctx, key)


def networks(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    if isinstance(value, list):
        out = new_like(value)
        for index, name in enumerate(value):
            if not isinstance(name, str):
                raise ctx.fail(value, index, f"networks[{index}]", "must be a network name")
            out[name] = None
        return out
    if isinstance(value, dict):
        return value  # type: ignore[return-value]
    raise ctx.fail(raw, key, key, f"must be a list or a mapping, not {type_name(value)}")


_RAM_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def ram_in_bytes(value: Any) -> str:
    """`1.5G` -> "1610612736", as Compose prints memory sizes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpb]?)b?\s*", str(value).lower())
    if match is None:
        raise ValueError(value)
    return str(int(float(match.group(1)) * _RAM_UNITS[match.group(2)]))


def sysctls(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    return mapping_or_list(raw, key, value, ctx, key, allow_null=False)


def one_or_list(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    return string_list(raw, key, value, ctx, key)


def bytes(raw: YDict, key: str, value: Any, ctx: Context) -> str:
    try:
        return ram_in_bytes(value)
    except ValueError:
        raise ctx.fail(
            raw, key, key, f"not a size: {value!r}", hint="write e.g. 512m or 1g"
        ) from None


def false_is_absent(raw: YDict, key: str, value: Any, ctx: Context) -> bool | None:
    """Booleans Compose leaves out of its output when false."""
    result = boolean(raw, key, key, ctx)
    return result if result else None


def extra_hosts(raw: YDict, key: str, value: Any, ctx: Context) -> list[str]:
    hosts: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for host, ip in value.items():
            for one in ip if isinstance(ip, list) else [ip]:
                hosts.setdefault(str(host), []).append(scalar_text(one))
    else:
        for item in string_list(raw, key, value, ctx, key):
            host, sep, ip = item.partition("=")
            if not sep:
                host, _, ip = item.partition(":")
            hosts.setdefault(host, []).append(ip)
    return [f"{host}={ip}" for host in sorted(hosts) for ip in hosts[host]]


def devices(raw: YDict, key: str, value: Any, ctx: Context) -> list[Any]:
    if not isinstance(value, list):
        raise ctx.fail(raw, key, key, f"must be a list, not {type_name(value)}")
    out: list[Any] = []
    for item in value:
        if isinstance(item, str):
            parts = item.split(":")
            source = parts[0]
            target = parts[1] if len(parts) > 1 else source
            permissions = parts[2] if len(parts) > 2 else "rwm"
            out.append({"source": source, "target": target, "permissions": permissions})
        else:
            out.append(item)
    return out


def string(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
    if isinstance(value, dict | list):
        raise ctx.fail(raw, key, key, f"must be a string, not {type_name(value)}")
    return None if value is None else scalar_text(value)
