"""Merging canonical Compose models, with compose-go's rules.

Mappings merge key by key, the later file winning. `command`, `entrypoint` and
`healthcheck.test` are replaced. Sequences are appended and then made unique:
ports by (host ip, published, target, protocol), volumes by target, env_file
by path, string lists (profiles, expose, cap_add, dns, ...) by value; a later
entry takes the earlier one's place.

The YAML tags `!reset` and `!override` change that for one value: the reader
takes them out of each file (`take_merge_tags`) and removes what earlier files,
or the service being extended, set at those paths (`without`) before merging;
a `!reset` value is dropped, an `!override` one then takes the place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devenv.config.compose.yamlload import MergeTag, YDict, YList, copy_meta

# A place in a model: mapping keys from the top (`("services", "web", "ports")`).
TreePath = tuple[str, ...]

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


def take_merge_tags(
    node: Any, path: TreePath = (), unknown: list[tuple[TreePath, str]] | None = None
) -> list[TreePath]:
    """Where `node` (a freshly read file, changed in place) has `!reset` or
    `!override` values: each `!reset` value is removed and each `!override` one
    unwrapped. As in Compose, a tagged item of a sequence only affects that
    file's sequence (a `!reset` item is dropped), never an earlier file's.
    Values with another tag are unwrapped, and listed in `unknown`."""
    found: list[TreePath] = []
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            here = (*path, key)
            if isinstance(value, MergeTag) and value.kind not in ("reset", "override"):
                if unknown is not None:
                    unknown.append((here, value.kind))
                value = node[key] = value.value
            if isinstance(value, MergeTag):
                found.append(here)
                if value.kind == "reset":
                    del node[key]
                    if isinstance(node, YDict):
                        node.key_pos.pop(key, None)
                    continue
                value = node[key] = value.value
            found.extend(take_merge_tags(value, here, unknown))
    elif isinstance(node, list):
        kept: list[Any] = []
        lines: list[int] = []
        item_lines = node.item_lines if isinstance(node, YList) else []
        for index, item in enumerate(node):
            here = (*path, str(index))
            if isinstance(item, MergeTag):
                if item.kind == "reset":
                    continue
                if item.kind != "override" and unknown is not None:
                    unknown.append((here, item.kind))
                item = item.value
            take_merge_tags(item, here, unknown)  # Compose never matches these paths
            kept.append(item)
            lines.append(item_lines[index] if index < len(item_lines) else 0)
        node[:] = kept
        if isinstance(node, YList):
            node.item_lines = lines
    return found


def without(tree: Any, paths: list[TreePath]) -> Any:
    """`tree` less the values at `paths` (mapping keys only); the containers on
    the way are copied, so trees that share parts with it are left alone."""
    for path in paths:
        tree = _without(tree, path)
    return tree


def _without(tree: Any, path: TreePath) -> Any:
    if not path or not isinstance(tree, dict) or path[0] not in tree:
        return tree
    out: dict[str, Any] = copy_meta(tree, YDict(tree)) if isinstance(tree, YDict) else dict(tree)
    key = path[0]
    if len(path) == 1:
        del out[key]
        if isinstance(out, YDict):
            out.key_pos.pop(key, None)
    else:
        out[key] = _without(tree[key], path[1:])
    return out
