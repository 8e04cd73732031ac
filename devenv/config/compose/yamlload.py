"""YAML reading that remembers where things are, and reads like Compose does.

Compose parses with a YAML 1.2 parser, PyYAML speaks YAML 1.1. The resolvers
below follow 1.2's core schema so that `80:80` stays a string (1.1 reads it as
the base-60 number 4880) and `yes`/`on` stay strings. Mappings and sequences
come back as `YDict`/`YList`, which carry the file and line of every key so
that errors can point at them. Duplicate keys are an error, as in Compose.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from devenv.errors import ConfigError


class YDict(dict[str, Any]):
    """A mapping read from a file: `where(key)` is the line the key is on."""

    file: str | None = None
    line: int | None = None
    # The directory relative paths inside this mapping are relative to (set on
    # x-devenv blocks, which are resolved after merging).
    base_dir: str | None = None
    # key -> (file, line): after a merge, keys can come from different files
    key_pos: dict[str, tuple[str | None, int | None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_pos = {}

    def where(self, key: str | None = None) -> tuple[str | None, int | None]:
        if key is not None and key in self.key_pos:
            return self.key_pos[key]
        return self.file, self.line


class YList(list[Any]):
    """A sequence read from a file, with the line each item starts on."""

    file: str | None = None
    line: int | None = None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []

    def where(self, index: int | None = None) -> tuple[str | None, int | None]:
        if index is not None and 0 <= index < len(self.item_lines):
            return self.file, self.item_lines[index]
        return self.file, self.line


def where(node: Any, key: Any = None) -> tuple[str | None, int | None]:
    """File and line of `node` (or of `key` inside it), when it came from a file."""
    if isinstance(node, YDict):
        return node.where(key if isinstance(key, str) else None)
    if isinstance(node, YList):
        return node.where(key if isinstance(key, int) else None)
    return None, None


def copy_meta(source: Any, target: Any) -> Any:
    """Give a rebuilt container the position information of the one it replaces."""
    if isinstance(source, YDict) and isinstance(target, YDict):
        target.file, target.line = source.file, source.line
        target.base_dir = target.base_dir or source.base_dir
        for key, pos in source.key_pos.items():
            target.key_pos.setdefault(key, pos)
    elif isinstance(source, YList) and isinstance(target, YList):
        target.file, target.line = source.file, source.line
        target.item_lines = list(source.item_lines)
    return target


class _Loader(yaml.SafeLoader):
    file_name: str = "<string>"


# YAML 1.2 core schema instead of PyYAML's 1.1 resolvers.
_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


def _construct_int(loader: _Loader, node: Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _construct_mapping(loader: _Loader, node: Node) -> YDict:
    assert isinstance(node, MappingNode)
    explicit: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node.value, str):
            continue
        if key_node.value in explicit:
            raise ConfigError(
                f"the key '{key_node.value}' appears twice in this mapping "
                f"(first on line {explicit[key_node.value]})",
                file=loader.file_name,
                line=key_node.start_mark.line + 1,
                hint="remove or merge one of them",
            )
        explicit[key_node.value] = key_node.start_mark.line + 1
    # `<<` merge keys: flatten_mapping puts the merged pairs first, so the
    # mapping's own keys, coming later, win.
    loader.flatten_mapping(node)
    result = YDict()
    result.file = loader.file_name
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, bool | float) or key is None:
            key = "null" if key is None else str(key).lower()
        if not isinstance(key, str | int):
            raise ConfigError(
                "a mapping key must be a string",
                file=loader.file_name,
                line=key_node.start_mark.line + 1,
            )
        key = str(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_pos[key] = (loader.file_name, key_node.start_mark.line + 1)
    return result


def _construct_sequence(loader: _Loader, node: Node) -> YList:
    assert isinstance(node, SequenceNode)
    result = YList(loader.construct_object(child, deep=True) for child in node.value)
    result.file = loader.file_name
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _yaml_error(error: yaml.YAMLError, file: str) -> ConfigError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if "<stream end>" in str(getattr(error, "problem", "")) and getattr(
        error, "context_mark", None
    ):
        mark = error.context_mark  # type: ignore[attr-defined]  # where the open bracket is
    line = mark.line + 1 if mark is not None else None
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    hint = "check the indentation and quoting around this line"
    if "\\t" in str(problem) or "\t" in str(problem) or "tab" in str(problem):
        problem = "a tab character where YAML expects spaces"
        hint = "YAML indentation must use spaces, not tabs"
    return ConfigError(f"invalid YAML: {problem}", file=file, line=line, hint=hint)


MAX_NODES = 200_000


def _expanded_size(value: Any, memo: dict[int, int], depth: int = 0) -> int:
    """How many nodes the document has once aliases are expanded (shared objects
    counted each time they are used), to refuse a "billion laughs" file."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key in memo:
        return memo[key]
    items = value.values() if isinstance(value, dict) else value
    total = 1
    for item in items:
        total += _expanded_size(item, memo, depth + 1)
        if total > MAX_NODES:
            break
    memo[key] = total
    return total


def load_yaml_text(text: str, file: str) -> Any:
    """Parse one YAML document; errors become ConfigError with file and line."""
    loader = _Loader(text)
    loader.file_name = file
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
        if _expanded_size(document, {}) > MAX_NODES:
            raise ConfigError(
                f"the document expands to more than {MAX_NODES} nodes",
                file=file,
                hint="check the YAML anchors and aliases (*name) for runaway nesting",
            )
        return document
    except yaml.YAMLError as error:
        raise _yaml_error(error, file) from None
    except RecursionError:
        raise ConfigError("YAML nested too deeply", file=file) from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read the file: {error}", file=path) from None
    return load_yaml_text(text, str(path))
