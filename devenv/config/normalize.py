"""Short syntax to long syntax, as `docker compose config` writes it.

Each function takes one service's raw (interpolated) value and returns the
canonical form: ports and volumes as lists of mappings, `depends_on` and
`environment` as mappings, `command` as a list, relative paths made absolute.
Merging and the model work on these canonical forms only.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devenv.config.errors_at import error_at, type_name
from devenv.config.schema import (
    CONDITIONS,
    DEPENDS_ON_KEYS,
    HEALTHCHECK_KEYS,
    PORT_KEYS,
    SERVICE_KEYS,
    VOLUME_KEYS,
    VOLUME_TYPES,
)
from devenv.config.yamlload import YDict, YList, copy_meta
from devenv.errors import ConfigError, did_you_mean


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


def canonical_service(raw: Any, ctx: Context) -> YDict:
    """One service in canonical form; raises ConfigError on anything malformed."""
    if raw is None:
        raw = YDict()
    if not isinstance(raw, dict):
        raise ctx.fail(
            None,
            None,
            "",
            f"a service must be a mapping, not {type_name(raw)}",
            hint="write the service's keys indented under its name",
        )
    out = new_like(raw)
    for key, value in raw.items():
        if key.startswith("x-"):
            if key == "x-devenv" and isinstance(value, dict):
                value = copy_meta(value, YDict(value))
                value.base_dir = str(ctx.base_dir)
            out[key] = value
            continue
        if key not in SERVICE_KEYS:
            raise ctx.fail(
                raw,
                key,
                key,
                f"unknown key '{key}' (docker compose rejects it too)",
                hint=did_you_mean(key, SERVICE_KEYS) or "see the Compose Specification",
            )
        handler = _HANDLERS.get(key)
        result = handler(raw, key, value, ctx) if handler else value
        if result is None and key in _FALSE_IS_ABSENT:
            continue
        out[key] = result
    return out


_FALSE_IS_ABSENT = {"privileged", "read_only", "stdin_open", "tty", "oom_kill_disable"}


# --- simple shapes -----------------------------------------------------------


def _command(raw: YDict, key: str, value: Any, ctx: Context) -> list[str] | None:
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


def _environment(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    return mapping_or_list(raw, key, value, ctx, key)


def _labels(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    return mapping_or_list(raw, key, value, ctx, key, allow_null=False)


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


def _profiles(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    if isinstance(value, str):
        raise ctx.fail(raw, key, key, "must be a list of profile names", hint=f"write [{value}]")
    return string_list(raw, key, value, ctx, key)


def _expose(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    return string_list(raw, key, value, ctx, key)


def _networks(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
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


def _build(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
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


def _env_file(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
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


# --- ports -------------------------------------------------------------------

_PORT_SHORT = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:.]*\]|[0-9.]+|[^:\[\]]*?):)?(?P<published>[0-9]*(?:-[0-9]+)?):)?"
    r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<protocol>[a-zA-Z]+))?$"
)


def _port_range(text: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    low = int(start)
    high = int(end) if end else low
    if not (0 < low <= 65535 and 0 < high <= 65535) or high < low:
        raise ValueError(text)
    return low, high


def parse_short_port(text: str) -> list[dict[str, Any]]:
    """`[[ip:]published:]target[/protocol]`, with ranges, into long-form mappings."""
    match = _PORT_SHORT.match(text.strip())
    if match is None:
        raise ValueError(text)
    ip = match.group("ip") or None
    if ip and ip.startswith("["):
        ip = ip[1:-1]
    published = match.group("published") or None
    protocol = (match.group("protocol") or "tcp").lower()
    low, high = _port_range(match.group("target"))
    targets = list(range(low, high + 1))
    published_list: list[str | None]
    if published is None:
        published_list = [None] * len(targets)
    else:
        plow, phigh = _port_range(published)
        if phigh - plow == high - low:
            published_list = [str(p) for p in range(plow, phigh + 1)]
        elif low == high:
            published_list = [published if plow != phigh else str(plow)]
        else:
            raise ValueError(text)
    out: list[dict[str, Any]] = []
    for target, pub in zip(targets, published_list, strict=True):
        entry: dict[str, Any] = {"mode": "ingress"}
        if ip:
            entry["host_ip"] = ip
        entry["target"] = target
        if pub is not None:
            entry["published"] = pub
        entry["protocol"] = protocol
        out.append(entry)
    return out


def _ports(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    if not isinstance(value, list):
        raise ctx.fail(
            raw,
            key,
            key,
            f"must be a list, not {type_name(value)}",
            hint='write e.g. ports: ["8080:80"]',
        )
    out = YList()
    out.file = getattr(value, "file", None)
    for index, item in enumerate(value):
        dotted = f"ports[{index}]"
        line = value.where(index)[1] if isinstance(value, YList) else None
        if isinstance(item, bool) or item is None:
            raise ctx.fail(value, index, dotted, f"not a port: {item!r}")
        if isinstance(item, int | str):
            try:
                entries = parse_short_port(str(item))
            except ValueError:
                raise ctx.fail(
                    value,
                    index,
                    dotted,
                    f"not a valid port: {str(item)!r}",
                    hint="write [[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL], ports 1-65535",
                ) from None
        elif isinstance(item, dict):
            entries = [_long_port(value, index, item, ctx)]
        else:
            raise ctx.fail(value, index, dotted, f"not a port: {type_name(item)}")
        for entry in entries:
            out.append(entry)
            out.item_lines.append(line or 0)
    return out


def _long_port(parent: Any, index: int, item: dict[str, Any], ctx: Context) -> dict[str, Any]:
    dotted = f"ports[{index}]"
    for k in item:
        if k not in PORT_KEYS and not k.startswith("x-"):
            raise ctx.fail(
                item,
                k,
                f"{dotted}.{k}",
                f"unknown key '{k}' in a port",
                hint=did_you_mean(k, PORT_KEYS),
            )
    if "target" not in item:
        raise ctx.fail(parent, index, dotted, "a port needs `target`")
    try:
        target = int(item["target"])
        if not 0 < target <= 65535:
            raise ValueError
    except (TypeError, ValueError):
        raise ctx.fail(
            item, "target", f"{dotted}.target", f"not a valid port: {item['target']!r}"
        ) from None
    entry: dict[str, Any] = {"mode": str(item.get("mode") or "ingress")}
    if item.get("host_ip"):
        entry["host_ip"] = str(item["host_ip"])
    entry["target"] = target
    published = item.get("published")
    if published is not None and published != "":
        try:
            _port_range(str(published))
        except ValueError:
            raise ctx.fail(
                item, "published", f"{dotted}.published", f"not a valid port: {published!r}"
            ) from None
        entry["published"] = str(published)
    entry["protocol"] = str(item.get("protocol") or "tcp").lower()
    for extra in ("name", "app_protocol"):
        if item.get(extra) is not None:
            entry[extra] = item[extra]
    return entry


# --- volumes -----------------------------------------------------------------

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


def _volumes(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
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
        entry["read_only"] = _boolean(item, "read_only", f"{dotted}.read_only", ctx)
        if not entry["read_only"]:
            del entry["read_only"]
    return entry


# --- depends_on and healthcheck ---------------------------------------------


def _depends_on(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
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
            entry["restart"] = _boolean(spec, "restart", f"{dotted}.restart", ctx)
        entry["required"] = (
            _boolean(spec, "required", f"{dotted}.required", ctx) if "required" in spec else True
        )
        out[name] = entry
    return out


def _boolean(node: Any, key: str, dotted: str, ctx: Context) -> bool:
    value = node[key]
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ctx.fail(node, key, dotted, f"must be true or false, not {value!r}")
    return value


def _healthcheck(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    from devenv.config.durations import format_duration, parse_duration

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
            if not isinstance(v, str):
                raise ctx.fail(
                    value,
                    k,
                    dotted,
                    f"must be a duration string, not {v!r}",
                    hint=f"write e.g. {v}s" if isinstance(v, int) else "write e.g. 10s",
                )
            try:
                out[k] = format_duration(parse_duration(v, bare_numbers=False))
            except ValueError as error:
                raise ctx.fail(
                    value, k, dotted, str(error), hint="units: ms, s, m, h (e.g. 1m30s)"
                ) from None
        elif k == "retries":
            try:
                out[k] = int(v)
            except (TypeError, ValueError):
                raise ctx.fail(value, k, dotted, f"must be a whole number, not {v!r}") from None
        elif k == "disable":
            out[k] = _boolean(value, k, dotted, ctx)
        else:
            out[k] = v
    return out


def _duration_key(raw: YDict, key: str, value: Any, ctx: Context) -> str:
    from devenv.config.durations import format_duration, parse_duration

    if not isinstance(value, str):
        raise ctx.fail(
            raw,
            key,
            key,
            f"must be a duration string, not {value!r}",
            hint=f"write e.g. {value}s" if isinstance(value, int) else "write e.g. 10s",
        )
    try:
        return format_duration(parse_duration(value, bare_numbers=False))
    except ValueError as error:
        raise ctx.fail(raw, key, key, str(error)) from None


def _develop(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ctx.fail(raw, key, key, f"must be a mapping, not {type_name(value)}")
    out = new_like(value)
    out.update(value)
    watch = value.get("watch")
    if watch is not None:
        if not isinstance(watch, list):
            raise ctx.fail(value, "watch", "develop.watch", "must be a list")
        items = []
        for index, item in enumerate(watch):
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise ctx.fail(
                    watch,
                    index,
                    f"develop.watch[{index}]",
                    "must be a mapping with `path` and `action`",
                )
            entry = dict(item)
            entry["path"] = ctx.path(item["path"])
            entry.setdefault("exec", {"command": None})  # as Compose prints it
            items.append(entry)
        out["watch"] = copy_meta(watch, YList(items)) if isinstance(watch, YList) else items
    return out


def _integer(raw: YDict, key: str, value: Any, ctx: Context) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value)
        if number < 0:
            raise ValueError
        return number
    except (TypeError, ValueError):
        raise ctx.fail(raw, key, key, f"must be a whole number, not {value!r}") from None


def _deploy(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
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
            out["replicas"] = _integer(out, "replicas", value["replicas"], ctx)
        except ConfigError as error:
            error.key = "deploy.replicas"
            raise
    return out


def _mounts(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
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


_RAM_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def ram_in_bytes(value: Any) -> str:
    """`1.5G` -> "1610612736", as Compose prints memory sizes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpb]?)b?\s*", str(value).lower())
    if match is None:
        raise ValueError(value)
    return str(int(float(match.group(1)) * _RAM_UNITS[match.group(2)]))


