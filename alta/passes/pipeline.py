"""Pipeline text: `name,name{opt=value opt2=value},...` parsed into pass instances.

    pipeline := entry (',' entry)*            whitespace is allowed around every token
    entry    := NAME ('{' (KEY '=' value)* '}')?
    value    := "..." | '...' | bare          a backslash in quotes escapes the next char
    bare     := characters other than whitespace , = { } " '

Options are separated by whitespace, passes by ','. An unquoted value that contains ','
or '=' is an error, not a value: `rename{old=r,new=x}` is rejected with a caret under the
',' (write `rename{old=r new=x}`, or quote the value, `old="r,new=x"`).

Everything a pipeline can get wrong is caught here, before any pass runs: syntax, unknown
pass names (with close matches), unknown or ill-typed options, options whose type text
cannot express, and IR levels that do not chain. Every error quotes the pipeline with a
caret under the place at fault.

Option values are converted from the attrs field's type: bool, int, float, str, paths,
None (spelled `none`), `Literal[...]`, unions of those, and sequences of them (items
separated by spaces; a sequence of sequences separates its groups with ';', so
`minimize-rules{inputs="2 1 0 1;2 1 1"}`). Any other type (callables, mappings, arbitrary
objects) can only be set from Python, and naming such an option in text is an error.
"""

from __future__ import annotations

import collections.abc as abc
import difflib
import itertools
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import Any

import attrs

from alta.errors import PipelineError
from alta.passes import base

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
#: Characters a bare (unquoted) value may not contain, besides whitespace and '}'.
_NOT_BARE = ",={'\""
_QUOTES = "'\""
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
class OptionText:
    """One `key=value` as written: the raw text, whether it was quoted, and the columns."""

    key: str
    text: str
    quoted: bool
    key_at: int = 0
    value_at: int = 0


@attrs.frozen
class PassSpec:
    """One parsed, not yet resolved, pipeline entry; `at` is the column of its name."""

    name: str
    options: tuple[OptionText, ...] = ()
    at: int = 0


def parse(text: str, start_level: str | None = None) -> list[base.Pass]:
    """Parse and resolve `text`; `start_level` is the level of the module it will run on."""
    specs = parse_specs(text)
    passes = resolve(specs, text)
    levels_along(passes, start_level, text, at=[s.at for s in specs])
    return passes


def print_pipeline(passes: Sequence[base.Pass]) -> str:
    """The pipeline text of `passes`; `parse(print_pipeline(ps)) == ps`."""
    return ",".join(p.spec() for p in passes)


def caret(text: str, *columns: int) -> str:
    """Two lines to append to a message: `text`, and a '^' under each of `columns`."""
    if not columns:
        return ""
    shown = "".join(" " if c.isspace() else c for c in text)
    marks = [" "] * (max(columns) + 1)
    for column in columns:
        marks[column] = "^"
    return f"\n  {shown}\n  {''.join(marks)}"


def _located(message: str, text: str, *columns: int) -> PipelineError:
    return PipelineError(message + (caret(text, *columns) if text else ""))


