"""Ports: short syntax (`[[ip:]published:]target[/protocol]`, with ranges) and
long syntax, into the long form `docker compose config` prints."""

from __future__ import annotations

import re
from typing import Any

from devenv.config.compose.canonical import (
    Context,
)
from devenv.config.compose.errors_at import type_name
from devenv.config.compose.schema import (
    PORT_KEYS,
)
from devenv.config.compose.yamlload import YDict, YList
from devenv.errors import did_you_mean

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


def ports(raw: YDict, key: str, value: Any, ctx: Context) -> YList:
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
