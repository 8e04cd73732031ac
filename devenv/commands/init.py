"""`devenv init`: create `.env` from `.env.example`, never over an existing one.

Also home of what `devenv doctor` needs to know about the two files: where they
are (the `.env` path is the one the config loader reads: `--env-file`, else next
to the first `-f` file, else in the current directory) and what they hold.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.secrets import is_secret_name

EXAMPLE_NAMES = (".env.example", ".env.sample", ".env.template", "example.env")
PLACEHOLDER_PARTS = ("change-me", "changeme", "change_me", "replace-me", "replaceme")
PLACEHOLDER_STARTS = ("your-", "your_", "<", "xxx", "todo")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "init",
        help="create .env from .env.example (never overwrites)",
        description="Create .env from .env.example. An existing .env is kept as it is; "
        "variables that .env.example has and it lacks are listed.",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    files = locate(args)
    if files.example is None:
        where = files.project_dir or files.env.parent
        print(f"devenv init: no .env.example in {where}; nothing to copy")
        if files.env.is_file():
            print(f"  {display(files.env)} exists")
        return 0
    if not files.env.exists():
        shutil.copyfile(files.example, files.env)
        os.chmod(files.env, 0o600)  # it may hold secrets
        count = len(read_keys(files.env))
        print(f"created {display(files.env)} from {display(files.example)} ({count} variables)")
        print("next: review it, then `devenv doctor` and `devenv`")
        return 0
    missing = missing_keys(files.env, files.example)
    print(f"{display(files.env)} exists; kept as it is")
    if missing:
        print(f"  missing variables (in {display(files.example)}): {', '.join(missing)}")
        print(f"  fix: copy them from {display(files.example)} into {display(files.env)}")
    else:
        print(f"  it sets every variable of {display(files.example)}")
    return 0


@dataclass(frozen=True)
class EnvFiles:
    env: Path
    example: Path | None
    project_dir: Path | None  # where the Compose file is, when one was found


def locate(args: argparse.Namespace) -> EnvFiles:
    from devenv.config.compose.discovery import compose_file_env, find_default_files
    from devenv.errors import ConfigError

    cwd = Path.cwd()
    files = [absolute(Path(f), cwd) for f in (getattr(args, "files", None) or ())]
    env_file = getattr(args, "env_file", None)
    if env_file:
        env = absolute(Path(env_file), cwd)
    elif files:
        env = files[0].parent / ".env"
    else:
        env = cwd / ".env"
    project_dir: Path | None
    try:
        found = files or list(compose_file_env(os.environ, cwd)) or list(find_default_files(cwd))
        project_dir = found[0].parent
    except ConfigError:
        project_dir = None
    candidates = dict.fromkeys(d for d in (env.parent, project_dir) if d is not None)
    example = next(
        (d / n for d in candidates for n in EXAMPLE_NAMES if (d / n).is_file()),
        None,
    )
    return EnvFiles(env=env, example=example, project_dir=project_dir)


def absolute(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_keys(path: Path) -> dict[str, str | None]:
    """The variables a dotenv file sets, in order (values as written, unexpanded)."""
    from dotenv import dotenv_values

    return dict(dotenv_values(path, interpolate=False))


def missing_keys(env: Path, example: Path) -> list[str]:
    have = read_keys(env)
    return [key for key in read_keys(example) if key not in have]


def placeholder_secrets(values: dict[str, str | None]) -> list[str]:
    """Secret-looking variables whose value is still a placeholder (`change-me`…)."""
    found = []
    for key, value in values.items():
        if not is_secret_name(key):
            continue
        text = (value or "").strip().lower()
        if any(p in text for p in PLACEHOLDER_PARTS) or text.startswith(PLACEHOLDER_STARTS):
            found.append(key)
    return found
