"""Service keys with structure: build, env_file, depends_on, healthcheck,
deploy, secrets/configs (`develop` has its own module)."""

from __future__ import annotations

import re
from typing import Any

from devenv.config.compose.canonical import (
    Context,
    boolean,
    integer,
    mapping_or_list,
    new_like,
)
from devenv.config.compose.errors_at import type_name
from devenv.config.compose.schema import (
    CONDITIONS,
    DEPENDS_ON_KEYS,
    HEALTHCHECK_KEYS,
)
from devenv.config.compose.shapes import ram_in_bytes
from devenv.config.compose.yamlload import YDict, YList, copy_meta
from devenv.errors import ConfigError, did_you_mean


def build(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    if isinstance(value, str):
        out = new_like(raw)
        out["context"] = value
    elif isinstance(value, dict):
        out = new_like(value)
        out.update(value)
    else:
        raise ctx.fail(raw, key, key, f"must be a path or a mapping, not {type_name(value)}")
    context = out.get("context", ".")
    if not isinstance(context, str):
        raise ctx.fail(out, "context", "build.context", "must be a path")
    if not re.match(r"^[a-z][a-z0-9+.-]*://|^git@", context):
        out["context"] = ctx.path(context)
    if "args" in out:
        args = mapping_or_list(out, "args", out["args"], ctx, "build.args")
        # An arg without a value takes the variable's; unset, it is left out.
        for name in [n for n, v in args.items() if v is None]:
            if name in ctx.variables:
                args[name] = ctx.variables[name]
            else:
                del args[name]
        out["args"] = args
    if "labels" in out:
        out["labels"] = mapping_or_list(out, "labels", out["labels"], ctx, "build.labels")
    return out


def env_file(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    items = [value] if isinstance(value, str | dict) else value
    if not isinstance(items, list):
        raise ctx.fail(raw, key, key, f"must be a path or a list, not {type_name(value)}")
    out = YList()
    for index, item in enumerate(items):
        if isinstance(item, str):
            entry: dict[str, Any] = {"path": ctx.path(item), "required": True}
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            required = item.get("required", True)
            if isinstance(required, str) and required.lower() in ("true", "false"):
                required = required.lower() == "true"
            if not isinstance(required, bool):
                raise ctx.fail(
                    item, "required", f"env_file[{index}].required", "must be true or false"
                )
            entry = {"path": ctx.path(item["path"]), "required": required}
            if "format" in item:
                entry["format"] = item["format"]
        else:
            raise ctx.fail(
                items, index, f"env_file[{index}]", "must be a path or a mapping with `path`"
            )
        out.append(entry)
        line = items.where(index)[1] if isinstance(items, YList) else raw.where(key)[1]
        out.item_lines.append(line or 0)
    out.file = raw.where(key)[0] if isinstance(raw, YDict) else None
    return out


def depends_on(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    out = new_like(value)
    if isinstance(value, list):
        for index, name in enumerate(value):
            if not isinstance(name, str):
                raise ctx.fail(value, index, f"depends_on[{index}]", "must be a service name")
            out[name] = {"condition": "service_started", "required": True}
            if isinstance(value, YList):
                out.key_pos[name] = value.where(index)
        return out
    if not isinstance(value, dict):
        raise ctx.fail(raw, key, key, f"must be a list or a mapping, not {type_name(value)}")
    for name, spec in value.items():
        dotted = f"depends_on.{name}"
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ctx.fail(
                value,
                name,
                dotted,
                f"must be a mapping, not {type_name(spec)}",
                hint="write e.g. `db: {condition: service_healthy}`",
            )
        for k in spec:
            if k not in DEPENDS_ON_KEYS and not k.startswith("x-"):
                raise ctx.fail(
                    spec,
                    k,
                    f"{dotted}.{k}",
                    f"unknown key '{k}'",
                    hint=did_you_mean(k, DEPENDS_ON_KEYS),
                )
        condition = spec.get("condition", "service_started")
        if condition not in CONDITIONS:
            raise ctx.fail(
                spec,
                "condition",
                f"{dotted}.condition",
                f"unknown condition {condition!r}",
                hint=did_you_mean(str(condition), CONDITIONS)
                or "use one of " + ", ".join(CONDITIONS),
            )
        entry: dict[str, Any] = {"condition": condition}
        if "restart" in spec:
            entry["restart"] = boolean(spec, "restart", f"{dotted}.restart", ctx)
        entry["required"] = (
            boolean(spec, "required", f"{dotted}.required", ctx) if "required" in spec else True
        )
        out[name] = entry
    return out


def healthcheck(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:

    if not isinstance(value, dict):
        raise ctx.fail(
            raw,
            key,
            key,
            f"must be a mapping, not {type_name(value)}",
            hint="write e.g. healthcheck: {test: [CMD, true], interval: 10s}",
        )
    out = new_like(value)
    for k, v in value.items():
        dotted = f"healthcheck.{k}"
        if k not in HEALTHCHECK_KEYS and not k.startswith("x-"):
            raise ctx.fail(
                value, k, dotted, f"unknown key '{k}'", hint=did_you_mean(k, HEALTHCHECK_KEYS)
            )
        if k == "test":
            if isinstance(v, str):
                out[k] = ["CMD-SHELL", v]
            elif isinstance(v, list) and all(isinstance(i, str) for i in v):
                out[k] = list(v)
            else:
                raise ctx.fail(value, k, dotted, "must be a string or a list of strings")
        elif k in ("interval", "timeout", "start_period", "start_interval"):
            out[k] = _duration(value, k, dotted, v, ctx)
        elif k == "retries":
            try:
                out[k] = int(v)
            except (TypeError, ValueError):
                raise ctx.fail(value, k, dotted, f"must be a whole number, not {v!r}") from None
        elif k == "disable":
            out[k] = boolean(value, k, dotted, ctx)
        else:
            out[k] = v
    return out


def duration_key(raw: YDict, key: str, value: Any, ctx: Context) -> str:
    return _duration(raw, key, key, value, ctx)


def _duration(node: Any, key: str, dotted: str, value: Any, ctx: Context) -> str:
    """A Compose duration string, normalised as Compose prints it."""
    from devenv.config.compose.durations import format_duration, parse_duration

    if not isinstance(value, str):
        raise ctx.fail(
            node,
            key,
            dotted,
            f"must be a duration string, not {value!r}",
            hint=f"write e.g. {value}s" if isinstance(value, int) else "write e.g. 10s",
        )
    try:
        return format_duration(parse_duration(value, bare_numbers=False))
    except ValueError as error:
        raise ctx.fail(
            node, key, dotted, str(error), hint="units: ms, s, m, h (e.g. 1m30s)"
        ) from None


def deploy(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ctx.fail(raw, key, key, f"must be a mapping, not {type_name(value)}")
    out = new_like(value)
    out.update(value)
    resources = value.get("resources")
    if isinstance(resources, dict):
        resources = dict(resources)
        for part in ("limits", "reservations"):
            section = resources.get(part)
            if isinstance(section, dict) and "memory" in section:
                try:
                    section = {**section, "memory": ram_in_bytes(section["memory"])}
                except ValueError:
                    raise ctx.fail(
                        section,
                        "memory",
                        f"deploy.resources.{part}.memory",
                        f"not a memory size: {section['memory']!r}",
                        hint="write e.g. 512M or 1.5G",
                    ) from None
                resources[part] = section
        out["resources"] = resources
    out.setdefault("resources", {})
    out.setdefault("placement", {})
    if "replicas" in value and value["replicas"] is not None:
        try:
            out["replicas"] = integer(out, "replicas", value["replicas"], ctx)
        except ConfigError as error:
            error.key = "deploy.replicas"
            raise
    return out


def mounts(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
    """`secrets`/`configs` of a service in long form, with Compose's default targets."""
    if not isinstance(value, list):
        raise ctx.fail(raw, key, key, f"must be a list, not {type_name(value)}")
    out = copy_meta(value, YList()) if isinstance(value, YList) else YList()
    for index, item in enumerate(value):
        if isinstance(item, str):
            entry: dict[str, Any] = {"source": item}
        elif isinstance(item, dict) and isinstance(item.get("source"), str):
            entry = dict(item)
        else:
            raise ctx.fail(
                value, index, f"{key}[{index}]", "must be a name or a mapping with `source`"
            )
        target = entry.get("target")
        if key == "secrets":
            if not target:
                entry["target"] = f"/run/secrets/{entry['source']}"
            elif not str(target).startswith("/"):
                entry["target"] = f"/run/secrets/{target}"
        elif not target:
            entry["target"] = f"/{entry['source']}"
        out.append(entry)
    return out
