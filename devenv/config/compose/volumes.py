"""Volumes: short syntax (`source:target[:mode]`) and long syntax, into the long
form `docker compose config` prints; bind sources made absolute."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from devenv.config.compose.canonical import (
    Context,
    boolean,
)
from devenv.config.compose.errors_at import type_name
from devenv.config.compose.schema import (
    VOLUME_KEYS,
    VOLUME_TYPES,
)
from devenv.config.compose.yamlload import YDict, YList
from devenv.errors import did_you_mean

_PROPAGATION = {"shared", "slave", "private", "rshared", "rslave", "rprivate"}


def _is_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or bool(re.match(r"^[a-zA-Z]:[\\/]", source))


def parse_short_volume(text: str, ctx: Context) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "volume": {}}
    if len(parts) > 3:
        raise ValueError(text)
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    if not target:
        raise ValueError(text)
    entry: dict[str, Any]
    target = posixpath.normpath(target)
    if _is_path(source):
        entry = {"type": "bind", "source": ctx.path(source), "target": target}
    else:
        entry = {"type": "volume", "source": source, "target": target}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    for mode in modes:
        if mode == "ro":
            entry["read_only"] = True
        elif mode == "rw":
            pass
        elif mode in ("z", "Z"):
            bind["selinux"] = mode
        elif mode in _PROPAGATION:
            bind["propagation"] = mode
        elif mode == "nocopy":
            volume["nocopy"] = True
        elif mode in ("consistent", "cached", "delegated", ""):
            pass
        else:
            raise ValueError(text)
    if entry["type"] == "bind":
        bind["create_host_path"] = True
        entry["bind"] = bind
    else:
        entry["volume"] = volume
    return entry


def volumes(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    if not isinstance(value, list):
        raise ctx.fail(
            raw,
            key,
            key,
            f"must be a list, not {type_name(value)}",
            hint='write e.g. volumes: ["./data:/data"]',
        )
    out = YList()
    out.file = getattr(value, "file", None)
    for index, item in enumerate(value):
        dotted = f"volumes[{index}]"
        if isinstance(item, str):
            try:
                entry = parse_short_volume(item, ctx)
            except ValueError:
                raise ctx.fail(
                    value,
                    index,
                    dotted,
                    f"not a valid volume: {item!r}",
                    hint="write SOURCE:TARGET[:ro] or use the long form",
                ) from None
        elif isinstance(item, dict):
            entry = _long_volume(value, index, item, ctx)
        else:
            raise ctx.fail(value, index, dotted, f"not a volume: {type_name(item)}")
        out.append(entry)
        out.item_lines.append((value.where(index)[1] if isinstance(value, YList) else None) or 0)
    return out


def _long_volume(parent: Any, index: int, item: dict[str, Any], ctx: Context) -> dict[str, Any]:
    dotted = f"volumes[{index}]"
    for k in item:
        if k not in VOLUME_KEYS and not k.startswith("x-"):
            raise ctx.fail(
                item,
                k,
                f"{dotted}.{k}",
                f"unknown key '{k}' in a volume",
                hint=did_you_mean(k, VOLUME_KEYS),
            )
    kind = item.get("type")
    if kind not in VOLUME_TYPES:
        raise ctx.fail(
            item,
            "type" if "type" in item else None,
            f"{dotted}.type",
            f"a volume needs a type, one of {', '.join(sorted(VOLUME_TYPES))}"
            if kind is None
            else f"unknown volume type {kind!r}",
            hint=did_you_mean(str(kind), VOLUME_TYPES) if kind else None,
        )
    if not isinstance(item.get("target"), str) or not item["target"]:
        raise ctx.fail(parent, index, dotted, "a volume needs `target`")
    entry: dict[str, Any] = {}
    entry.update(item)
    source = item.get("source")
    if kind == "bind" and isinstance(source, str):
        entry["source"] = ctx.path(source)
    tmpfs = entry.get("tmpfs")
    if isinstance(tmpfs, dict) and isinstance(tmpfs.get("size"), int):
        entry["tmpfs"] = {**tmpfs, "size": str(tmpfs["size"])}  # Compose prints sizes as strings
    if "read_only" in entry:
        entry["read_only"] = boolean(item, "read_only", f"{dotted}.read_only", ctx)
        if not entry["read_only"]:
            del entry["read_only"]
    return entry
