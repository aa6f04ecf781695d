"""Pipeline text: `name,name{opt=value opt2=value},...` parsed into pass instances.

    pipeline := entry (',' entry)*            whitespace is allowed around every token
    entry    := NAME ('{' (KEY '=' value)* '}')?
              | 'fixpoint' ('{' ... '}')? '(' entry (',' entry)* ')'   (alta/passes/fixpoint.py)
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

import difflib
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from alta.errors import PipelineError
from alta.passes import base, fixpoint
from alta.passes.option_types import convert

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
#: Characters a bare (unquoted) value may not contain, besides whitespace and '}'.
_NOT_BARE = ",={'\""
_QUOTES = "'\""
#: Passes that were renamed or split: what to write instead.
RENAMED = {
    "prune-dims": "split into 'prune-values' (IR2; follow it with 'dce') and "
    "'prune-mlp-units' (IR3)",
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
    #: The passes inside `fixpoint(...)`; None for a plain pass.
    body: tuple[PassSpec, ...] | None = None


#: Parsed pipelines of built-in passes only, by (text, start level): every compile parses
#: its pipeline, which cost a tenth of compiling a small program. Built-in passes are
#: frozen option records that keep nothing between runs, and their names cannot be
#: registered again, so a parse of the same text gives equal passes; user passes (which
#: may hold state) are made anew on every parse.
_PARSED: dict[tuple[str, str | None], tuple[base.Pass, ...]] = {}
_PARSED_MAX = 256


def parse(text: str, start_level: str | None = None) -> list[base.Pass]:
    """Parse and resolve `text`; `start_level` is the level of the module it will run on."""
    kept = _PARSED.get((text, start_level))
    if kept is not None:
        return list(kept)
    specs = parse_specs(text)
    passes = resolve(specs, text)
    levels_along(passes, start_level, text, at=_columns(specs))
    if len(_PARSED) < _PARSED_MAX and all(map(_built_in, passes)):
        _PARSED[(text, start_level)] = tuple(passes)
    return passes


def _built_in(p: base.Pass) -> bool:
    """Whether `p` is one of alta's own passes (and so is everything inside it)."""
    inner = getattr(p, "passes", ())  # `fixpoint(...)`
    return type(p).__module__.startswith("alta.passes.") and all(map(_built_in, inner))


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
    """The syntax layer: pass names, raw option text and fixpoint bodies, nothing looked up."""
    scan = _Scanner(text)
    scan.skip_space()
    if not scan.peek():
        return []
    return _entries(scan, None)


def _entries(scan: _Scanner, opened: tuple[str, int] | None) -> list[PassSpec]:
    """Entries separated by ',' up to the end of the text, or, inside `NAME(` (`opened`
    holds the name and the column of its '('), up to and including the matching ')'."""
    specs: list[PassSpec] = []
    while True:
        scan.skip_space()
        if opened is not None and scan.peek() == ")" and not specs:
            raise scan.error(f"{opened[0]}() is empty: it needs at least one pass")
        specs.append(_entry(scan))
        scan.skip_space()
        if opened is None and not scan.peek():
            return specs
        if opened is not None and scan.peek() == ")":
            scan.i += 1
            return specs
        if opened is not None and not scan.peek():
            raise scan.error(f"the '(' of '{opened[0]}' is never closed", at=opened[1])
        if scan.peek() == ")":
            raise scan.error("')' without a matching '('")
        if scan.peek() != ",":
            last = specs[-1]
            braces = (
                ""
                if last.options or last.body
                else f" or '{{' to start the options of '{last.name}'"
            )
            raise scan.error(f"expected ',' between passes{braces}")
        scan.i += 1


def _entry(scan: _Scanner) -> PassSpec:
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
        scan.skip_space()
    body: tuple[PassSpec, ...] | None = None
    if scan.peek() == "(":
        if name != fixpoint.NAME:
            raise scan.error(
                f"'{name}' is a pass, not a combinator: only {fixpoint.NAME}(...) takes passes "
                "in parentheses"
            )
        paren = scan.i
        scan.i += 1
        body = tuple(_entries(scan, (name, paren)))
    elif name == fixpoint.NAME:
        raise scan.error(
            f"expected '(' after '{name}': {fixpoint.NAME}(pass,pass,...) runs its passes "
            "until they change nothing"
        )
    return PassSpec(name, tuple(options), at, body)


# --------------------------------------------------------------------------- resolution


def resolve(specs: Sequence[PassSpec], text: str = "") -> list[base.Pass]:
    """Instantiate every spec; report every unknown name at once, with suggestions."""
    names = base.available()
    flat = list(_flatten(specs))
    unknown = sorted({s.name for s in flat if s.name not in names})
    if unknown:
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.7)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            hint = f" ({RENAMED[name]})" if name in RENAMED else hint
            parts.append(f"'{name}'{hint}")
        raise _located(
            f"unknown pass{'es' if len(unknown) > 1 else ''} {', '.join(parts)} in pipeline "
            f"'{text}'; `alta passes` lists the {len(names)} available passes",
            text,
            *(s.at for s in flat if s.name in unknown),
        )
    return [_instantiate(spec, text) for spec in specs]


