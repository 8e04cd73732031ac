"""Reading `.env` and `env_file` files with python-dotenv.

python-dotenv skips a line it cannot parse (with a logged warning); Compose
refuses the file. We ask its parser which lines failed and report the first
one with file and line.
"""

from __future__ import annotations

import io
from pathlib import Path

from devenv.errors import ConfigError


def read_env_file(
    path: Path,
    *,
    service: str | None = None,
    key: str | None = None,
) -> dict[str, str | None]:
    """Variables from `path`, in file order; `KEY` alone (no `=`) maps to None."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "env file not found",
            file=path,
            service=service,
            key=key,
            hint="create it, or mark it `required: false` in the long form of env_file",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read env file: {error}", file=path, service=service) from None
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
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return dict(values)
