"""Pipeline text: `name,name{opt=value opt2=value},...` parsed into pass instances.

Everything a pipeline can get wrong is caught here, before any pass runs: syntax, unknown
pass names (with close matches), unknown or ill-typed options, and IR levels that do not
chain. Option values are converted from the attrs field's type: int, float, bool, str,
None (spelled `none`) and `Literal[...]`; quote a value with spaces: `opt="a b"`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

import attrs

from alta.errors import PipelineError
from alta.passes import base

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_BASIC = {"int": int, "float": float, "bool": bool, "str": str, "None": type(None)}


@attrs.frozen
class PassSpec:
    """One parsed, not yet resolved, pipeline entry. `options` keep their text values."""

    name: str
    options: tuple[tuple[str, str, bool], ...]  # (spelling, text, quoted)


def parse(text: str, start_level: str | None = None) -> list[base.Pass]:
    """Parse and resolve `text`; `start_level` is the level of the module it will run on."""
    passes = resolve(parse_specs(text), text)
    check_levels(passes, start_level, text)
    return passes


def print_pipeline(passes: Sequence[base.Pass]) -> str:
    """The pipeline text of `passes`; `parse(print_pipeline(ps)) == ps`."""
    return ",".join(p.spec() for p in passes)


# --------------------------------------------------------------------------- syntax


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def error(self, what: str) -> PipelineError:
        return PipelineError(f"pipeline syntax error: {what}\n  {self.text}\n  {' ' * self.i}^")

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

    def value(self) -> tuple[str, bool]:
        quote = self.peek()
        if quote in ("'", '"'):
            self.i += 1
            out = []
            while self.peek() != quote:
                if not self.peek():
                    raise self.error(f"unterminated {quote}-quoted value")
                if self.peek() == "\\":
                    self.i += 1
                out.append(self.peek())
                self.i += 1
            self.i += 1
            return "".join(out), True
        start = self.i
        while self.peek() and not self.peek().isspace() and self.peek() not in "{}":
            self.i += 1
        if start == self.i:
            raise self.error("expected a value after '='")
        return self.text[start : self.i], False


def parse_specs(text: str) -> list[PassSpec]:
    """The syntax layer: pass names and raw option text, nothing looked up."""
    scan = _Scanner(text)
    specs: list[PassSpec] = []
    scan.skip_space()
    if not scan.peek():
        return specs
    while True:
        scan.skip_space()
        name = scan.word("a pass name")
        scan.skip_space()
        opts: list[tuple[str, str, bool]] = []
        if scan.peek() == "{":
            scan.i += 1
            while True:
                scan.skip_space()
                if scan.peek() == "}":
                    scan.i += 1
                    break
                key = scan.word(f"an option name or '}}' in the options of '{name}'")
                if scan.peek() != "=":
                    raise scan.error(f"expected '=' after option '{key}' of '{name}'")
                scan.i += 1
                opts.append((key, *scan.value()))
        specs.append(PassSpec(name, tuple(opts)))
        scan.skip_space()
        if not scan.peek():
            return specs
        if scan.peek() != ",":
            raise scan.error("expected ',' between passes")
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
        raise PipelineError(
            f"unknown pass{'es' if len(unknown) > 1 else ''} {', '.join(parts)} in pipeline "
            f"'{text}'; `alta passes` lists the {len(names)} available passes"
        )
    return [_instantiate(spec) for spec in specs]


def _instantiate(spec: PassSpec) -> base.Pass:
    cls = base.lookup(spec.name)
    assert cls is not None  # resolve() checked the name
    opts = {o.spelling: o for o in base.options(cls)}
    kwargs: dict[str, Any] = {}
    for key, text, quoted in spec.options:
        opt = opts.get(key.replace("_", "-"))
        if opt is None:
            raise PipelineError(_unknown_option(spec.name, key, list(opts)))
        if opt.field in kwargs:
            raise PipelineError(f"pass '{spec.name}': option '{key}' is given twice")
        kwargs[opt.field] = convert(text, opt.type, f"pass '{spec.name}' option '{key}'", quoted)
    missing = [o.spelling for o in opts.values() if not o.has_default and o.field not in kwargs]
    if missing:
        raise PipelineError(
            f"pass '{spec.name}' needs option(s) {', '.join(missing)}: "
            f"{spec.name}{{{' '.join(m + '=...' for m in missing)}}}"
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"pass '{spec.name}': bad options: {exc}") from exc


def _unknown_option(name: str, key: str, known: list[str]) -> str:
    if not known:
        return f"pass '{name}' takes no options, got '{key}'"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"pass '{name}' has no option '{key}'{hint} (options: {', '.join(known)})"


def convert(text: str, typ: Any, where: str, quoted: bool = False) -> Any:
    """Convert option text to the field type `typ`; raise PipelineError naming `where`."""
    alternatives = _alternatives(typ)
    if type(None) in alternatives and not quoted and text.lower() == "none":
        return None
    for alt in sorted(alternatives, key=_try_order):
        ok, value = _convert_one(text, alt)
        if ok:
            return value
    expected = " or ".join(_type_name(a) for a in alternatives)
    raise PipelineError(f"{where}: expected {expected}, got '{text}'")


def _alternatives(typ: Any) -> list[Any]:
    if isinstance(typ, str):
        return [_BASIC.get(part.strip(), Any) for part in typ.split("|")]
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return list(typing.get_args(typ))
    return [typ]


def _try_order(alt: Any) -> int:
    order = {type(None): 0, bool: 1, int: 2, float: 3}
    return order.get(alt, 5 if alt in (str, Any) else 4)


def _convert_one(text: str, alt: Any) -> tuple[bool, Any]:
    if alt is type(None):
        return False, None
    if alt is bool:
        low = text.lower()
        return (low in _TRUE or low in _FALSE), low in _TRUE
    if alt in (str, Any):
        return True, text
    if typing.get_origin(alt) is typing.Literal:
        for choice in typing.get_args(alt):
            if str(choice) == text:
                return True, choice
        return False, None
    try:
        return True, alt(text)
    except (TypeError, ValueError):
        return False, None


def _type_name(alt: Any) -> str:
    if alt is type(None):
        return "none"
    if typing.get_origin(alt) is typing.Literal:
        return "one of " + "|".join(str(a) for a in typing.get_args(alt))
    return getattr(alt, "__name__", str(alt))


# --------------------------------------------------------------------------- levels


def check_levels(passes: Sequence[base.Pass], start_level: str | None, text: str = "") -> None:
    """Each pass must take the level the previous one returns (and the first, the input's)."""
    levels_along(passes, start_level, text)


def levels_along(
    passes: Sequence[base.Pass], start_level: str | None, text: str = ""
) -> list[str | None]:
    """The IR level after each pass. A pass with `levels` (e.g. prune-dims, which works on
    IR2 and IR3) takes any of them and returns the level it was given."""
    level, previous = start_level, "the pipeline's input"
    after: list[str | None] = []
    for p in passes:
        if p.input_level not in base.LEVELS or p.output_level not in base.LEVELS:
            raise PipelineError(
                f"pass '{p.name}' ({type(p).__name__}) declares no IR level; set `level` or "
                "`input_level`/`output_level`"
            )
        accepts = tuple(getattr(type(p), "levels", ())) or (p.input_level,)
        if level is not None and level not in accepts:
            where = f" in pipeline '{text}'" if text else ""
            raise PipelineError(
                f"'{p.name}' expects alta.{' or alta.'.join(accepts)} but receives "
                f"alta.{level} ({previous}){where}"
            )
        polymorphic = len(accepts) > 1 and level is not None
        level, previous = (level if polymorphic else p.output_level), f"after '{p.name}'"
        after.append(level)
    return after
