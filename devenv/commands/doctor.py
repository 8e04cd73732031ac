"""`devenv doctor [SERVICE…]`: a checklist of what starting the stack (or those
services and what they depend on) needs, with a fix per problem.

Lines are `ok`, `warn` (works, but should be fixed), `FAIL` (blocks startup) or
`skip`; the exit code is 1 when any line fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from devenv.commands.init import (
    EnvFiles,
    display,
    locate,
    missing_keys,
    placeholder_secrets,
    read_keys,
)
from devenv.commands.scope import Uses
from devenv.errors import DevenvError, SelectionError
from devenv.secrets import is_placeholder, is_secret_name

if TYPE_CHECKING:  # the model is loaded when doctor runs, not when the CLI parses
    from devenv.config.model import Service, Stack

MIN_PYTHON = (3, 11)
Level = Literal["ok", "warn", "FAIL", "skip"]


@dataclass(frozen=True)
class Check:
    level: Level
    text: str
    fix: str | None = None


DESCRIPTION = """\
Check Python, Docker, the compose files, .env, secrets, ports, images and git;
print a fix for each problem. Exits 1 when something blocks startup.

With SERVICE names, check only what those services and what they depend on
need: their images, ports, env files and variables, and Docker only if one of
them runs as a container.

A secret-looking variable (*PASSWORD*, *SECRET*, *TOKEN*, *KEY*, …) whose value
is still a placeholder (changeme, changethis, your-…-here, <…>, sk-..., xxx,
TODO) is flagged wherever it is set: .env, the environment, a Compose file or an
env file."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help="check what starting the stack needs, with a fix for each problem",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help="check only what these services and their dependencies need",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    env_files = locate(args)
    names: list[str] = list(getattr(args, "services", None) or [])
    stack, stack_check = load(args)
    unknown = False
    if stack is not None and names:
        try:
            stack = stack.select(names)
        except SelectionError as error:
            stack, stack_check, unknown = None, Check("FAIL", error.message, error.hint), True
    uses = _uses(stack)
    variables = uses.variables if uses is not None and names else None
    client, docker_check = (
        (None, Check("skip", "Docker: not checked (unknown service)"))
        if unknown
        else docker(stack, scoped=bool(names))
    )
    checks = [
        python_version(),
        docker_check,
        stack_check,
        *env_files_of(stack, uses, bool(names)),
        *dotenv(env_files, variables),
        *placeholders(stack, env_files, variables, uses),
        *ports(stack, client),
        *images(stack, client),
        gitignore(env_files),
    ]
    where = env_files.project_dir or Path.cwd()
    name = f" (project {stack.name})" if stack else ""
    print(f"devenv doctor: {where}{name}")
    if names and stack is not None:
        extra = [n for n in stack.services if n not in names]
        also = f" and their dependencies: {', '.join(extra)}" if extra else ""
        print(f"  for {', '.join(names)}{also}")
    for check in checks:
        print(f"  {check.level:<5} {check.text}")
        if check.fix and check.level in ("warn", "FAIL"):
            for line in check.fix.splitlines():
                print(f"        fix: {line}")
    failed = sum(c.level == "FAIL" for c in checks)
    warned = sum(c.level == "warn" for c in checks)
    if failed:
        verb = "blocks" if failed == 1 else "block"
        print(f"\n{failed} problem{'s' * (failed > 1)} {verb} startup; {warned} warning(s)")
        return 1
    command = " ".join(["devenv", "start", *names] if names else ["devenv"])
    print(f"\nready to start{f' ({warned} warning(s))' if warned else ''}: {command}")
    return 0


def python_version() -> Check:
    version = ".".join(str(v) for v in sys.version_info[:3])
    if sys.version_info[:2] >= MIN_PYTHON:
        return Check("ok", f"Python {version}")
    need = ".".join(map(str, MIN_PYTHON))
    return Check("FAIL", f"Python {version}, needs {need} or newer", f"install Python {need}+")


def load(args: argparse.Namespace) -> tuple[Stack | None, Check]:
    from devenv.commands.common import load as load_stack

    try:
        stack = load_stack(args)
    except DevenvError as error:
        where = error.location()
        text = f"compose files: {where}: {error.message}" if where else f"compose files: {error}"
        return None, Check("FAIL", text, error.hint or "correct the file at the place named")
    names = ", ".join(display(f) for f in stack.files)
    counts = f"{len(stack.services)} services"
    check = Check("ok", f"compose files valid: {names} ({counts})")
    if stack.warnings:
        check = Check("warn", f"compose files: {names}: {stack.warnings[0]}", "see `devenv config`")
    return stack, check


