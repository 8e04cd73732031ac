"""How each service will run: its default kind, or what the command line asks
(`--local SVC`, `--container SVC`), checked against what the service can do."""

from __future__ import annotations

from collections.abc import Iterable

from devenv.config.model import Kind, Stack, unknown_service
from devenv.errors import SelectionError


def resolve_kinds(
    stack: Stack, *, local: Iterable[str] = (), container: Iterable[str] = ()
) -> dict[str, Kind]:
    """Every service of `stack` mapped to the kind it will run as. Raises
    SelectionError for an unknown name, a service asked both ways, or one that
    cannot run the way it is asked (no `x-devenv.run`; no `image`/`build`)."""
    asked: dict[str, Kind] = {}
    requests: tuple[tuple[Iterable[str], Kind], ...] = (
        (local, "process"),
        (container, "container"),
    )
    for names, kind in requests:
        for name in names:
            if name not in stack.services:
                raise unknown_service(name, stack.services)
            if asked.get(name, kind) != kind:
                raise SelectionError(
                    "is asked to run both locally and as a container",
                    service=name,
                    hint="give it to one of --local and --container",
                )
            service = stack.services[name]
            if kind not in service.kinds:
                raise SelectionError(
                    f"cannot run {_as(kind)}: {_why_not(kind)}",
                    service=name,
                    hint=_fix(kind),
                )
            asked[name] = kind
    return {name: asked.get(name, service.kind) for name, service in stack.services.items()}


def _as(kind: Kind) -> str:
    return "locally" if kind == "process" else "as a container"


def _why_not(kind: Kind) -> str:
    return "it has no x-devenv.run" if kind == "process" else "it has neither image nor build"


def _fix(kind: Kind) -> str:
    if kind == "process":
        return "add x-devenv: {run: ...} with the command that starts it"
    return "add image: or build: to the service"
