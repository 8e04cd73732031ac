"""Which files make up the project, where its directory is and what it is called —
the same answers `docker compose` gives."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from devenv.errors import ConfigError

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def compose_file_env(environ: Mapping[str, str], cwd: Path) -> tuple[Path, ...]:
    """COMPOSE_FILE split on COMPOSE_PATH_SEPARATOR (default: os.pathsep)."""
    value = environ.get("COMPOSE_FILE", "")
    if not value:
        return ()
    separator = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
    return tuple(absolute(Path(part), cwd) for part in value.split(separator) if part)


def find_default_files(cwd: Path) -> tuple[Path, ...]:
    """compose.yaml (or one of its other names) here or in the nearest parent, plus
    its override file."""
    directory = cwd
    while True:
        found = [directory / n for n in DEFAULT_FILES if (directory / n).is_file()]
        if found:
            overrides = [directory / n for n in OVERRIDE_FILES if (directory / n).is_file()]
            return (found[0], *overrides[:1])
        if directory.parent == directory:
            break
        directory = directory.parent
    raise ConfigError(
        f"no Compose file found in {cwd} or any parent directory",
        hint="create compose.yaml, pass -f FILE, or set COMPOSE_FILE",
    )


def absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def normalize_project_name(name: str) -> str:
    """A directory name made into a valid project name, as Compose does."""
    cleaned = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return cleaned.lstrip("_-")


def check_project_name(name: str, source: str) -> str:
    if not _VALID_NAME.match(name):
        raise ConfigError(
            f"invalid project name {name!r} (from {source}): use only lowercase letters, "
            "digits, '-' and '_', starting with a letter or digit",
            hint=f"try {normalize_project_name(name) or 'myproject'!r}",
        )
    return name
