"""`x-devenv.ready`: when a local process counts as ready, and how often it is
checked once it is (`health_interval`, 0: never)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from devenv.config.compose.errors_at import type_name
from devenv.config.model import ReadyProbe
from devenv.config.stack.checker import Checker
from devenv.errors import did_you_mean

PROBE_KINDS = ("http", "tcp", "cmd", "log")
PROBE_KEYS = (
    *PROBE_KINDS,
    "status",
    "interval",
    "timeout",
    "start_period",
    "retries",
    "health_interval",
)


def ready_probe(check: Checker, block: Mapping[str, Any]) -> ReadyProbe:
    spec = block["ready"]
    if not isinstance(spec, dict):
        raise check.fail(
            block,
            "ready",
            "ready",
            f"must be a mapping, not {type_name(spec)}",
            hint='write e.g. ready: {http: "http://localhost:3000/health"}',
        )
    for key in spec:
        if key not in PROBE_KEYS:
            raise check.fail(
                spec,
                key,
                f"ready.{key}",
                f"unknown key '{key}'",
                hint=did_you_mean(key, PROBE_KEYS) or f"valid keys: {', '.join(PROBE_KEYS)}",
            )
    kinds = [k for k in PROBE_KINDS if k in spec]
    if len(kinds) != 1:
        raise check.fail(
            block,
            "ready",
            "ready",
            "needs exactly one of http, tcp, cmd, log"
            if not kinds
            else f"has {' and '.join(kinds)}; give only one",
        )
    kind = kinds[0]
    target: str
    if kind == "tcp":
        value = spec["tcp"]
        if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isdigit()
        ):
            port = check.integer(spec, "tcp", "ready.tcp", 1, 65535)
            target = f"127.0.0.1:{port}"
        elif isinstance(value, str) and re.fullmatch(r".+:[0-9]+", value):
            port_text = value.rpartition(":")[2]
            if not 0 < int(port_text) <= 65535:
                raise check.fail(spec, "tcp", "ready.tcp", f"not a valid port: {port_text}")
            target = value
        else:
            raise check.fail(
                spec, "tcp", "ready.tcp", f"must be a port or host:port, not {value!r}"
            )
    else:
        target = check.string(spec, kind, f"ready.{kind}")
        if kind == "http" and not re.match(r"^https?://", target):
            raise check.fail(
                spec,
                "http",
                "ready.http",
                f"not an http(s) URL: {target!r}",
                hint="write e.g. http://localhost:3000/health",
            )
        if kind == "log":
            try:
                re.compile(target)
            except re.error as error:
                raise check.fail(
                    spec, "log", "ready.log", f"not a valid regular expression: {error}"
                ) from None
    probe: dict[str, Any] = {"kind": kind, "target": target}
    if "status" in spec:
        if kind != "http":
            raise check.fail(spec, "status", "ready.status", "only applies to an http probe")
        probe["status"] = check.integer(spec, "status", "ready.status", 100, 599)
    for key in ("interval", "timeout", "start_period", "health_interval"):
        if key in spec:
            probe[key] = check.duration(spec, key, f"ready.{key}")
    if "retries" in spec:
        probe["retries"] = check.integer(spec, "retries", "ready.retries", 0, 1_000_000)
    return ReadyProbe(**probe)
