"""From Compose files, `x-devenv` blocks and `.env` to a validated, immutable Stack.

Two stages: `compose/` reads and normalises the Compose files, `stack/`
builds the Stack (`model`) from them; `loader` runs both, `render` prints a
Stack as `docker compose config` does. Knows nothing of the engine, Docker or
the UI.
"""

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
