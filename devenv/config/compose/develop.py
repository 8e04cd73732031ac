"""`develop` (Compose Watch) in the form `docker compose config` prints it.

Each `develop.watch` entry needs `path` and `action` (one of Compose's five);
the actions that copy files into a container (`sync`, `sync+restart`,
`sync+exec`) need a `target`, as Compose says. `ignore`/`include` become lists
(empty ones are dropped), `exec` is Compose's service hook (`command` split like
a service's `command`), paths are made absolute. devenv reads the result in
`devenv.config.stack.watch_rules`.
"""

from __future__ import annotations

from typing import Any, cast

from devenv.config.compose.canonical import (
    Context,
    boolean,
    mapping_or_list,
    new_like,
    string_list,
)
from devenv.config.compose.errors_at import type_name
from devenv.config.compose.schema import (
    DEVELOP_KEYS,
    HOOK_KEYS,
    SYNC_ACTIONS,
    WATCH_ACTIONS,
    WATCH_KEYS,
)
from devenv.config.compose.shapes import command
from devenv.config.compose.yamlload import YDict, YList, copy_meta
from devenv.errors import ConfigError, did_you_mean


def develop(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
    if value is None:
        return None  # Compose leaves `develop:` with nothing under it out
    if not isinstance(value, dict):
        raise ctx.fail(raw, key, key, f"must be a mapping, not {type_name(value)}")
    _known_keys(value, DEVELOP_KEYS, "develop", ctx)
    out = new_like(value)
    out.update(value)
    watch = value.get("watch")
    if watch is None:
        out.pop("watch", None)
        return out
    if not isinstance(watch, list):
        raise ctx.fail(
            value,
            "watch",
            "develop.watch",
            f"must be a list, not {type_name(watch)}",
            hint="write e.g. watch: [{path: ./src, action: rebuild}]",
        )
    items = [_entry(watch, index, item, ctx) for index, item in enumerate(watch)]
    if items:
        out["watch"] = copy_meta(watch, YList(items)) if isinstance(watch, YList) else YList(items)
    else:
        del out["watch"]  # as Compose: `watch: []` says nothing
    return out


def _entry(parent: Any, index: int, item: Any, ctx: Context) -> YDict:
    dotted = f"develop.watch[{index}]"
    if not isinstance(item, dict):
        raise ctx.fail(
            parent,
            index,
            dotted,
            f"must be a mapping with `path` and `action`, not {type_name(item)}",
            hint="write e.g. {path: ./src, action: rebuild}",
        )
    _known_keys(item, WATCH_KEYS, dotted, ctx)
    for required in ("path", "action"):
        if required not in item:
            raise ctx.fail(
                parent,
                index,
                dotted,
                f"needs `{required}`",
                hint="write e.g. {path: ./src, action: rebuild}",
            )
    out = new_like(item)
    out.update(item)
    path = item["path"]
    if not isinstance(path, str):
        raise ctx.fail(item, "path", f"{dotted}.path", f"must be a path, not {type_name(path)}")
    out["path"] = ctx.path(path)
    action = item["action"]
    if action not in WATCH_ACTIONS:
        raise ctx.fail(
            item,
            "action",
            f"{dotted}.action",
            f"unknown action {action!r}",
            hint=did_you_mean(str(action), WATCH_ACTIONS)
            or f"use one of {', '.join(WATCH_ACTIONS)}",
        )
    if "target" in item and not isinstance(item["target"], str):
        raise ctx.fail(
            item, "target", f"{dotted}.target", f"must be a path, not {type_name(item['target'])}"
        )
    if action in SYNC_ACTIONS and not item.get("target"):
        raise ctx.fail(
            parent,
            index,
            dotted,
            f"action {action} needs a `target` (where the files go in the container)",
            hint="add e.g. target: /app; docker compose refuses it without one",
        )
    for key in ("ignore", "include"):
        if key in item:
            patterns = string_list(item, key, item[key], ctx, f"{dotted}.{key}")
            if patterns:
                out[key] = patterns
            else:
                del out[key]
    if "initial_sync" in item:
        out["initial_sync"] = boolean(item, "initial_sync", f"{dotted}.initial_sync", ctx)
    out["exec"] = _hook(item, dotted, ctx) if "exec" in item else {"command": None}
    return out


def _hook(item: Any, dotted: str, ctx: Context) -> YDict:
    """`exec`, Compose's service hook: `command` is required."""
    hook = item["exec"]
    dotted = f"{dotted}.exec"
    if not isinstance(hook, dict):
        raise ctx.fail(item, "exec", dotted, f"must be a mapping, not {type_name(hook)}")
    _known_keys(hook, HOOK_KEYS, dotted, ctx)
    if "command" not in hook:
        raise ctx.fail(
            item, "exec", dotted, "needs `command`", hint='write e.g. exec: {command: "npm ci"}'
        )
    out = new_like(hook)
    out.update(hook)
    try:
        out["command"] = command(cast(YDict, hook), "command", hook["command"], ctx)
    except ConfigError as error:
        error.key = f"{dotted}.command"
        raise
    if "environment" in hook:
        out["environment"] = mapping_or_list(
            hook, "environment", hook["environment"], ctx, f"{dotted}.environment"
        )
    if "privileged" in hook:
        if boolean(hook, "privileged", f"{dotted}.privileged", ctx):
            out["privileged"] = True
        else:
            del out["privileged"]  # Compose leaves false out
    for key in ("user", "working_dir"):
        if key in hook and not isinstance(hook[key], str):
            raise ctx.fail(
                hook, key, f"{dotted}.{key}", f"must be a string, not {type_name(hook[key])}"
            )
    return out


def _known_keys(node: dict[str, Any], keys: frozenset[str], dotted: str, ctx: Context) -> None:
    for key in node:
        if key not in keys and not str(key).startswith("x-"):
            raise ctx.fail(
                node,
                key,
                f"{dotted}.{key}",
                f"unknown key '{key}' (docker compose rejects it too)",
                hint=did_you_mean(str(key), keys) or f"valid keys: {', '.join(sorted(keys))}",
            )
