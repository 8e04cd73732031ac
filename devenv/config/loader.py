"""Files on disk -> Stack: the pipeline, one stage after the other.

`devenv.config.compose` reads and normalises the Compose files (discovery,
YAML, interpolation, include/extends, merge); `devenv.config.stack` builds the
validated Stack from the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devenv.config.compose.discovery import (
    DEFAULT_FILES,
    absolute,
    check_project_name,
    compose_file_env,
    find_default_files,
    normalize_project_name,
)
from devenv.config.compose.envfile import read_dotenv
from devenv.config.model import DEVENV_PROFILE, Stack
from devenv.errors import ConfigError

# The YAML machinery (compose.files, stack.build) is imported in load_stack, so that
# importing devenv.config for the model types stays cheap.


@dataclass(frozen=True)
class LoadOptions:
    """What the command line (and tests) can say about where the stack is."""

    files: tuple[Path, ...] = ()  # -f/--file, in order; empty: discover
    project_name: str | None = None  # -p/--project-name
    env_file: Path | None = None  # --env-file; default: <project dir>/.env
    profiles: tuple[str, ...] = ()  # --profile; empty: COMPOSE_PROFILES
    cwd: Path | None = None  # where discovery starts; default: os.getcwd()
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Services named on the command line: as in Compose, they and everything they
    # depend on are enabled even when their profiles are not. (Stack.select()
    # then narrows the stack to them.)
    services: tuple[str, ...] = ()


def load_stack(options: LoadOptions | None = None) -> Stack:
    """The validated Stack; raises ConfigError (or another DevenvError) on bad input."""
    try:
        return _load(options or LoadOptions())
    except RecursionError:
        raise ConfigError(
            "the configuration is nested too deeply",
            hint="check for runaway nesting or aliases in the YAML",
        ) from None


def _project_name(
    options: LoadOptions, variables: Mapping[str, str], files: tuple[Path, ...], project_dir: Path
) -> str:
    """-p, else COMPOSE_PROJECT_NAME, else the last `name:` in the files, else the
    directory's name; the latter two normalised, the former two checked."""
    from devenv.config.compose.interpolate import TemplateError, substitute
    from devenv.config.compose.yamlload import load_yaml_file, where

    if options.project_name:
        return check_project_name(options.project_name, "-p")
    if variables.get("COMPOSE_PROJECT_NAME"):
        return check_project_name(variables["COMPOSE_PROJECT_NAME"], "COMPOSE_PROJECT_NAME")
    declared = None
    for file in files:
        document = load_yaml_file(file)
        if isinstance(document, dict) and isinstance(document.get("name"), str):
            try:
                declared = substitute(document["name"], variables) or declared
            except TemplateError as error:
                path, line = where(document, "name")
                raise ConfigError(str(error), file=path, line=line, key="name") from None
    if declared and normalize_project_name(declared):
        return normalize_project_name(declared)  # Compose normalises `name:`
    name = normalize_project_name(project_dir.name)
    if not name:
        raise ConfigError(
            f"cannot make a project name from the directory name {project_dir.name!r}",
            hint="set `name:` in the Compose file or pass -p NAME",
        )
    return name


def _load(options: LoadOptions) -> Stack:
    from devenv.config.compose.files import read_project
    from devenv.config.stack.build import build_stack

    cwd = (options.cwd or Path.cwd()).resolve()
    environ = dict(options.environ)

    if options.files:
        files = tuple(absolute(f, cwd) for f in options.files)
        work_dir = files[0].parent
    else:
        files = ()
        work_dir = cwd
    env_path = absolute(options.env_file, cwd) if options.env_file else work_dir / ".env"
    if options.env_file and not env_path.is_file():
        raise ConfigError("env file not found", file=env_path, hint="check the --env-file path")
    dotenv = read_dotenv(env_path, environ) if env_path.is_file() else {}
    variables = {**dotenv, **environ}

    notes: list[str] = []
    if not files:
        files = compose_file_env(variables, cwd)
    if not files:
        files = find_default_files(cwd)
        others = [n for n in DEFAULT_FILES if (files[0].parent / n).is_file()]
        if len(others) > 1:
            notes.append(
                f"found several Compose files in {files[0].parent} ({', '.join(others)}); "
                f"using {files[0].name}"
            )
    for file in files:
        if not file.is_file():
            raise ConfigError("Compose file not found", file=file, hint="check -f / COMPOSE_FILE")
    project_dir = files[0].parent

    # The name comes first: Compose offers it to the files as ${COMPOSE_PROJECT_NAME}.
    name = _project_name(options, variables, files, project_dir)
    lookup = {"COMPOSE_PROJECT_NAME": name, **variables}
    model, warnings = read_project(files, project_dir, lookup)
    warnings = notes + warnings

    profiles = options.profiles or tuple(
        p.strip() for p in variables.get("COMPOSE_PROFILES", "").split(",") if p.strip()
    )
    # Services that exist only for devenv (no image, no build) live in this
    # profile, so plain `docker compose` skips them; devenv always enables it.
    profiles = tuple(dict.fromkeys((*profiles, DEVENV_PROFILE)))
    return build_stack(
        model,
        name=name,
        project_dir=project_dir,
        files=files,
        variables=variables,
        env_file=env_path if env_path.is_file() else None,
        profiles=profiles,
        warnings=warnings,
        targeted=options.services,
    )