# --------------------------------------------------------------------------- syntax


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def error(self, what: str, at: int | None = None) -> PipelineError:
        return _located(f"pipeline syntax error: {what}", self.text, self.i if at is None else at)

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip_space(self) -> None:
        while self.peek().isspace():
            self.i += 1

    def word(self, what: str) -> str:
        start = self.i
        while self.peek() and self.peek() in _NAME_CHARS:
            self.i += 1
        if start == self.i:
            raise self.error(f"expected {what}")
        return self.text[start : self.i]

    def value(self, key: str, owner: str) -> tuple[str, bool]:
        quote, start = self.peek(), self.i
        if quote and quote in _QUOTES:
            return self.quoted(key, quote, start), True
        while self.peek() and not self.peek().isspace() and self.peek() != "}":
            if self.peek() in _NOT_BARE:
                raise self.bare_error(key, owner, start)
            self.i += 1
        if start == self.i:
            raise self.error(f"expected a value after '{key}='")
        return self.text[start : self.i], False

    def quoted(self, key: str, quote: str, start: int) -> str:
        self.i += 1
        out = []
        while self.peek() != quote:
            if self.peek() == "\\":
                self.i += 1
            if not self.peek():
                raise self.error(
                    f"the value of option '{key}' opens a {quote} quote that is never closed",
                    at=start,
                )
            out.append(self.peek())
            self.i += 1
        self.i += 1
        if self.peek() and not self.peek().isspace() and self.peek() != "}":
            raise self.error(
                f"expected a space or '}}' after the quoted value of option '{key}' "
                "(options are separated by spaces)"
            )
        return "".join(out)

    def bare_error(self, key: str, owner: str, start: int) -> PipelineError:
        bad, end = self.peek(), self.i
        while end < len(self.text) and not self.text[end].isspace() and self.text[end] != "}":
            end += 1
        raw = self.text[start:end]
        fix = f"{key}={_quote(raw)}"
        if bad == "," and "}" not in self.text[self.i :]:
            return self.error(
                f"the options of '{owner}' are never closed: end them with '}}' before the "
                f"',' that starts the next pass (or, if ',' belongs to the value, quote it: "
                f"{fix})"
            )
        if bad in ",=":
            parts = raw.split(",")
            hint = ""
            if bad == "," and all("=" in p and "=" not in p[:1] for p in parts[1:]):
                hint = f" (did you mean '{key}={' '.join(parts)}'?)"
            spaces = "spaces, not commas" if bad == "," else "spaces"
            return self.error(
                f"unquoted value of option '{key}' contains '{bad}': options are separated "
                f"by {spaces}{hint}, and a value that contains ',' or '=' must be quoted: {fix}"
            )
        what = "a quote" if bad in _QUOTES else f"'{bad}'"
        return self.error(
            f"unquoted value of option '{key}' contains {what}: quote the whole value: {fix}"
        )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_specs(text: str) -> list[PassSpec]:
    """The syntax layer: pass names and raw option text, nothing looked up."""
    scan = _Scanner(text)
    specs: list[PassSpec] = []
    scan.skip_space()
    if not scan.peek():
        return specs
    while True:
        scan.skip_space()
        at = scan.i
        name = scan.word("a pass name" + (" before ','" if scan.peek() == "," else ""))
        scan.skip_space()
        options: list[OptionText] = []
        if scan.peek() == "{":
            scan.i += 1
            while True:
                scan.skip_space()
                if scan.peek() == "}":
                    scan.i += 1
                    break
                if not scan.peek():
                    raise scan.error(f"missing '}}' to close the options of '{name}'")
                if scan.peek() == ",":
                    raise scan.error(
                        f"options of '{name}' are separated by spaces, not ','; passes are "
                        "separated by ',' after the closing '}'"
                    )
                key_at = scan.i
                key = scan.word(f"an option name or '}}' in the options of '{name}'")
                if scan.peek() != "=":
                    raise scan.error(f"expected '=' after option '{key}' of '{name}'")
                scan.i += 1
                value_at = scan.i
                value, quoted = scan.value(key, name)
                options.append(OptionText(key, value, quoted, key_at, value_at))
        specs.append(PassSpec(name, tuple(options), at))
        scan.skip_space()
        if not scan.peek():
            return specs
        if scan.peek() != ",":
            braces = "" if options else f" or '{{' to start the options of '{name}'"
            raise scan.error(f"expected ',' between passes{braces}")
        scan.i += 1


# --------------------------------------------------------------------------- resolution


