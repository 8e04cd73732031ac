"""`${VAR}` substitution with Compose's rules.

`$$` is a literal `$`; `$NAME` and `${NAME}` substitute (an unset name gives ""
and a warning); `${NAME:-d}`/`${NAME-d}` default when unset-or-empty/unset;
`${NAME:?msg}`/`${NAME?msg}` fail; `${NAME:+x}`/`${NAME+x}` replace when set.
Defaults nest (`${A:-${B:-c}}`). A `$` followed by anything else stays as it is;
a `${` that does not form one of the above is an error, as in Compose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from devenv.config.compose.yamlload import YDict, YList, copy_meta, where
from devenv.errors import InterpolationError

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class TemplateError(ValueError):
    """Raised by `substitute`; carries the message without a location."""


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the `${` whose body starts at `start`, or -1."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "$" and text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if char == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def substitute(
    text: str,
    lookup: Mapping[str, str],
    on_unset: Callable[[str], None] | None = None,
) -> str:
    """`text` with every `$` expression replaced; raises TemplateError."""
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise TemplateError(f"invalid interpolation format: {text[i:]!r}")
            out.append(_braced(text[i + 2 : end], text[i : end + 1], lookup, on_unset))
            i = end + 1
            continue
        match = _NAME.match(text, i + 1)
        if match is None:
            out.append("$")
            i += 1
            continue
        name = match.group()
        if name in lookup:
            out.append(lookup[name])
        elif on_unset is not None:
            on_unset(name)
        i = match.end()
    return "".join(out)


def _braced(
    body: str,
    whole: str,
    lookup: Mapping[str, str],
    on_unset: Callable[[str], None] | None,
) -> str:
    match = _NAME.match(body)
    if match is None:
        raise TemplateError(f"invalid interpolation format: {whole!r}")
    name = match.group()
    rest = body[match.end() :]
    if not rest:
        if name in lookup:
            return lookup[name]
        if on_unset is not None:
            on_unset(name)
        return ""
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise TemplateError(f"invalid interpolation format: {whole!r}")
    argument = rest[len(operator) :]
    value = lookup.get(name)
    is_set = value is not None
    usable = bool(value) if operator.startswith(":") else is_set
    kind = operator[-1]
    if kind == "-":
        return value if usable and value is not None else substitute(argument, lookup, on_unset)
    if kind == "+":
        return substitute(argument, lookup, on_unset) if usable else ""
    if not usable:  # "?"
        message = substitute(argument, lookup, on_unset)
        detail = f": {message}" if message else ""
        raise TemplateError(f"required variable {name} is missing a value{detail}")
    return value or ""


def _service_of(path: tuple[str, ...]) -> tuple[str | None, str]:
    """('services', 'api', 'ports', '0') -> ('api', 'ports[0]')."""
    if len(path) >= 2 and path[0] == "services":
        service, rest = path[1], path[2:]
    else:
        service, rest = None, path
    key = ""
    for part in rest:
        key += f"[{part}]" if part.isdigit() else (f".{part}" if key else part)
    return service, key


def interpolate_tree(
    tree: Any,
    lookup: Mapping[str, str],
    on_unset: Callable[[str, tuple[str, ...]], None] | None = None,
    path: tuple[str, ...] = (),
    parent: Any = None,
    key: Any = None,
) -> Any:
    """A copy of `tree` with every string value interpolated (keys are left alone)."""
    if isinstance(tree, str):
        try:
            return substitute(
                tree, lookup, (lambda name: on_unset(name, path)) if on_unset else None
            )
        except TemplateError as error:
            file, line = where(parent, key)
            service, dotted = _service_of(path)
            hint = (
                "set the variable in the environment or in .env"
                if "required variable" in str(error)
                else "write a literal $ as $$"
            )
            raise InterpolationError(
                str(error), file=file, line=line, service=service, key=dotted or None, hint=hint
            ) from None
    if isinstance(tree, dict):
        out_map: dict[str, Any] = YDict() if isinstance(tree, YDict) else {}
        for k, v in tree.items():
            out_map[k] = interpolate_tree(v, lookup, on_unset, (*path, str(k)), tree, k)
        return copy_meta(tree, out_map)
    if isinstance(tree, list):
        out_list: list[Any] = YList() if isinstance(tree, YList) else []
        for index, v in enumerate(tree):
            out_list.append(interpolate_tree(v, lookup, on_unset, (*path, str(index)), tree, index))
        return copy_meta(tree, out_list)
    return tree