def _uses(stack: Stack | None) -> Uses | None:
    """What the stack's services (narrowed to the named ones and their
    dependencies, when names were given) use of the project's files."""
    if stack is None:
        return None
    from devenv.commands.scope import what_they_use

    return what_they_use(stack, stack.services)


def needs_docker(stack: Stack | None) -> bool:
    return stack is None or any(s.kind == "container" for s in stack.services.values())


def docker(stack: Stack | None, *, scoped: bool = False) -> tuple[Any, Check]:
    from devenv.runtime.docker_connect import connect, resolve_endpoint

    if scoped and stack is not None and not needs_docker(stack):
        return None, Check("skip", "Docker: not needed (these services run as local processes)")
    endpoint = resolve_endpoint()
    try:
        client = connect()
        version = client.version()
    except DevenvError as error:
        level: Level = "FAIL" if needs_docker(stack) else "warn"
        return None, Check(level, error.message, error.hint)
    except Exception as error:  # reached, but the version call failed
        return None, Check("FAIL", f"Docker Engine at {endpoint.host}: {error}")
    text = (
        f"Docker Engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) "
        f"at {endpoint.host}"
    )
    return client, Check("ok", text)


def env_files_of(stack: Stack | None, uses: Uses | None, scoped: bool) -> Iterator[Check]:
    """With a scope: the env files the services read (loading the stack already
    refused a missing required one; this names them)."""
    if stack is None or uses is None or not scoped:
        return
    found = [display(p) for p in uses.env_files]
    for service in stack.services.values():
        if service.local is not None:
            found.extend(display(p) for p in service.local.env_files)
    if found:
        yield Check("ok", f"env files present: {', '.join(dict.fromkeys(found))}")


def dotenv(files: EnvFiles, variables: set[str] | None = None) -> Iterator[Check]:
    """`.env` against `.env.example`; with a scope (`variables`), only the
    variables the services use count."""
    env = display(files.env)
    if files.example is None:
        if files.env.is_file():
            yield Check("ok", f"{env} present (no .env.example to compare with)")
        else:
            yield Check("skip", "no .env and no .env.example: nothing to check")
        return
    example = display(files.example)
    if not files.env.is_file():
        yield Check("warn", f"{env} missing (defaults from the compose files apply)", "devenv init")
        return
    missing = missing_keys(files.env, files.example)
    if variables is not None:
        missing = [key for key in missing if key in variables]
    if missing:
        yield Check(
            "warn",
            f"{env} lacks {len(missing)} variable(s) of {example}: {', '.join(missing)}",
            f"copy them from {example} into {env}",
        )
    else:
        yield Check("ok", f"{env} present and complete")


def placeholders(
    stack: Stack | None, files: EnvFiles, variables: set[str] | None, uses: Uses | None = None
) -> Iterator[Check]:
    """Secret-looking variables still set to a placeholder: in `.env` (with a
    scope, those the services use) and in the environment of each service,
    naming where each is set."""
    found: dict[str, list[str]] = {}  # where -> variables
    dotenv_values = read_keys(files.env) if files.env.is_file() else {}
    for key in placeholder_secrets(dotenv_values):
        if variables is None or key in variables:
            found.setdefault(display(files.env), []).append(key)
    for service in stack.services.values() if stack else ():
        for key, value in service_environment(service).items():
            if not is_secret_name(key) or not is_placeholder(value):
                continue
            where = set_where(key, value, service, dotenv_values, files, uses)
            if key not in found.get(where, []):
                found.setdefault(where, []).append(key)
    if not found:
        yield Check("ok", "no placeholder secrets")
        return
    for where, keys in found.items():
        yield Check(
            "warn",
            f"placeholder secrets in {where}: {', '.join(keys)}",
            f"set real values for {', '.join(keys)} in {where.split(' (')[0]}",
        )


def service_environment(service: Service) -> dict[str, str | None]:
    """What a service's process or container sees from its definition: Compose's
    environment and env files, then x-devenv's env files and environment."""
    env: dict[str, str | None] = dict(service.environment)
    if service.local is not None:
        for path in service.local.env_files:
            env.update(read_keys(path))
        env.update(service.local.environment)
    return env


