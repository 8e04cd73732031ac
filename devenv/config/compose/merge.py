"""Merging canonical Compose models, with compose-go's rules.

Mappings merge key by key, the later file winning. `command`, `entrypoint` and
`healthcheck.test` are replaced. Sequences are appended and then made unique:
ports by (host ip, published, target, protocol), volumes by target, env_file
by path, string lists (profiles, expose, cap_add, dns, ...) by value; a later
entry takes the earlier one's place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devenv.config.compose.yamlload import YDict, YList, copy_meta

_REPLACED = {
    ("services", "*", "command"),
    ("services", "*", "entrypoint"),
    ("services", "*", "healthcheck", "test"),
}


def _port_key(entry: Any) -> str:
    if not isinstance(entry, dict):
        return repr(entry)
    return (
        f"{entry.get('host_ip', '')}:{entry.get('published', '')}:"
        f"{entry.get('target')}/{entry.get('protocol', 'tcp')}/{entry.get('mode', '')}"
    )


def _target_key(entry: Any) -> str:
    return str(entry.get("target")) if isinstance(entry, dict) else repr(entry)


def _path_key(entry: Any) -> str:
    return str(entry.get("path")) if isinstance(entry, dict) else repr(entry)


def _value_key(entry: Any) -> str:
    return repr(entry)


_UNIQUE: dict[str, Callable[[Any], str]] = {
    "ports": _port_key,
    "volumes": _target_key,
    "secrets": _target_key,
    "configs": _target_key,
    "env_file": _path_key,
}
_UNIQUE_BY_VALUE = {
    "profiles",
    "expose",
    "cap_add",
    "cap_drop",
    "dns",
    "dns_opt",
    "dns_search",
    "links",
    "external_links",
    "security_opt",
    "group_add",
    "device_cgroup_rules",
    "tmpfs",
}


def _matches(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(
        p in ("*", q) for p, q in zip(pattern, path, strict=True)
    )


def merge(base: Any, override: Any, path: tuple[str, ...] = ()) -> Any:
    """`override` merged onto `base` (neither is modified)."""
    if any(_matches(path, pattern) for pattern in _REPLACED):
        return override
    if isinstance(base, dict) and isinstance(override, dict):
        return _merge_maps(base, override, path)
    if isinstance(base, list) and isinstance(override, list):
        return _merge_lists(base, override, path)
    return override


def _merge_maps(base: dict[str, Any], override: dict[str, Any], path: tuple[str, ...]) -> Any:
    out: dict[str, Any] = YDict() if isinstance(base, YDict) or isinstance(override, YDict) else {}
    out.update(base)
    copy_meta(base, out)
    if isinstance(out, YDict) and isinstance(override, YDict):
        out.key_pos.update(override.key_pos)
    if (
        len(path) == 3
        and path[0] == "services"
        and path[2] == "logging"
        and base.get("driver")
        and override.get("driver")
        and base["driver"] != override["driver"]
    ):
        return override  # another logging driver: its options do not mix
    for key, value in override.items():
        if key in out:
            out[key] = merge(out[key], value, (*path, key))
        else:
            out[key] = value
    return out


def _merge_lists(base: list[Any], override: list[Any], path: tuple[str, ...]) -> Any:
    combined: list[Any] = [*base, *override]
    lines: list[int] = [
        *(base.item_lines if isinstance(base, YList) else [0] * len(base)),
        *(override.item_lines if isinstance(override, YList) else [0] * len(override)),
    ]
    key_of: Callable[[Any], str] | None = None
    if len(path) == 3 and path[0] == "services":
        key_of = _UNIQUE.get(path[2]) or (_value_key if path[2] in _UNIQUE_BY_VALUE else None)
    out = YList()
    copy_meta(override if isinstance(override, YList) else base, out)
    out.item_lines = []
    if key_of is None:
        out.extend(combined)
        out.item_lines = lines
        return out
    index: dict[str, int] = {}
    for entry, line in zip(combined, lines, strict=True):
        key = key_of(entry)
        if key in index:
            out[index[key]] = entry
            out.item_lines[index[key]] = line
        else:
            index[key] = len(out)
            out.append(entry)
            out.item_lines.append(line)
    return out
