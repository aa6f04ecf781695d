"""Option types of passes and backends: which attrs field types text (a pipeline, the
command line) can write, how text becomes a value of one, and whether a Python value is one.

Text can write bool, int, float, str, paths, None (spelled `none`), `Literal[...]`, unions
of those, and sequences of them (items separated by spaces; a sequence of sequences
separates its groups with ';'). Any other type can only be set from Python.

Options are the fields of any frozen attrs class (`fields`): a pass, or the options class
of a backend (`alta.backends.base`), so both are read and checked by this one module.
"""

from __future__ import annotations

import collections.abc as abc
import itertools
import types
import typing
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import attrs

from alta.errors import AltaError, PipelineError
from alta.passes import base

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE_TYPE = type(None)
_BASIC: dict[str, Any] = {"int": int, "float": float, "bool": bool, "str": str, "None": _NONE_TYPE}
#: Sequence annotations that text can write, and the container each one is built as.
_SEQUENCES: dict[Any, Callable[[list[Any]], Any]] = {
    tuple: tuple,
    list: list,
    frozenset: frozenset,
    set: set,
    abc.Sequence: tuple,
    abc.Collection: tuple,
    abc.Iterable: tuple,
    abc.MutableSequence: list,
    abc.Set: frozenset,
}


@attrs.frozen
class _Unresolved:
    """An annotation that did not resolve to a type (kept as its source text)."""

    text: str


@attrs.frozen
class _SequenceType:
    make: Callable[[list[Any]], Any]
    items: tuple[Any, ...]  # one item type, or one per position when `fixed`
    fixed: bool

    def item_types(self) -> typing.Iterable[Any]:
        return self.items if self.fixed else itertools.repeat(self.items[0])

    def nested(self) -> bool:
        """Whether its items are sequences themselves (written as ';'-separated groups)."""
        return any(_sequence(alt) is not None for item in self.items for alt in _alternatives(item))


def fields(cls: type) -> list[base.Option]:
    """The options of any attrs class (`base.options` is written for passes, but reads
    nothing of a pass but its attrs fields)."""
    return base.options(cls)  # type: ignore[arg-type]


def convert(
    text: str,
    typ: Any,
    where: str,
    quoted: bool = False,
    setter: str | None = None,
    error: type[AltaError] = PipelineError,
) -> Any:
    """Convert option text to the field type `typ`; raise `error` naming `where`.

    A quoted value is never `none`, and is the string itself when `typ` accepts a str.
    `setter` spells how to set the option from Python, for types text cannot write.
    """
    ok, value = _convert(text, typ, quoted, 0)
    if ok:
        return value
    alternatives = [a for a in _alternatives(typ) if a is not _NONE_TYPE]
    writable = [a for a in alternatives if _writable(a, 0)]
    from_python = f": {setter}" if setter else ""
    if not writable:
        medium = "pipeline text" if error is PipelineError else "text"
        raise error(
            f"{where} has type {_annotation(typ)}, which {medium} cannot express; "
            f"it can only be set from Python{from_python}"
        )
    expected = " or ".join(
        _type_name(a) for a in _alternatives(typ) if a in writable or a is _NONE_TYPE
    )
    rest = [a for a in alternatives if a not in writable]
    if rest:
        expected += (
            f" (a {' or '.join(_annotation(a) for a in rest)} only from Python{from_python})"
        )
    raise error(f"{where}: expected {expected}, got '{text}'")


def _convert(text: str, typ: Any, quoted: bool, depth: int) -> tuple[bool, Any]:
    alternatives = _alternatives(typ)
    if _NONE_TYPE in alternatives and not quoted and text.lower() == "none":
        return True, None
    writable = [a for a in alternatives if a is not _NONE_TYPE and _writable(a, depth)]
    if quoted and str in writable:
        return True, text
    for alt in sorted(writable, key=_try_order):
        ok, value = _convert_one(text, alt, depth)
        if ok:
            return True, value
    return False, None


def _alternatives(typ: Any) -> list[Any]:
    if isinstance(typ, str):
        return [_BASIC.get(p.strip(), _Unresolved(p.strip())) for p in typ.split("|")]
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return list(typing.get_args(typ))
    return [typ]


def _sequence(alt: Any) -> _SequenceType | None:
    make = _SEQUENCES.get(typing.get_origin(alt))
    args = typing.get_args(alt)
    if make is None or not args or args == ((),):
        return None
    if typing.get_origin(alt) is not tuple:
        return _SequenceType(make, args[:1], False)
    if len(args) == 2 and args[1] is Ellipsis:
        return _SequenceType(make, args[:1], False)
    return _SequenceType(make, args, True)


