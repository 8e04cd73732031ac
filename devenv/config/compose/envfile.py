"""Reading `.env` and `env_file` files: the one reader devenv has (the project's
`.env`, an `include`'s env files, a service's `env_file`, `x-devenv.env_file`,
read again by the runtime at each start).

Parsing is python-dotenv's. python-dotenv skips a line it cannot parse (with a
logged warning); Compose refuses the file. We ask its parser which lines failed
and report the first one with file and line.

Values are then read as Compose reads them: `${VAR}` expanded from the project's
variables first, then the lines above (in this file or an earlier one), a
single-quoted value kept literally, and a `KEY` alone taking the variable's
value (left out when it is unset).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import ConfigError

MISSING_HINT = "create it, or mark it `required: false` in the long form of env_file"
X_DEVENV_MISSING_HINT = "create it, or fix the path in x-devenv.env_file"


def read_env_file(
    path: Path,
    *,
    service: str | None = None,
    key: str | None = None,
    missing_hint: str = MISSING_HINT,
) -> dict[str, str | None]:
    """The raw variables of `path`, in file order, nothing expanded; `KEY` alone
    (no `=`) maps to None. Raises ConfigError for a missing or unreadable file
    and for the first line that does not parse."""
    return _parse(path, service, key, missing_hint).values


def env_file_values(
    path: Path,
    variables: Mapping[str, str],
    *,
    earlier: Mapping[str, str] | None = None,
    service: str | None = None,
    key: str | None = None,
    missing_hint: str = MISSING_HINT,
) -> dict[str, str]:
    """The variables of `path` as Compose reads an env file: `${VAR}` expanded
    from `variables` (the project's) and then from `earlier` values and the lines
    above; single-quoted values literal; `KEY` alone takes `variables[KEY]`, or is
    left out. Raises ConfigError naming the file (and the line) on bad input."""
    from devenv.config.compose.interpolate import TemplateError, substitute

    parsed = _parse(path, service, key, missing_hint)
    values: dict[str, str] = {}
    for name, value in parsed.values.items():
        if value is None:
            if name in variables:
                values[name] = variables[name]
            continue
        if "$" in value and name not in parsed.literal:
            try:
                value = substitute(value, {**(earlier or {}), **values, **variables})
            except TemplateError as error:
                raise ConfigError(
                    str(error), file=path, line=parsed.lines.get(name), service=service, key=name
                ) from None
        values[name] = value
    return values


def read_dotenv(path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """A project's .env, expanded against the process environment."""
    return env_file_values(path, environ, missing_hint="check the --env-file path")


@dataclass(frozen=True)
class _Parsed:
    values: dict[str, str | None]
    literal: set[str]  # keys whose value is single-quoted
    lines: dict[str, int]  # where each key is (its last occurrence)


def _parse(path: Path, service: str | None, key: str | None, missing_hint: str) -> _Parsed:
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "env file not found", file=path, service=service, key=key, hint=missing_hint
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read env file: {error}", file=path, service=service) from None
    literal: set[str] = set()
    lines: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            shown = binding.original.string.strip()
            if len(shown) > 40:
                shown = shown[:37] + "..."
            raise ConfigError(
                f"cannot parse this line: {shown!r}",
                file=path,
                line=binding.original.line,
                service=service,
                key=key,
                hint="write KEY=value; quote values with spaces or # and close every quote",
            )
        if binding.key:
            lines[binding.key] = binding.original.line
            if "='" in binding.original.string.replace(" ", ""):
                literal.add(binding.key)
            else:
                literal.discard(binding.key)
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return _Parsed(dict(values), literal, lines)
