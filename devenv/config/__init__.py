"""From Compose files, `x-devenv` blocks and `.env` to a validated, immutable Stack.

Two stages: `compose/` reads and normalises the Compose files, `stack/`
builds the Stack (`model`) from them; `loader` runs both, `render` prints a
Stack as `docker compose config` does. Knows nothing of the engine, Docker or
the UI.

The names below are loaded on first use, so that a light module of this package
(`compose.discovery`, `compose.durations`) can be imported without the YAML
reader and the model: `devenv status` finds the project's directory that way
and answers from the running session in a few milliseconds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devenv.config.loader import LoadOptions, load_stack
    from devenv.config.model import (
        Condition,
        Dependency,
        Healthcheck,
        LocalProcess,
        Origin,
        PortMapping,
        ReadyProbe,
        Service,
        Stack,
        VolumeMount,
    )

_WHERE = {
    "LoadOptions": "devenv.config.loader",
    "load_stack": "devenv.config.loader",
    **{
        name: "devenv.config.model"
        for name in (
            "Condition",
            "Dependency",
            "Healthcheck",
            "LocalProcess",
            "Origin",
            "PortMapping",
            "ReadyProbe",
            "Service",
            "Stack",
            "VolumeMount",
        )
    },
}

__all__ = [
    "Condition",
    "Dependency",
    "Healthcheck",
    "LoadOptions",
    "LocalProcess",
    "Origin",
    "PortMapping",
    "ReadyProbe",
    "Service",
    "Stack",
    "VolumeMount",
    "load_stack",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'devenv.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
