"""What some services use of the project: the variables written in their
definitions (`$NAME`, `${NAME…}`, nested defaults too) and the Compose env
files they read, in the project's Compose files, the files those include and
the files their `extends` name. A service that extends another uses what that
one uses. `devenv doctor SERVICE…` checks these only.

Read from the files as written, because interpolation leaves no trace of the
names in the Stack. It errs on the side of too many: a name counts wherever it
is written for the service, even in a file whose value a later file replaces."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.config.model import Stack
from devenv.errors import DevenvError

_VARIABLE = re.compile(r"\$\{?([_a-zA-Z][_a-zA-Z0-9]*)")


@dataclass
class Uses:
    variables: set[str] = field(default_factory=set)
    env_files: list[Path] = field(default_factory=list)  # Compose `env_file`s that exist


def what_they_use(stack: Stack, names: Iterable[str]) -> Uses:
    uses: dict[str, Uses] = {}
    extends: dict[str, set[str]] = {}
    for document, base in _documents(stack):
        services = document.get("services")
        if not isinstance(services, dict):
            continue
        for name, spec in services.items():
            mine = uses.setdefault(name, Uses())
            mine.variables.update(_names_in(spec))
            mine.env_files.extend(_env_files(spec, base))
            parent = spec.get("extends") if isinstance(spec, dict) else None
            if isinstance(parent, str):
                extends.setdefault(name, set()).add(parent)
            elif isinstance(parent, dict) and isinstance(parent.get("service"), str):
                extends.setdefault(name, set()).add(parent["service"])
    found = Uses()
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in uses:
            found.variables |= uses[name].variables
            found.env_files.extend(f for f in uses[name].env_files if f not in found.env_files)
        todo.extend(extends.get(name, ()))
    return found


def _env_files(spec: Any, base: Path) -> list[Path]:
    entries = spec.get("env_file") if isinstance(spec, dict) else None
    entries = [entries] if isinstance(entries, str | dict) else entries or []
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    found = [_absolute(p, base) for p in paths if isinstance(p, str) and "$" not in p]
    return [p for p in found if p.is_file()]


def _names_in(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_VARIABLE.findall(value.replace("$$", "")))
    if isinstance(value, dict):
        return set().union(*(_names_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_names_in(v) for v in value)) if value else set()
    return set()


def _documents(stack: Stack) -> list[tuple[dict[str, Any], Path]]:
    """The raw documents of the project's files and of those they include or
    extend from, each read once, with the directory their paths start from."""
    from devenv.config.compose.merge import take_merge_tags
    from devenv.config.compose.yamlload import load_yaml_file

    out: list[tuple[dict[str, Any], Path]] = []
    todo: list[tuple[Path, Path]] = [(f, stack.project_dir) for f in stack.files]
    seen: set[Path] = set()
    while todo:
        path, base = todo.pop(0)
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        try:
            document = load_yaml_file(path)
        except DevenvError:
            continue
        if not isinstance(document, dict):
            continue
        take_merge_tags(document)
        out.append((document, base))
        todo.extend(_included(document, base))
        for spec in (document.get("services") or {}).values():
            other = spec.get("extends") if isinstance(spec, dict) else None
            if isinstance(other, dict) and isinstance(other.get("file"), str):
                target = _absolute(other["file"], base)
                todo.append((target, target.parent))
    return out


def _included(document: dict[str, Any], base: Path) -> list[tuple[Path, Path]]:
    entries = document.get("include")
    out: list[tuple[Path, Path]] = []
    for entry in entries if isinstance(entries, list) else []:
        spec = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict):
            continue
        paths = spec.get("path")
        paths = [paths] if isinstance(paths, str) else paths
        files = [_absolute(p, base) for p in paths or [] if isinstance(p, str)]
        if not files:
            continue
        directory = spec.get("project_directory")
        sub_base = _absolute(directory, base) if isinstance(directory, str) else files[0].parent
        out.extend((file, sub_base) for file in files)
    return out


def _absolute(path: str, base: Path) -> Path:
    from devenv.config.compose.discovery import absolute

    return absolute(Path(path), base)
