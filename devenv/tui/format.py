"""Pure formatting helpers for the TUI: no Textual here, so they are easy to test."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from devenv.engine.api import Kind, UnitInfo
from devenv.events import ACTIVE_STATES, UnitState
from devenv.secrets import MASK as MASK  # re-exported: the UI's names
from devenv.secrets import SecretMasker as SecretMasker
from devenv.secrets import is_secret_name

DASH = "\N{EN DASH}"  # an empty cell

# States that are on their way somewhere: they get a spinner.
CHANGING_STATES = frozenset(
    {
        UnitState.PENDING,
        UnitState.WAITING,
        UnitState.STARTING,
        UnitState.STOPPING,
        UnitState.BACKOFF,
        UnitState.PULLING,
        UnitState.BUILDING,
    }
)

# States in which a unit has a running instance whose health, CPU and memory mean
# something. Anything else (crashed, stopped, backing off, waiting) shows dashes.
LIVE_STATES = ACTIVE_STATES | {UnitState.STOPPING}

# How a user names the two kinds (`devenv start --local api --container worker`).
MODE_LABEL: dict[Kind, str] = {"process": "local", "container": "container"}

# Theme variables, so dark and light themes both read well.
STATE_STYLE: dict[UnitState, str] = {
    UnitState.PENDING: "dim",
    UnitState.WAITING: "dim",
    UnitState.PULLING: "$text-warning",
    UnitState.BUILDING: "$text-warning",
    UnitState.STARTING: "$text-warning",
    UnitState.READY: "$text-success",
    UnitState.UNHEALTHY: "$text-error",
    UnitState.STOPPING: "$text-warning",
    UnitState.STOPPED: "dim",
    UnitState.CRASHED: "bold $text-error",
    UnitState.BACKOFF: "$text-error",
    UnitState.COMPLETED: "$text-success",
    UnitState.FAILED: "bold $text-error",
}

STATE_GLYPH: dict[UnitState, str] = {
    UnitState.READY: "●",
    UnitState.UNHEALTHY: "▲",
    UnitState.STOPPED: "○",
    UnitState.CRASHED: "✖",
    UnitState.FAILED: "✖",
    UnitState.COMPLETED: "✔",
}

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
STATIC_CHANGING_GLYPH = "◌"

# Colours for the service-name prefix in the interleaved log, picked by a stable hash.
PREFIX_COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_yellow",
    "bright_blue",
)


def resolve_style(style: str, variables: dict[str, str]) -> str:
    """Swap `$name` theme variables for their colours, so Rich can use the style."""
    return re.sub(r"\$([a-z-]+)", lambda m: variables.get(m.group(1), "default"), style)


def mask_environment(
    environment: Iterable[tuple[str, str]],
    reveal: bool = False,
    masker: SecretMasker | None = None,
) -> list[tuple[str, str]]:
    """Secret-looking variables masked whole; in the others, any secret value they
    embed (a password inside DATABASE_URL) masked by `masker`."""
    if reveal:
        return list(environment)
    return [
        (name, MASK if value and is_secret_name(name) else masker.mask(value) if masker else value)
        for name, value in environment
    ]


def state_glyph(state: UnitState, frame: int | None) -> str:
    """The leading symbol of a state cell; `frame` None means no animation."""
    if state in CHANGING_STATES:
        return STATIC_CHANGING_GLYPH if frame is None else SPINNER[frame % len(SPINNER)]
    return STATE_GLYPH.get(state, "·")


def duration(seconds: float) -> str:
    """Compact uptime: 42s, 5m, 2h07m, 3d04h. Past the first minute it changes at
    most once a minute, so an idle screen is not redrawn every second."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def size(n: int | None) -> str:
    """Memory at a resolution that does not flicker: 812K, 9.5M, 61M, 1.2G."""
    if n is None:
        return DASH
    if n < 1024 * 1024:
        return f"{n // 1024}K"
    mb = n / (1024 * 1024)
    if mb < 10:
        return f"{mb:.1f}M"
    if mb < 1024:
        return f"{mb:.0f}M"
    return f"{mb / 1024:.1f}G"


def percent(p: float | None) -> str:
    """CPU in whole percent (a fraction of a percent reads as <1%), so idle samples
    that wobble between 0.1 and 0.3 do not redraw the table."""
    if p is None:
        return DASH
    if p < 0.5:
        return "0%"
    if p < 1:
        return "<1%"
    return f"{p:.0f}%"


def prefix_colour(name: str) -> str:
    # A stable hash (not hash(), which is salted per process) so colours survive restarts.
    total = sum(name.encode())
    return PREFIX_COLOURS[total % len(PREFIX_COLOURS)]


def without_stale_figures(unit: UnitInfo) -> UnitInfo:
    """A unit with no running instance shows no health, CPU or memory (the last
    sample of a crashed process is not its current use)."""
    if unit.state in LIVE_STATES or (
        unit.health is None and unit.cpu_percent is None and unit.memory_bytes is None
    ):
        return unit
    return replace(unit, health=None, cpu_percent=None, memory_bytes=None)


def can_switch(unit: UnitInfo) -> bool:
    """The engine says the service can run both ways."""
    return len(set(unit.modes)) >= 2


def other_kind(unit: UnitInfo) -> Kind | None:
    """The kind `m` asks for, or None when the service has one way to run. An engine
    that does not say (`modes` empty) is asked anyway: it refuses with a reason."""
    other: Kind = "container" if unit.kind == "process" else "process"
    return other if not unit.modes or other in unit.modes else None


def single_mode_reason(unit: UnitInfo) -> str:
    """Why `m` cannot switch this service."""
    if tuple(unit.modes) == ("process",):
        return f"{unit.service} has no image or build: it can only run locally"
    return f"{unit.service} has no x-devenv block: it can only run as a container"


def build_label(build: str | None) -> tuple[str, str, str] | None:
    """How a build beside a serving instance reads on a row: a short marker, its
    style and the reason after it ("build failed", error, "main.go:3: …")."""
    if not build:
        return None
    marker, _, reason = build.partition(": ")
    style = "bold $text-error" if marker.startswith("build failed") else "$text-warning"
    return marker, style, reason
