"""`x-devenv.build`: the commands run before the first start and after each
watched change, while the running instance keeps serving.

Three shapes:

    build: go build -o bin/api ./cmd/api          # one step, split like `run`
    build: [go, build, -o, bin/api, ./cmd/api]     # one step, the argv
    build:                                         # several steps, in order
      - run: uv sync --frozen
        when: [pyproject.toml, uv.lock]            # only when one of these changed
      - {run: "npm run build && cp -r dist ../static", shell: true}

A step's `when` paths (relative to the project directory, like `watch`) are
watched too; a step without `when` runs at every build.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devenv.config.compose.errors_at import type_name
from devenv.config.model import BuildStep
from devenv.config.stack.checker import Checker, host_path
from devenv.errors import did_you_mean

STEP_KEYS = ("run", "shell", "when")
SHELL = ("/bin/sh", "-c")
_EXAMPLE = "write e.g. build: go build -o bin/app . (or a list of {run, shell, when} steps)"


def build_steps(
    check: Checker, block: Mapping[str, Any], base: Path, variables: Mapping[str, str]
) -> tuple[BuildStep, ...]:
    value = block["build"]
    if isinstance(value, str):
        return (_step(check, block, "build", "build", shell=False, when=()),)
    if not isinstance(value, list) or not value:
        what = "an empty list" if isinstance(value, list) else type_name(value)
        raise check.fail(
            block, "build", "build", f"must be a command or a list of steps, not {what}", _EXAMPLE
        )
    if all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in value):
        return (_step(check, block, "build", "build", shell=False, when=()),)
    steps: list[BuildStep] = []
    for index, item in enumerate(value):
        dotted = f"build[{index}]"
        if not isinstance(item, dict):
            raise check.fail(
                value,
                index,
                dotted,
                f"must be a step ({{run: ..., when: [...]}}), not {type_name(item)}",
                hint=f"write each step as a mapping: - run: {_shown(item)} "
                "(a list of strings only is one command's argv)",
            )
        for key in item:
            if key not in STEP_KEYS:
                raise check.fail(
                    item,
                    key,
                    f"{dotted}.{key}",
                    f"unknown key '{key}'",
                    hint=did_you_mean(str(key), STEP_KEYS) or f"valid keys: {', '.join(STEP_KEYS)}",
                )
        if "run" not in item:
            raise check.fail(
                value, index, dotted, "a step needs `run`", hint="write e.g. - run: npm ci"
            )
        shell = check.boolean(item, "shell", f"{dotted}.shell") if "shell" in item else False
        when: tuple[Path, ...] = ()
        if "when" in item:
            paths = check.string_list(item, "when", f"{dotted}.when")
            if not paths:
                raise check.fail(
                    item,
                    "when",
                    f"{dotted}.when",
                    "must list at least one path",
                    hint="leave `when` out to run the step at every build",
                )
            when = tuple(host_path(p, base, variables) for p in paths)
        steps.append(_step(check, item, "run", f"{dotted}.run", shell=shell, when=when))
    return tuple(steps)


def _step(
    check: Checker,
    node: Mapping[str, Any],
    key: str,
    dotted: str,
    *,
    shell: bool,
    when: tuple[Path, ...],
) -> BuildStep:
    value = node[key]
    if isinstance(value, list):
        if not value:
            raise check.fail(node, key, dotted, "must not be empty")
        words = [check.string(value, index, f"{dotted}[{index}]") for index in range(len(value))]
        run = shlex.join(words)
        argv = (*SHELL, run) if shell else tuple(words)
    else:
        run = check.string(node, key, dotted)
        if not run.strip():
            raise check.fail(node, key, dotted, "must not be empty")
        if shell:
            argv = (*SHELL, run)
        else:
            try:
                argv = tuple(shlex.split(run))
            except ValueError as error:
                raise check.fail(
                    node,
                    key,
                    dotted,
                    f"cannot split the command: {error}",
                    hint="close every quote, or set shell: true",
                ) from None
    return BuildStep(run=run, argv=argv, when=when)


def _shown(item: Any) -> str:
    text = item if isinstance(item, str) else "..."
    return text if len(text) <= 40 else text[:37] + "..."
