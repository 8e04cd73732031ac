"""Which variables hold secrets: one rule for the engine (values to mask in
logs), the UI (values to mask in details) and `init`/`doctor` (placeholders)."""

from __future__ import annotations

import re

# *PASSWORD*, *SECRET*, *TOKEN*, *KEY*, plus PASSWD/PASS, PRIVATE and CREDENTIAL.
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None