def resolve(specs: Sequence[PassSpec], text: str = "") -> list[base.Pass]:
    """Instantiate every spec; report every unknown name at once, with suggestions."""
    names = base.available()
    unknown = sorted({s.name for s in specs if s.name not in names})
    if unknown:
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.7)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            parts.append(f"'{name}'{hint}")
        raise _located(
            f"unknown pass{'es' if len(unknown) > 1 else ''} {', '.join(parts)} in pipeline "
            f"'{text}'; `alta passes` lists the {len(names)} available passes",
            text,
            *(s.at for s in specs if s.name in unknown),
        )
    return [_instantiate(spec, text) for spec in specs]


def _instantiate(spec: PassSpec, text: str = "") -> base.Pass:
    cls = base.lookup(spec.name)
    assert cls is not None  # resolve() checked the name
    opts = {o.spelling: o for o in base.options(cls)}
    kwargs: dict[str, Any] = {}
    for given in spec.options:
        opt = opts.get(given.key.replace("_", "-"))
        if opt is None:
            raise _located(_unknown_option(spec.name, given.key, list(opts)), text, given.key_at)
        if opt.field in kwargs:
            raise _located(
                f"pass '{spec.name}': option '{given.key}' is given twice", text, given.key_at
            )
        where = f"pass '{spec.name}' option '{given.key}'"
        try:
            kwargs[opt.field] = convert(
                given.text, opt.type, where, given.quoted, f"{cls.__name__}({opt.field}=...)"
            )
        except PipelineError as exc:
            raise _located(str(exc), text, given.value_at) from None
    missing = [o.spelling for o in opts.values() if not o.has_default and o.field not in kwargs]
    if missing:
        raise _located(
            f"pass '{spec.name}' needs option(s) {', '.join(missing)}: "
            f"{spec.name}{{{' '.join(m + '=...' for m in missing)}}}",
            text,
            spec.at,
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise _located(f"pass '{spec.name}': bad options: {exc}", text, spec.at) from exc


def _unknown_option(name: str, key: str, known: list[str]) -> str:
    if not known:
        return f"pass '{name}' takes no options, got '{key}'"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"pass '{name}' has no option '{key}'{hint} (options: {', '.join(known)})"


# --------------------------------------------------------------------------- option types


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


def convert(
    text: str, typ: Any, where: str, quoted: bool = False, setter: str | None = None
) -> Any:
    """Convert option text to the field type `typ`; raise PipelineError naming `where`.

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
        raise PipelineError(
            f"{where} has type {_annotation(typ)}, which pipeline text cannot express; "
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
    raise PipelineError(f"{where}: expected {expected}, got '{text}'")


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


# --------------------------------------------------------------------------- levels


def check_levels(passes: Sequence[base.Pass], start_level: str | None, text: str = "") -> None:
    """Each pass must take the level the previous one returns (and the first, the input's)."""
    levels_along(passes, start_level, text)


def levels_along(
    passes: Sequence[base.Pass],
    start_level: str | None,
    text: str = "",
    *,
    at: Sequence[int] | None = None,
) -> list[str | None]:
    """The IR level after each pass. A pass with `levels` (e.g. prune-dims, which works on
    IR2 and IR3) takes any of them and returns the level it was given. `at` holds the
    column of each pass in `text`, for a caret under the one at fault."""
    level, previous = start_level, "the pipeline's input"
    after: list[str | None] = []
    for i, p in enumerate(passes):
        if p.input_level not in base.LEVELS or p.output_level not in base.LEVELS:
            raise PipelineError(
                f"pass '{p.name}' ({type(p).__name__}) declares no IR level; set `level` or "
                "`input_level`/`output_level`"
            )
        accepts = tuple(getattr(type(p), "levels", ())) or (p.input_level,)
        if level is not None and level not in accepts:
            where = f" in pipeline '{text}'" if text else ""
            message = (
                f"'{p.name}' expects alta.{' or alta.'.join(accepts)} but receives "
                f"alta.{level} ({previous}){where}"
            )
            raise _located(message, text, at[i]) if at is not None else PipelineError(message)
        polymorphic = len(accepts) > 1 and level is not None
        level, previous = (level if polymorphic else p.output_level), f"after '{p.name}'"
        after.append(level)
    return after
