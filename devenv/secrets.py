"""Which variables hold secrets: one rule for the engine (values to mask in
logs), the UI (values to mask in details) and `init`/`doctor` (placeholders),
and which values are placeholders someone forgot to replace."""

from __future__ import annotations

import re

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