def set_where(
    key: str,
    value: str | None,
    service: Service,
    dotenv_values: dict[str, str | None],
    files: EnvFiles,
    uses: Uses | None,
) -> str:
    """Where a service's placeholder comes from, as well as can be told: `.env`
    or the shell (through interpolation), an env file, or the Compose file."""
    if dotenv_values.get(key) == value:
        return display(files.env)
    if os.environ.get(key) == value:
        return f"the environment ({key})"
    local_files = service.local.env_files if service.local else ()
    for path in [*(uses.env_files if uses else ()), *local_files]:
        if read_keys(path).get(key) == value:
            return display(path)
    origin = display(service.origin.file)
    if service.local is not None and service.local.environment.get(key) == value:
        return f"{origin} (service {service.name}, x-devenv.environment)"
    return f"{origin} (service {service.name}, environment)"


def wanted_ports(stack: Stack) -> Iterator[tuple[str, str, int]]:
    """(service, host address, port) of every fixed host port the stack needs."""
    for service in stack.services.values():
        if service.is_process and service.local is not None:
            for port in service.local.ports:
                yield service.name, "127.0.0.1", port
            continue
        for mapping in service.ports:
            published = mapping.published or ""
            if published.isdigit() and mapping.protocol == "tcp":
                yield service.name, mapping.host_ip or "127.0.0.1", int(published)


def ports(stack: Stack | None, client: Any) -> Iterator[Check]:
    if stack is None:
        return
    own = own_ports(stack, client)
    taken: list[Check] = []
    checked = 0
    for service, host, port in wanted_ports(stack):
        checked += 1
        if port_free(host, port):
            continue
        if port in own:
            continue  # this project's own container holds it: it will be reused
        variables = [k for k, v in stack.variables.items() if v == str(port) and "PORT" in k]
        fix = f"stop what listens on it (`lsof -i :{port}`), or "
        fix += (
            f"set {variables[0]} in .env to a free port"
            if variables
            else "change the port in the compose file"
        )
        taken.append(Check("FAIL", f"port {port} ({service}) is in use on {host}", fix))
    if taken:
        yield from taken
    elif checked:
        yield Check("ok", f"ports free ({checked} checked)")


def port_free(host: str, port: int) -> bool:
    from devenv.runtime.ports import port_is_free

    try:
        return port_is_free(port, host)
    except OSError:  # e.g. an address this machine does not have: cannot be bound
        return False


def own_ports(stack: Stack, client: Any) -> set[int]:
    """Host ports published by this project's running containers."""
    if client is None:
        return set()
    from devenv.runtime.docker_spec import PROJECT

    found: set[int] = set()
    flt = {"label": f"{PROJECT}={stack.name}", "status": "running"}
    for container in client.api.containers(filters=flt):
        for port in container.get("Ports") or ():
            if port.get("PublicPort"):
                found.add(int(port["PublicPort"]))
    return found


def images(stack: Stack | None, client: Any) -> Iterator[Check]:
    if stack is None or client is None:
        return
    from devenv.runtime.docker_images import api_reason, image_id
    from devenv.runtime.docker_spec import image_name

    present: list[str] = []
    for service in stack.services.values():
        if service.kind != "container":
            continue
        image = image_name(stack, service)
        if image_id(client, image) is not None:
            present.append(image)
        elif service.build is not None:
            yield Check("ok", f"image {image} ({service.name}) will be built")
        else:
            try:
                client.api.inspect_distribution(image)
                yield Check("ok", f"image {image} ({service.name}) will be pulled")
            except Exception as error:  # registry unreachable, unknown image, no login
                reason = api_reason(error)
                yield Check(
                    "FAIL",
                    f"image {image} ({service.name}) is missing and cannot be pulled: {reason}",
                    f"check the name and your network or `docker login`, or build it: "
                    f"docker build -t {image} <dir>",
                )
    if present:
        yield Check("ok", f"images present: {', '.join(dict.fromkeys(present))}")


def gitignore(files: EnvFiles) -> Check:
    env = files.env
    where = env.parent
    try:
        inside = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return Check("skip", "git not available: .env ignore not checked")
    if inside.returncode != 0:
        return Check("skip", "not a git repository: .env ignore not checked")
    tracked = subprocess.run(
        ["git", "-C", str(where), "ls-files", "--error-unmatch", env.name],
        capture_output=True,
        timeout=10,
    )
    if tracked.returncode == 0:
        return Check(
            "warn",
            f"{display(env)} is committed to git",
            f"git rm --cached {env.name}, add it to .gitignore, and change its secrets",
        )
    ignored = subprocess.run(
        ["git", "-C", str(where), "check-ignore", "-q", env.name], capture_output=True, timeout=10
    )
    if ignored.returncode == 0:
        return Check("ok", f"{display(env)} is ignored by git")
    return Check("warn", f"{display(env)} is not ignored by git", f"add `{env.name}` to .gitignore")
