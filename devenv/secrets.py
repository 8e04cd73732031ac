"""Which variables hold secrets, how their values are masked, and which values
are placeholders someone forgot to replace: one rule for the engine, the UI
(values to mask in logs and details), the CLI, `devenv mcp` and
`init`/`doctor`."""

from __future__ import annotations

import re
from collections.abc import Sequence

# *PASSWORD*, *SECRET*, *TOKEN*, *KEY*, plus PASSWD/PASS, PRIVATE and CREDENTIAL.
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)

# Values that stand for "put the real secret here", as templates and tutorials
# write them: change-me / changethis / replace-me anywhere; your-…(-here); <…>;
# TODO/FIXME/TBD; and xxx, ... or *** on their own or after a short prefix such
# as sk- or ghp_ (`sk-...`, `sk-xxxx`).
_PLACEHOLDER = re.compile(
    r"change[-_]?(me|this)|replace[-_]?(me|this)"
    r"|^your[-_]"
    r"|^<.*>$"
    r"|^(todo|fixme|tbd)\b"
    r"|^([a-z]{1,4}[-_])?(x{3,}|\.{3,}|\*{3,})",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def is_placeholder(value: str | None) -> bool:
    """Whether a secret's value is still a template's placeholder."""
    return bool(value) and _PLACEHOLDER.search((value or "").strip()) is not None


MASK = "••••••"


class SecretMasker:
    """Replaces every occurrence of the given values with a mask, in one regex pass."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        # Longest first so a secret that contains another is masked whole. Very short
        # values would mask half the log ("1", "ab"), so they are left alone; and a
        # value only counts where it stands on its own, so a password "dev" masks
        # "app:dev@db" but not the "dev" inside "devenv-demo".
        values = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)
        alternatives = "|".join(re.escape(v) for v in values)
        self._pattern = (
            re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])") if values else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)