def _flatten(specs: Sequence[PassSpec]) -> Iterator[PassSpec]:
    """The plain passes of `specs`, those inside fixpoint(...) included."""
    for spec in specs:
        if spec.body is None:
            yield spec
        else:
            yield from _flatten(spec.body)


def _instantiate_fixpoint(spec: PassSpec, body: tuple[PassSpec, ...], text: str) -> base.Pass:
    max_rounds = fixpoint.DEFAULT_MAX_ROUNDS
    seen = False
    for given in spec.options:
        if given.key.replace("_", "-") != "max-rounds":
            message = _unknown_option(spec.name, given.key, ["max-rounds"])
            raise _located(message, text, given.key_at)
        if seen:
            raise _located(
                f"pass '{spec.name}': option '{given.key}' is given twice", text, given.key_at
            )
        seen = True
        where = f"pass '{spec.name}' option '{given.key}'"
        try:
            max_rounds = convert(given.text, int, where, given.quoted, "Fixpoint(max_rounds=...)")
        except PipelineError as exc:
            raise _located(str(exc), text, given.value_at) from None
        if max_rounds < 1:
            raise _located(
                f"{where}: expected at least 1 round, got {max_rounds}", text, given.value_at
            )
    inner = [_instantiate(s, text) for s in body]
    return fixpoint.Fixpoint(inner, max_rounds=max_rounds)


def _instantiate(spec: PassSpec, text: str = "") -> base.Pass:
    if spec.body is not None:
        return _instantiate_fixpoint(spec, spec.body, text)
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


# --------------------------------------------------------------------------- levels


def check_levels(passes: Sequence[base.Pass], start_level: str | None, text: str = "") -> None:
    """Each pass must take the level the previous one returns (and the first, the input's)."""
    levels_along(passes, start_level, text)


def levels_along(
    passes: Sequence[base.Pass],
    start_level: str | None,
    text: str = "",
    *,
    at: Sequence[Any] | None = None,
) -> list[str | None]:
    """The IR level after each pass. A pass with `levels` (a user pass may work on several
    levels) takes any of them and returns the level it was given; `fixpoint(...)` returns
    the level it was given, and each pass inside it must take and return that level. `at`
    holds the column of each pass in `text` (for a fixpoint, its column and the `at` of its
    body), for a caret under the one at fault."""
    level, previous = start_level, "the pipeline's input"
    after: list[str | None] = []
    for i, p in enumerate(passes):
        level = _level_after(p, level, previous, text, at[i] if at is not None else None)
        previous = f"after '{p.name}'"
        after.append(level)
    return after


def _columns(specs: Sequence[PassSpec]) -> list[Any]:
    """The `at` of `levels_along` for `specs`."""
    return [s.at if s.body is None else (s.at, _columns(s.body)) for s in specs]


def _level_after(p: base.Pass, level: str | None, previous: str, text: str, at: Any) -> str | None:
    column, inner = at if isinstance(at, tuple) else (at, None)

    def fail(message: str, where: int | None) -> PipelineError:
        message += f" in pipeline '{text}'" if text else ""
        return _located(message, text, where) if where is not None else PipelineError(message)

    if isinstance(p, fixpoint.Fixpoint):
        current, before = level, previous
        for j, q in enumerate(p.passes):
            q_at = inner[j] if inner is not None else None
            entry = current if current is not None else fixpoint.first_level(q)
            new = _level_after(q, current, before, text, q_at)
            if new != entry:
                q_column = q_at[0] if isinstance(q_at, tuple) else q_at
                raise fail(
                    f"'{q.name}' takes alta.{entry} and returns alta.{new}, but the passes in "
                    f"{fixpoint.NAME}(...) must each take and return the same IR level",
                    q_column,
                )
            current, before = new, f"after '{q.name}'"
        return current
    if p.input_level not in base.LEVELS or p.output_level not in base.LEVELS:
        raise PipelineError(
            f"pass '{p.name}' ({type(p).__name__}) declares no IR level; set `level` or "
            "`input_level`/`output_level`"
        )
    accepts = tuple(getattr(type(p), "levels", ())) or (p.input_level,)
    if level is not None and level not in accepts:
        raise fail(
            f"'{p.name}' expects alta.{' or alta.'.join(accepts)} but receives "
            f"alta.{level} ({previous})",
            column,
        )
    polymorphic = len(accepts) > 1 and level is not None
    return level if polymorphic else p.output_level
