"""What each watched path does to a local process (`WatchRule`s).

- `x-devenv.watch` paths are `rebuild` rules: the build steps (if any), then a
  restart. `x-devenv.ignore` applies to them.
- `develop.watch` entries keep Compose's action, `ignore` and `include`;
  `sync+exec` carries its `exec.command`. `x-devenv.ignore` applies to them too
  (it is the service's own list), on top of each entry's `ignore`.
- A build step's `when` paths are watched as well (`rebuild`), unless a rule
  for the same path exists already.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from devenv.config.model import BuildStep, WatchAction, WatchRule


def watch_rules(
    watch: Sequence[Path],
    ignore: Sequence[str],
    develop: Mapping[str, Any] | None,
    build: Sequence[BuildStep],
) -> tuple[WatchRule, ...]:
    """`watch`/`ignore` from x-devenv (absolute paths), `develop` in its canonical
    form (see devenv.config.compose.develop)."""
    own = tuple(ignore)
    rules = [WatchRule(path=path, action="rebuild", ignore=own) for path in watch]
    for entry in (develop or {}).get("watch") or []:
        action = cast(WatchAction, entry["action"])
        command = (entry.get("exec") or {}).get("command")
        rules.append(
            WatchRule(
                path=Path(entry["path"]),
                action=action,
                ignore=(*entry.get("ignore", ()), *own),
                include=tuple(entry.get("include", ())),
                exec=tuple(command) if action == "sync+exec" and command else None,
                source="develop",
            )
        )
    watched = {rule.path for rule in rules}
    for step in build:
        for path in step.when:
            if path not in watched:
                rules.append(WatchRule(path=path, action="rebuild", ignore=own))
                watched.add(path)
    return tuple(rules)


def watched_paths(rules: Sequence[WatchRule]) -> tuple[Path, ...]:
    """Every rule's path once, in order."""
    return tuple(dict.fromkeys(rule.path for rule in rules))
