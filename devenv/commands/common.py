"""Helpers shared by subcommands: from parsed arguments to a loaded stack."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from devenv.config import LoadOptions, Stack, load_stack


def load_options(args: argparse.Namespace) -> LoadOptions:
    return LoadOptions(
        files=tuple(Path(f) for f in (getattr(args, "files", None) or ())),
        project_name=getattr(args, "project_name", None),
        env_file=Path(args.env_file) if getattr(args, "env_file", None) else None,
        profiles=tuple(getattr(args, "profiles", None) or ()),
        project_dir=project_directory(args),
        cwd=Path.cwd(),
        environ=dict(os.environ),
        services=tuple(_service_names(args)),
    )


def project_directory(args: argparse.Namespace) -> Path | None:
    """--project-directory, when given."""
    value = getattr(args, "project_directory", None)
    return Path(value) if value else None


def _service_names(args: argparse.Namespace) -> list[str]:
    """Services named on the command line (a `services` positional), if any."""
    names = getattr(args, "services", None)
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def load(args: argparse.Namespace) -> Stack:
    return load_stack(load_options(args))
