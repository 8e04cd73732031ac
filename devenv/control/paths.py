"""Where a session's control socket is, found from the command line without
reading the Compose files (so `devenv status` stays fast).

The socket is `<project>/.devenv/control.sock`. A unix socket's path may not be
longer than 107 bytes; for a project that deep the socket goes to a private
directory of the user's (`$XDG_RUNTIME_DIR/devenv`, else `/tmp/devenv-<uid>`,
mode 0700) under a name made from the state directory's path, so every
command finds the same one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

SOCKET_NAME = "control.sock"
_MAX_PATH = 100  # sun_path holds 108 bytes with the NUL; keep a margin


def socket_path(state_dir: Path) -> Path:
    path = state_dir / SOCKET_NAME
    if len(os.fsencode(path)) <= _MAX_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:16]
    return _private_dir() / f"{digest}.sock"


def _private_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "devenv" if runtime else Path(f"/tmp/devenv-{os.getuid()}")
    return base


def ensure_private_dir(path: Path) -> None:
    """Create the directory of a fallback socket, owned by us and 0700."""
    if path.parent.name == ".devenv":
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.parent.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path.parent} must be yours and not open to others (chmod 700)")


def project_dir_of(args: argparse.Namespace) -> Path:
    """The project's directory by the same rules as the loader (first -f file,
    else COMPOSE_FILE, else compose.yaml here or in a parent), without parsing
    any file."""
    from devenv.config.compose.discovery import absolute, compose_file_env, find_default_files

    cwd = Path.cwd().resolve()
    files = [absolute(Path(f), cwd) for f in (getattr(args, "files", None) or ())]
    if files:
        return files[0].parent
    environ = dict(os.environ)
    if "COMPOSE_FILE" not in environ:
        env_file = getattr(args, "env_file", None)
        dotenv = absolute(Path(env_file), cwd) if env_file else cwd / ".env"
        if dotenv.is_file() and b"COMPOSE_FILE" in dotenv.read_bytes():
            from devenv.config.compose.envfile import read_dotenv  # rare: COMPOSE_FILE in .env

            environ = {**read_dotenv(dotenv, environ), **environ}
    from_env = compose_file_env(environ, cwd)
    if from_env:
        return from_env[0].parent
    return find_default_files(cwd)[0].parent


def state_dir_of(args: argparse.Namespace) -> Path:
    return project_dir_of(args) / ".devenv"
