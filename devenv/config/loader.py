"""Discovery, interpolation, merging and validation: files on disk -> Stack.

(Skeleton: the config work fills this in.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devenv.config.model import Stack


@dataclass(frozen=True)
class LoadOptions:
    """What the command line (and tests) can say about where the stack is."""

    files: tuple[Path, ...] = ()  # -f/--file, in order; empty: discover
    project_name: str | None = None  # -p/--project-name
    env_file: Path | None = None  # --env-file; default: <project dir>/.env
    profiles: tuple[str, ...] = ()  # --profile; empty: COMPOSE_PROFILES
    cwd: Path | None = None  # where discovery starts; default: os.getcwd()
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def load_stack(options: LoadOptions | None = None) -> Stack:
    raise NotImplementedError
