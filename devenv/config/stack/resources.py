"""Top-level volumes, networks, secrets and configs as Compose prints them:
only those an active service uses, with their project-prefixed names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devenv.config.model import Service


def used_resources(services: Mapping[str, Service]) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {
        "volumes": set(),
        "networks": set(),
        "secrets": set(),
        "configs": set(),
    }
    for service in services.values():
        used["volumes"].update(v.source for v in service.volumes if v.type == "volume" and v.source)
        used["networks"].update(service.extra.get("networks") or {})
        for key in ("secrets", "configs"):
            for entry in service.extra.get(key) or []:
                used[key].add(str(entry.get("source")) if isinstance(entry, dict) else str(entry))
    return used


def volumes(declared: Mapping[str, Any], project: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in declared.items():
        entry = dict(spec or {})
        external = entry.get("external")
        if "name" not in entry:
            entry["name"] = key if external else f"{project}_{key}"
        _labels_as_mapping(entry)
        out[key] = entry
    return out


def file_resource(spec: Any, key: str, project: str, project_dir: Path) -> Any:
    """A top-level secret or config: Compose's name, and `file` made absolute."""
    if not isinstance(spec, dict):
        return spec
    entry = dict(spec)
    if "name" not in entry:
        entry["name"] = key if entry.get("external") else f"{project}_{key}"
    base = getattr(spec, "base_dir", None) or str(project_dir)
    if isinstance(entry.get("file"), str):
        entry["file"] = os.path.normpath(os.path.join(base, os.path.expanduser(entry["file"])))
    _labels_as_mapping(entry)
    return entry


def _labels_as_mapping(entry: dict[str, Any]) -> None:
    labels = entry.get("labels")
    if isinstance(labels, list):
        entry["labels"] = {
            str(item).partition("=")[0]: str(item).partition("=")[2] for item in labels
        }


def networks(declared: Mapping[str, Any], project: str, uses_default: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    items = dict(declared)
    if uses_default and "default" not in items:
        items = {"default": {}, **items}
    for key, spec in items.items():
        entry = dict(spec or {})
        external = entry.get("external")
        if "name" not in entry:
            entry["name"] = key if external else f"{project}_{key}"
        entry.setdefault("ipam", {})
        _labels_as_mapping(entry)
        out[key] = entry
    return out