def _sysctls(raw: YDict, key: str, value: Any, ctx: Context) -> YDict:
    return mapping_or_list(raw, key, value, ctx, key, allow_null=False)


def _one_or_list(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
    return string_list(raw, key, value, ctx, key)


def _bytes(raw: YDict, key: str, value: Any, ctx: Context) -> str:
    try:
        return ram_in_bytes(value)
    except ValueError:
        raise ctx.fail(
            raw, key, key, f"not a size: {value!r}", hint="write e.g. 512m or 1g"
        ) from None


def _false_is_absent(raw: YDict, key: str, value: Any, ctx: Context) -> bool | None:
    """Booleans Compose leaves out of its output when false."""
    result = _boolean(raw, key, key, ctx)
    return result if result else None


def _extra_hosts(raw: YDict, key: str, value: Any, ctx: Context) -> list[str]:
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


def _devices(raw: YDict, key: str, value: Any, ctx: Context) -> list[Any]:
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


def _string(raw: YDict, key: str, value: Any, ctx: Context) -> Any:
    if isinstance(value, dict | list):
        raise ctx.fail(raw, key, key, f"must be a string, not {type_name(value)}")
    return None if value is None else scalar_text(value)


_HANDLERS: dict[str, Any] = {
    "command": _command,
    "entrypoint": _command,
    "environment": _environment,
    "labels": _labels,
    "annotations": _labels,
    "profiles": _profiles,
    "expose": _expose,
    "networks": _networks,
    "build": _build,
    "env_file": _env_file,
    "ports": _ports,
    "volumes": _volumes,
    "depends_on": _depends_on,
    "healthcheck": _healthcheck,
    "stop_grace_period": _duration_key,
    "develop": _develop,
    "deploy": _deploy,
    "scale": _integer,
    "dns": _one_or_list,
    "dns_search": _one_or_list,
    "dns_opt": _one_or_list,
    "tmpfs": _one_or_list,
    "mem_limit": _bytes,
    "mem_reservation": _bytes,
    "memswap_limit": _bytes,
    "shm_size": _bytes,
    "privileged": _false_is_absent,
    "read_only": _false_is_absent,
    "stdin_open": _false_is_absent,
    "tty": _false_is_absent,
    "oom_kill_disable": _false_is_absent,
    "extra_hosts": _extra_hosts,
    "devices": _devices,
    "secrets": _mounts,
    "configs": _mounts,
    "sysctls": _sysctls,
    "image": _string,
    "working_dir": _string,
    "restart": _string,
    "stop_signal": _string,
    "container_name": _string,
    "user": _string,
    "hostname": _string,
    "platform": _string,
}