def _writable(alt: Any, depth: int) -> bool:
    """Whether text can write a value of type `alt` (a sequence nests at most twice)."""
    if alt in (bool, int, float, str) or (isinstance(alt, type) and issubclass(alt, PurePath)):
        return True
    origin = typing.get_origin(alt)
    if origin is typing.Literal:
        return all(isinstance(a, str | int | float) for a in typing.get_args(alt))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(alt) if a is not _NONE_TYPE]
        return bool(args) and all(_writable(a, depth) for a in args)
    seq = _sequence(alt)
    return seq is not None and depth < 2 and all(_writable(t, depth + 1) for t in seq.items)


def _try_order(alt: Any) -> int:
    if typing.get_origin(alt) is typing.Literal:
        return 4
    if _sequence(alt) is not None:
        return 6
    return {bool: 1, int: 2, float: 3, str: 7}.get(alt, 5)


def _convert_one(text: str, alt: Any, depth: int) -> tuple[bool, Any]:
    if alt is bool:
        low = text.lower()
        return (low in _TRUE or low in _FALSE), low in _TRUE
    if alt is str:
        return True, text
    origin = typing.get_origin(alt)
    if origin is typing.Literal:
        for choice in typing.get_args(alt):
            if _format_scalar(choice) == text:
                return True, choice
        return False, None
    if origin in (typing.Union, types.UnionType):
        return _convert(text, alt, False, depth)
    seq = _sequence(alt)
    if seq is not None:
        return _convert_sequence(text, seq, depth)
    try:
        return True, alt(text)
    except (TypeError, ValueError):
        return False, None


def _convert_sequence(text: str, seq: _SequenceType, depth: int) -> tuple[bool, Any]:
    if seq.nested():
        body = text[:-1] if text.endswith(";") else text  # a trailing ';' is allowed
        parts = body.split(";") if text.strip() else []
    else:
        parts = text.split()
    if seq.fixed and len(parts) != len(seq.items):
        return False, None
    values = []
    for part, item in zip(parts, seq.item_types(), strict=False):
        ok, value = _convert(part, item, False, depth + 1)
        if not ok:
            return False, None
        values.append(value)
    return True, seq.make(values)


def conforms(value: Any, typ: Any) -> bool:
    """Whether a value set from Python is of the option type `typ`: what `convert` would
    give for its text, or (for a type text cannot write) an instance of it. `Any`, an
    unresolved annotation and typing forms other than these accept every value."""
    return any(_conforms_one(value, alt) for alt in _alternatives(typ))


def describe(typ: Any) -> str:
    """`typ` as an error about a value set from Python spells what it must be."""
    parts = []
    for alt in _alternatives(typ):
        if typing.get_origin(alt) is typing.Literal:
            parts.append("one of " + ", ".join(repr(a) for a in typing.get_args(alt)))
        else:
            parts.append(_annotation(alt))
    return " or ".join(parts)


def _conforms_one(value: Any, alt: Any) -> bool:
    if alt is Any:
        return True
    if alt is _NONE_TYPE:
        return value is None
    if alt is bool:
        return isinstance(value, bool)
    if alt in (int, float):  # an int is a float too (PEP 484), a bool is neither
        number = int if alt is int else int | float
        return isinstance(value, number) and not isinstance(value, bool)
    origin = typing.get_origin(alt)
    if origin is typing.Literal:
        return any(type(value) is type(c) and value == c for c in typing.get_args(alt))
    if origin in (typing.Union, types.UnionType):
        return conforms(value, alt)
    seq = _sequence(alt)
    if seq is not None:
        return _conforms_sequence(value, origin, seq)
    if isinstance(alt, type) and origin is None:
        return isinstance(value, alt)
    return True


def _conforms_sequence(value: Any, origin: Any, seq: _SequenceType) -> bool:
    if not isinstance(value, origin) or isinstance(value, str | bytes):
        return False
    items = list(value)
    if seq.fixed and len(items) != len(seq.items):
        return False
    return all(conforms(v, t) for v, t in zip(items, seq.item_types(), strict=False))


def _format_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _type_name(alt: Any) -> str:
    if alt is _NONE_TYPE:
        return "none"
    if typing.get_origin(alt) is typing.Literal:
        return "one of " + "|".join(_format_scalar(a) for a in typing.get_args(alt))
    if typing.get_origin(alt) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(alt))
    seq = _sequence(alt)
    if seq is None:
        return _annotation(alt)
    if seq.fixed:
        return (
            f"{len(seq.items)} items separated by spaces ({' '.join(map(_type_name, seq.items))})"
        )
    item = seq.items[0]
    inner = _sequence(item)
    if inner is not None:
        return (
            f"groups of {_type_name(inner.items[0])} items, separated by ';', items by spaces "
            '(e.g. "2 1 0;2 1")'
        )
    return f"{_type_name(item)} items separated by spaces"


def _annotation(typ: Any) -> str:
    if isinstance(typ, _Unresolved):
        return typ.text
    if typ is _NONE_TYPE:
        return "None"
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return " | ".join(_annotation(a) for a in typing.get_args(typ))
    if isinstance(typ, type) and typing.get_origin(typ) is None:
        return typ.__name__
    return str(typ).replace("typing.", "").replace("collections.abc.", "")
