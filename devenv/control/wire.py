"""The contract's values as JSON, in one place: every frozen dataclass of
`devenv.events` and `devenv.engine.api` becomes `{"type": ClassName, field: value…}`
and back.

Nothing here knows a particular event: the codec of each class is built once
from its type hints (enums by value, tuples as lists, nested dataclasses
recursively), so a field or an event added to the contract travels without a
change here. Lists of plain values (a `LogBatch`'s lines) are passed through
as they are, which keeps a 50k lines/s flood cheap to encode.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin, get_type_hints

from devenv import events
from devenv.engine import api

Codec = Callable[[Any], Any]

_PLAIN = (str, int, float, bool, type(None))


def _identity(value: Any) -> Any:
    return value


def _registry() -> dict[str, type[Any]]:
    """The dataclasses of the contract's modules, and those their fields hold
    (wherever they are defined: `Rewrite` lives with the config model)."""
    found: dict[str, type[Any]] = {}
    todo: list[type[Any]] = [
        value
        for module in (events, api)
        for value in vars(module).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == module.__name__
    ]
    while todo:
        cls = todo.pop()
        if cls.__name__ in found:
            continue
        found[cls.__name__] = cls
        hints = list(get_type_hints(cls).values())
        while hints:
            hint = hints.pop()
            hints += get_args(hint)
            if isinstance(hint, type) and dataclasses.is_dataclass(hint):
                todo.append(hint)
    return found


TYPES: dict[str, type[Any]] = _registry()

_encoders: dict[type[Any], list[tuple[str, Codec]]] = {}
_decoders: dict[type[Any], list[tuple[str, Codec]]] = {}


def encode(value: Any) -> Any:
    """A contract dataclass (or a list of them) as JSON-ready plain values."""
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_object(value)
    return value


def decode(data: Any) -> Any:
    """The inverse of `encode` for one object: the class is read from "type"."""
    if isinstance(data, list):
        return [decode(d) for d in data]
    if not isinstance(data, dict):
        return data
    cls = TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown type in message: {data.get('type')!r}")
    return _decode_object(cls, data)


def decode_as(cls: type[Any], data: dict[str, Any]) -> Any:
    """Decode `data` as `cls` (for answers whose type is known)."""
    return _decode_object(cls, data)


def _encode_object(value: Any) -> dict[str, Any]:
    cls = type(value)
    fields = _encoders.get(cls)
    if fields is None:
        fields = _encoders[cls] = [(f.name, _encoder(hint)) for f, hint in _fields(cls)]
    out: dict[str, Any] = {"type": cls.__name__}
    for name, codec in fields:
        out[name] = codec(getattr(value, name))
    return out


def _decode_object(cls: type[Any], data: dict[str, Any]) -> Any:
    fields = _decoders.get(cls)
    if fields is None:
        fields = _decoders[cls] = [(f.name, _decoder(hint)) for f, hint in _fields(cls)]
    kwargs = {name: codec(data[name]) for name, codec in fields if name in data}
    return cls(**kwargs)


def _fields(cls: type[Any]) -> list[tuple[dataclasses.Field[Any], Any]]:
    hints = get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def _encoder(hint: Any) -> Codec:
    origin = get_origin(hint)
    if hint in _PLAIN or origin is Literal or hint is Any:
        return _identity
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return lambda v: v.value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _encode_object
    if _is_union(origin):
        arms = [a for a in get_args(hint) if a is not type(None)]
        inner = _encoder(arms[0]) if len(arms) == 1 else encode
        if inner is _identity:
            return _identity
        return lambda v: None if v is None else inner(v)
    if origin in (tuple, list):
        args = get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:  # fixed shape
            items = [_encoder(a) for a in args]
            return lambda v: [codec(x) for codec, x in zip(items, v, strict=True)]
        item = _encoder(args[0]) if args else encode
        if item is _identity:
            return list
        return lambda v: [item(x) for x in v]
    return _identity


def _decoder(hint: Any) -> Codec:
    origin = get_origin(hint)
    if hint in _PLAIN or origin is Literal or hint is Any:
        return _identity
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda d: _decode_object(hint, d)
    if _is_union(origin):
        arms = [a for a in get_args(hint) if a is not type(None)]
        inner = _decoder(arms[0]) if len(arms) == 1 else decode
        if inner is _identity:
            return _identity
        return lambda v: None if v is None else inner(v)
    if origin in (tuple, list):
        args = get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            items = [_decoder(a) for a in args]
            return lambda v: tuple(codec(x) for codec, x in zip(items, v, strict=True))
        item = _decoder(args[0]) if args else _identity
        make: Callable[[Any], Any] = tuple if origin is tuple else list
        if item is _identity:
            return make
        return lambda v: make(item(x) for x in v)
    return _identity
