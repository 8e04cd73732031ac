"""Reading Compose files into one canonical model: per file, interpolation,
canonical forms and `include`; then merging the files in order and applying
`extends`. Knows nothing of the Stack model yet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.config.compose.canonical import Context, new_like
from devenv.config.compose.envfile import env_file_values
from devenv.config.compose.errors_at import error_at, type_name
from devenv.config.compose.interpolate import interpolate_tree
from devenv.config.compose.merge import merge
from devenv.config.compose.normalize import canonical_service
from devenv.config.compose.schema import EXTENDS_KEYS, INCLUDE_KEYS, TOP_LEVEL_KEYS
from devenv.config.compose.yamlload import YDict, copy_meta, load_yaml_file, where
from devenv.errors import ConfigError, did_you_mean

RESOURCES = ("volumes", "networks", "secrets", "configs", "models")


@dataclass
class Reader:
    """Reads files with one set of variables; collects warnings."""

    variables: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)
    _unset: set[str] = field(default_factory=set)
    _stack: tuple[Path, ...] = ()

    def on_unset(self, name: str, path: tuple[str, ...]) -> None:
        if name not in self._unset:
            self._unset.add(name)
            self.warnings.append(f'the "{name}" variable is not set; using an empty string')

    def read(self, path: Path, base_dir: Path) -> YDict:
        """One file: parsed, interpolated, canonical, with its includes merged in."""
        if path in self._stack:
            chain = " -> ".join(str(p) for p in (*self._stack, path))
            raise ConfigError(f"include cycle: {chain}", file=path)
        raw = load_yaml_file(path)
        if raw is None:
            raw = YDict()
            raw.file = str(path)
        if not isinstance(raw, dict):
            raise ConfigError(
                f"a Compose file must be a mapping at the top, not {type_name(raw)}",
                file=path,
                line=getattr(raw, "line", None),
                hint="start with `services:`",
            )
        for key in raw:
            if key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
                raise error_at(
                    raw,
                    key,
                    f"unknown top-level key '{key}' (docker compose rejects it too)",
                    dotted=key,
                    hint=did_you_mean(key, TOP_LEVEL_KEYS),
                )
        if "version" in raw:
            self.warnings.append(f"{path}: the `version` key is obsolete and ignored")
        data = interpolate_tree(raw, self.variables, self.on_unset)
        model = new_like(data)
        model.update((k, v) for k, v in data.items() if k not in ("services", "include", "version"))
        services = data.get("services")
        if services is None:
            services = YDict()
        if not isinstance(services, dict):
            raise error_at(
                data,
                "services",
                f"`services` must be a mapping, not {type_name(services)}",
                dotted="services",
                hint="list each service by name under `services:`",
            )
        canon = new_like(services)
        for name, spec in services.items():
            if spec is None:
                raise error_at(
                    services,
                    name,
                    "the service is empty",
                    service=name,
                    hint="give it an image, a build or an x-devenv block",
                )
            if not isinstance(spec, dict):
                raise error_at(
                    services,
                    name,
                    f"a service must be a mapping, not {type_name(spec)}",
                    service=name,
                    hint="write the service's keys indented under its name",
                )
            canon[name] = canonical_service(spec, Context(name, base_dir, self.variables))
            # A service is located at its name (the model's Origin, and errors
            # about the service as a whole).
            canon[name].file, canon[name].line = where(services, name)
        model["services"] = canon
        for key in RESOURCES:
            if key in model:
                model[key] = self._resources(model, key, base_dir)
        if "include" in data:
            model = self._include(data, model, path)
        return model

    def _resources(self, model: YDict, key: str, base_dir: Path) -> YDict:
        value = model[key]
        if value is None:
            return YDict()
        if not isinstance(value, dict):
            raise error_at(
                model, key, f"`{key}` must be a mapping, not {type_name(value)}", dotted=key
            )
        out = new_like(value)
        for name, spec in value.items():
            if spec is not None and not isinstance(spec, dict):
                raise error_at(
                    value, name, f"must be a mapping, not {type_name(spec)}", dotted=f"{key}.{name}"
                )
            entry = copy_meta(spec, YDict(spec)) if spec is not None else YDict()
            entry.base_dir = str(base_dir)  # a secret's `file` is relative to it
            out[name] = entry
        return out

    def _include(self, data: YDict, model: YDict, path: Path) -> YDict:
        entries = data["include"]
        if not isinstance(entries, list):
            raise error_at(data, "include", "`include` must be a list", dotted="include")
        here = path.parent
        imported = YDict()
        for index, entry in enumerate(entries):
            dotted = f"include[{index}]"
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict):
                raise error_at(
                    entries, index, "must be a path or a mapping with `path`", dotted=dotted
                )
            for key in entry:
                if key not in INCLUDE_KEYS:
                    raise error_at(
                        entry,
                        key,
                        f"unknown key '{key}'",
                        dotted=f"{dotted}.{key}",
                        hint=did_you_mean(key, INCLUDE_KEYS),
                    )
            paths = entry.get("path")
            if isinstance(paths, str):
                paths = [paths]
            if (
                not isinstance(paths, list)
                or not paths
                or not all(isinstance(p, str) for p in paths)
            ):
                raise error_at(entries, index, "needs `path`", dotted=f"{dotted}.path")
            files = [_abs(Path(p), here) for p in paths]
            for file in files:
                if not file.is_file():
                    raise error_at(
                        entries,
                        index,
                        f"included file not found: {file}",
                        dotted=f"{dotted}.path",
                        hint="check the path; it is relative to the including file's directory",
                    )
            project_dir = (
                _abs(Path(entry["project_directory"]), here)
                if isinstance(entry.get("project_directory"), str)
                else files[0].parent
            )
            env_files = entry.get("env_file")
            if isinstance(env_files, str):
                env_files = [env_files]
            candidates = (
                [_abs(Path(p), here) for p in env_files]
                if isinstance(env_files, list)
                else [project_dir / ".env"]
                if (project_dir / ".env").is_file()
                else []
            )
            variables: dict[str, str] = {}
            for env_path in candidates:
                variables.update(
                    env_file_values(
                        env_path, self.variables, earlier=variables, key=f"{dotted}.env_file"
                    )
                )
            variables.update(self.variables)  # the including project's variables win
            sub = Reader(variables, self.warnings, self._unset, (*self._stack, path))
            sub_model = sub.read_all(files, project_dir)
            for key in ("services", *RESOURCES):
                earlier = imported.get(key) or {}
                for name, value in (sub_model.get(key) or {}).items():
                    if name in earlier and earlier[name] != value:
                        raise error_at(
                            entries,
                            index,
                            f"{key}.{name} is defined by two included files differently",
                            service=name if key == "services" else None,
                            dotted=f"{dotted}.path",
                            hint="include it from one place only",
                        )
            imported = merge(imported, sub_model) if imported else sub_model
        # The including file's own services may not redefine imported ones.
        for key in ("services", *RESOURCES):
            mine = model.get(key) or {}
            theirs = imported.get(key) or {}
            for name in mine:
                if name in theirs and theirs[name] != mine[name]:
                    raise error_at(
                        mine,
                        name,
                        f"{key}.{name} conflicts with the one from an included file",
                        service=name if key == "services" else None,
                        hint="rename it, or extend the included one with `extends`",
                    )
        result = new_like(model)
        for key, value in model.items():
            if key in ("services", *RESOURCES):
                combined = new_like(value)
                combined.update(imported.get(key) or {})
                combined.update(value)
                result[key] = combined
            else:
                result[key] = value
        for key in ("services", *RESOURCES):
            if key not in result and key in imported:
                result[key] = imported[key]
        return result

    def read_all(self, files: list[Path] | tuple[Path, ...], project_dir: Path) -> YDict:
        """Several files merged in order, with `extends` applied."""
        model: YDict | None = None
        for file in files:
            one = self.read(file, project_dir)
            model = one if model is None else merge(model, one)
        assert model is not None
        services = model.get("services") or YDict()
        resolved = new_like(services)
        for name in services:
            resolved[name] = self._extended(name, services, project_dir, ())
        out = new_like(model)
        out.update(model)
        out["services"] = resolved
        return out

    def _extended(
        self,
        name: str,
        services: Mapping[str, Any],
        base_dir: Path,
        chain: tuple[tuple[str, str], ...],
    ) -> Any:
        service = services[name]
        spec = service.get("extends") if isinstance(service, dict) else None
        if spec is None:
            return service
        here = (str(getattr(service, "file", "") or ""), name)
        if here in chain:
            shown = [n if f == here[0] else f"{n} ({f})" for f, n in (*chain, here)]
            raise error_at(
                service,
                "extends",
                "extends cycle: " + " -> ".join(shown),
                service=name,
                dotted="extends",
            )
        if isinstance(spec, str):
            spec = {"service": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("service"), str):
            raise error_at(
                service,
                "extends",
                "must be a service name or {service, file}",
                service=name,
                dotted="extends",
            )
        for key in spec:
            if key not in EXTENDS_KEYS:
                raise error_at(
                    spec,
                    key,
                    f"unknown key '{key}'",
                    service=name,
                    dotted=f"extends.{key}",
                    hint=did_you_mean(key, EXTENDS_KEYS),
                )
        base_name = spec["service"]
        link = (*chain, here)
        if "file" in spec:
            file_dir = Path(service.file).parent if getattr(service, "file", None) else base_dir
            other = _abs(Path(str(spec["file"])), file_dir)
            if not other.is_file():
                raise error_at(
                    spec,
                    "file",
                    f"extends file not found: {other}",
                    service=name,
                    dotted="extends.file",
                    hint="the path is relative to this file",
                )
            other_model = Reader(self.variables, self.warnings, self._unset, self._stack).read(
                other, other.parent
            )
            pool = other_model.get("services") or {}
            pool_dir = other.parent
        else:
            pool = services
            pool_dir = base_dir
        if base_name not in pool:
            raise error_at(
                spec if isinstance(spec, YDict) else service,
                "service" if isinstance(spec, YDict) else "extends",
                f"extends an unknown service '{base_name}'",
                service=name,
                dotted="extends.service",
                hint=did_you_mean(base_name, pool) or None,
            )
        base = self._extended(base_name, pool, pool_dir, link)
        child = new_like(service)
        child.update((k, v) for k, v in service.items() if k != "extends")
        base_copy = new_like(base) if isinstance(base, YDict) else YDict()
        base_copy.update((k, v) for k, v in base.items() if k != "extends")
        result = merge({"services": {name: base_copy}}, {"services": {name: child}})["services"][
            name
        ]
        if isinstance(result, YDict):
            result.file, result.line = (
                getattr(service, "file", None),
                getattr(service, "line", None),
            )
        return result


def _abs(path: Path, base: Path) -> Path:
    from devenv.config.compose.discovery import absolute

    return absolute(path, base)


def read_project(
    files: tuple[Path, ...], project_dir: Path, variables: Mapping[str, str]
) -> tuple[YDict, list[str]]:
    reader = Reader(variables)
    model = reader.read_all(files, project_dir)
    return model, reader.warnings
