"""Hypothesis strategies for the non-strict fuzzer: random programs that may also have
undefined behaviour (docs/semantics.md), and the checks each one must pass.

The generator is tests/strategies.py's, with these added, deliberately and often:

- categorical heads that select several positions (masks of several offsets or none,
  queries and keys of small ranges that repeat);
- ill-typed writes: rules (through `MLPBuilder`) and function paths that write a value
  outside the variable's range or `values`, None to a numerical or set variable, a str or
  a float to a categorical one (some only for some values of what they read);
- function paths that raise: `12 // z["c0"]`, `(1, 0)[z["c0"]]`, `{0: 1}[z["c0"]]`, a
  condition that divides by zero, an explicit `raise ValueError`, an int written to a set
  variable;
- possible rule conflicts: a second rule block writing a variable another block writes,
  under conditions that may or may not hold together;
- chained heads: a head whose query, key or value is the output of a head declared before
  it (chains of 2-3), and `v_relative` of a head;
- None written to a variable some head uses as its query;
- numerical heads without an `output_spec` whose means fall off their `values`;
- `Rule`s written out: no-ops (new == old), ill-typed values of any type.

`check` runs one program on a batch and asserts the contract:

(a) nothing but an `AltaError` escapes the interpreter (strict and not), `alta.compile`
    (strict and not) or the compiled model, whatever the inputs;
(b) on the inputs that strict interpretation accepts, the compiled model (non-strict,
    `allow_unhalted=True`) equals the interpreter: outputs and every variable after every
    layer, on each backend asked for;
(c) every report (interpreter errors, strict and not, and the `CompileError` of
    `strict=True`) names the rule, head, function path or variable at fault;
(d) a program that compiles with `strict=True` has no ill-typed write, raising path or
    rule conflict that strict interpretation can reach.
"""

from __future__ import annotations

import re
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import strategies
from hypothesis import strategies as st
from strategies import Generated, _chance, _r, _uniform, _Var

import alta
from alta import errors
from alta.ir import symbolic

#: Longest chain of heads (a head reading a head reading a head).
MAX_CHAIN = 3
#: Compile errors for limitations the compiler documents (the program is refused whole).
UNSUPPORTED = ("too close for float32",)
#: A function that raises or writes ill-typed values on *every* path is refused whole.
EVERY_PATH_FAILS = "the MLP function fails on every path"

T = TypeVar("T")


# --------------------------------------------------------------------------- generator


class _UBGen(strategies._Gen):
    """strategies._Gen, plus chained heads, more multi-match heads and None queries."""

    MAX_HEADS = 4
    SINGLE_MASK = (1, 4)

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        super().__init__(draw)
        self.depth: dict[str, int] = {}  # head -> length of the chain it ends

    def _head(self, name: str, force_set: bool) -> _Var:
        d = self.draw
        sources = [h for h in self.heads if self.depth[h.name] < MAX_CHAIN]
        src = d(st.sampled_from(sources)) if sources and d(_chance(1, 2)) else None
        if src is None:
            self.depth[name] = 1
            return super()._head(name, force_set)
        out = self._chained(name, src)
        out.guard = None  # a guard says where the offset is inside, not that src is defined
        out.safe = out.safe and src.safe
        self.depth[name] = self.depth[src.name] + 1
        return out

    def _chained(self, name: str, src: _Var) -> _Var:
        """A head that reads `src` (a head declared before it) as value, query or key."""
        d = self.draw
        roles = ["value", "relative"] + (["query", "key"] if src.kind == "cat" else [])
        role = d(st.sampled_from(roles))
        if role == "relative" or (src.kind == "num" and len(src.domain) > 4):
            return self._relative(name, src)  # (means of many means: too many values)
        if role == "value":
            return self._content(name, src, query=None)
        value = d(st.sampled_from([v for v in self.vars if v.kind != "set"]))
        same = [v for v in self.vars if v.kind == "cat" and v.range == src.range]
        if role == "query":
            return self._content(name, value, query=src, key=d(st.sampled_from([src, *same])))
        sets = [v for v in self.vars if v.kind == "set" and v.range == src.range]
        query = d(st.sampled_from([src, *same, *sets]))
        return self._content(name, value, query=query, key=src)

    def _means_off_values(self) -> bool:
        return bool(self.draw(_chance(1, 2)))

    def _nullable(self, v: _Var) -> bool:
        if v.kind == "cat" and v.writable and v.name in self.queries:
            return bool(self.draw(_chance(1, 3)))  # a None query: UB in strict mode
        return super()._nullable(v)

    def _function_writer(self) -> strategies._FunctionWriter:
        return _UBFunctionWriter(self)

    def _rules_writer(self) -> strategies._RulesWriter:
        return _UBRulesWriter(self)


def _ill_values(var: _Var) -> list[Any]:
    """Values outside `var`'s range or `values` (for a table or a literal)."""
    if var.kind == "cat":
        return [var.range, var.range + 1, -1]
    if var.kind == "num":
        return [None, *([round(max(var.domain) + 1.5, 6), 7.0] if var.declared else [])]
    outside = [frozenset({var.range}), frozenset({0, var.range + 1})]
    if var.declared:
        members = range(var.range)
        subsets = [frozenset(m for m in members if mask >> m & 1) for mask in range(2**var.range)]
        outside += [s for s in subsets if s not in var.domain][:2]
    return [None, *outside]


class _UBFunctionWriter(strategies._FunctionWriter):
    """Decision trees whose leaves may write ill-typed values, raise, or compute a value
    with an operation that raises for some inputs."""

    def _leaf(self, avail: frozenset[str], indent: str) -> list[str]:
        lines = super()._leaf(avail, indent)
        if self.draw(_chance(1, 10)):
            lines.append(f"{indent}raise ValueError('boom')")
        return lines

    def _condition(self, var: _Var) -> str:
        d = self.draw
        if var.kind == "cat" and d(_chance(1, 10)):  # raises where var is 0
            k = d(st.integers(1, 12))
            return f"{k} // z[{var.name!r}] == {d(st.integers(0, k))}"
        return super()._condition(var)

    def _expr(self, var: _Var, avail: frozenset[str]) -> str:
        d = self.draw
        if d(_chance(1, 8)):
            return self._ill_typed(var, avail)
        if var.kind == "cat" and d(_chance(1, 8)):
            sources = [v for v in self._readable(avail) if v.kind in ("cat", "num")]
            return self._raising(var, d(st.sampled_from(sources)))
        return super()._expr(var, avail)

    def _ill_typed(self, var: _Var, avail: frozenset[str]) -> str:
        d = self.draw
        options = [_r(v) for v in _ill_values(var)] + ["'x'"]
        if var.kind == "cat":
            options += ["1.5", "[0]"]
            cats = [v for v in self._readable(avail) if v.kind == "cat"]
            if cats:  # ill-typed only where the sum wraps to var.range
                src = d(st.sampled_from(cats))
                z = f"z[{src.name!r}]"
                options += [f"({z} + {d(st.integers(0, 3))}) % {var.range + 1}", f"{z} - 1"]
        elif var.kind == "set":
            options.append("5")  # frozenset(5): a TypeError, so a raising path
        return d(st.sampled_from(options))

    def _raising(self, var: _Var, src: _Var) -> str:
        """A value for categorical `var` computed from `src` that raises for some values."""
        d = self.draw
        z = f"z[{src.name!r}]"
        if src.kind == "num":  # a ZeroDivisionError at 0.0; else int() of the quotient
            return f"int({d(st.integers(1, 12))} / {z}) % {var.range}"
        form = d(_uniform(0, 3))
        if form == 0:
            return f"({d(st.integers(1, 12))} // {z}) % {var.range}"
        if form == 1:
            return f"({d(st.integers(1, 12))} // ({z} - {d(st.integers(0, 3))})) % {var.range}"
        values = st.sampled_from(var.domain)
        if form == 2:  # an IndexError past its end
            table = d(st.lists(values, min_size=1, max_size=max(src.range - 1, 1)))
            return f"{_r(tuple(table))}[{z}]"
        keys = d(st.lists(st.sampled_from(src.domain), min_size=1, unique=True))
        entries = ", ".join(f"{k}: {d(values)}" for k in keys)
        return f"{{{entries}}}[{z}]"  # a KeyError off its keys


class _UBRulesWriter(strategies._RulesWriter):
    """Rule blocks that may write a variable another block writes (a possible conflict)
    and tables with ill-typed entries."""

    ill = False  # whether the block being written may have ill-typed entries

    def lines(self) -> list[str]:
        d = self.draw
        lines = ["", "mlp = pb.MLPBuilder(variables, heads)"]
        targets: list[_Var] = []
        for i in range(d(_uniform(1, 4))):
            fresh = [v for v in self.writable if v not in targets]
            if targets and (not fresh or d(_chance(1, 2))):
                target = d(st.sampled_from(targets))  # a second writer: a possible conflict
            else:
                target = d(st.sampled_from(fresh))
            targets.append(target)
            self.ill = d(_chance(1, 4))
            lines += self._block(i, target)
        raw = [self._raw_rule() for _ in range(d(_uniform(1, 2)) if d(_chance(1, 4)) else 0)]
        if not raw:
            return [*lines, "rules = mlp.rules"]
        return [*lines, f"rules = [*mlp.rules, {', '.join(raw)}]"]

    def _raw_rule(self) -> str:
        """A `Rule` written out: it may be a no-op (new == old) or ill-typed."""
        d = self.draw
        target = d(st.sampled_from(self.writable))
        others = [v for v in self.readable if v.name != target.name]
        context = d(strategies._distinct(others, d(_uniform(0, 2))))
        lhs = [(v.name, d(st.sampled_from(v.domain))) for v in context]
        old = d(st.sampled_from(target.domain))
        if d(st.booleans()):
            lhs.append((target.name, old))  # the atom on the written variable is optional
        kind = d(_uniform(0, 2))
        if kind == 0:
            new = d(st.sampled_from(target.domain))  # sometimes the old value: a no-op
        elif kind == 1:
            new = old
        else:
            extra = {"cat": ["x", 1.5], "num": ["x", 1], "set": ["x", 5]}[target.kind]
            new = d(st.sampled_from(_ill_values(target) + extra))
        return f"Rule({_r(tuple(lhs))}, {target.name!r}, {_r(old)}, {_r(new)})"

    def _new_value(self, target: _Var, values: list[Any]) -> Any:
        if self.ill and self.draw(_chance(1, 4)):
            ill = _ill_values(target) + ([5] if target.kind == "set" else [])
            return self.draw(st.sampled_from(ill))
        return super()._new_value(target, values)


@st.composite
def generated_programs(draw: Callable[[Any], Any]) -> Generated:
    """A random program that may have undefined behaviour, as the source that builds it."""
    return _UBGen(draw).run()


# --------------------------------------------------------------------------- the checks


def alta_only(what: str, fn: Callable[[], T]) -> tuple[T | None, errors.AltaError | None]:
    """(result, None), or (None, the AltaError `fn` raised). Anything else fails (a)."""
    try:
        return fn(), None
    except errors.AltaError as exc:
        return None, exc
    except Exception as exc:
        raise AssertionError(
            f"{what} raised {type(exc).__name__}, not an AltaError: {exc}\n"
            + "".join(traceback.format_exception(exc))
        ) from exc


def _quoted(msg: str, names: Any) -> list[str]:
    return [n for n in names if f"'{n}'" in msg]


def _rules_named(program: symbolic.Program, msg: str) -> list[int]:
    """Rules the message names as `#N (rule text)`, checked against the program."""
    if not isinstance(program.mlp, symbolic.RulesMLP):
        return []
    rules = program.mlp.rules
    found = [int(n) for n in re.findall(r"#(\d+) \(", msg)]
    return [n for n in found if n < len(rules) and f"#{n} ({rules[n]})" in msg]


def _names_path(msg: str) -> bool:
    """A function path: the state the function saw, or the path the compiler explored."""
    return bool(re.search(r"\(state \{|on the path \{|the path \{", msg))


def fault_unnamed(program: symbolic.Program, exc: errors.AltaError) -> str | None:
    """Why an interpreter error does not name what is at fault (None when it does)."""
    msg = str(exc)
    rules_mlp = isinstance(program.mlp, symbolic.RulesMLP)
    variables = _quoted(msg, program.vars)
    if isinstance(exc, errors.RuleConflictError):
        if len(_rules_named(program, msg)) < 2 or not variables:
            return "a rule conflict must name both rules (with their text) and the variable"
        return None
    if isinstance(exc, errors.IllTypedWriteError):
        if rules_mlp and not _rules_named(program, msg):
            return "an ill-typed rule must be named as `rule #N (text)`"
        if not rules_mlp and not _names_path(msg):
            return "an ill-typed function path must show the state it saw"
        return None if variables else "an ill-typed write must name the variable"
    if isinstance(exc, errors.UndefinedBehaviourError):
        heads = [h for h in program.head_outputs if f"head '{h}'" in msg]
        return None if heads or variables else "UB must name the head or the variable"
    if isinstance(exc, errors.UndefinedReadError):
        return None if variables else "an undefined read must name the variable"
    if type(exc) is errors.InterpreterError and "the MLP function raised" in msg:
        return None if _names_path(msg) else "a raising function path must show the state"
    return f"unexpected {type(exc).__name__} from the interpreter"


def compile_fault_unnamed(program: symbolic.Program, exc: errors.AltaError) -> str | None:
    """Why a `strict=True` CompileError does not name what is at fault (None if it does)."""
    msg = str(exc)
    known = ("ill-typed write", "raising path", "may fire together", "may average a None")
    kinds = [k for k in known if k in msg]
    if not kinds:
        return "a strict=True error must say what it refuses"
    variables = _quoted(msg, program.vars)
    if "ill-typed write" in kinds:
        if isinstance(program.mlp, symbolic.RulesMLP):
            if not _rules_named(program, msg):
                return "an ill-typed rule must be named as `rule #N (text)`"
        elif not _names_path(msg):
            return "an ill-typed function path must show the path"
        if not variables:
            return "an ill-typed write must name the variable"
    if "raising path" in kinds and not _names_path(msg):
        return "a raising path must show the path"
    if "may fire together" in kinds and not re.search(r"on '[^']+'", msg):
        return "a possible conflict must name the variable"
    if "may average a None" in kinds and not any(f"'{h}'" in msg for h in program.head_outputs):
        return "a head that may average None must be named"
    return None


#: Errors strict interpretation may report in a program that compiles with strict=True:
#: the UB the compiler cannot see (it resolves it at run time) and reads of None.
RUN_TIME_ONLY = (errors.UndefinedBehaviourError, errors.UndefinedReadError)


@attrs.define
class Outcome:
    """What `check` saw (for hypothesis events)."""

    kept: int = 0
    strict_errors: list[str] = attrs.field(factory=list)
    compile_error: str | None = None
    strict_compile_error: str | None = None


def features(program: symbolic.Program) -> list[str]:
    """What a program has that strict programs do not (for hypothesis events)."""
    found = []
    heads = program.head_outputs
    if any(name in heads for h in program.heads for name in (h.query, h.key, h.value)):
        found.append("chained heads")
    for h in program.heads:
        several = len(h.relative_position_mask) != 1
        if several and isinstance(program.vars[h.output], symbolic.CategoricalVar):
            found.append("categorical head over several positions")
            break
    if isinstance(program.mlp, symbolic.RulesMLP):
        writers: dict[str, set[tuple[str, ...]]] = {}
        for rule in program.mlp.rules:
            names = tuple(sorted({n for n, _ in rule.lhs} - {rule.var}))
            writers.setdefault(rule.var, set()).add(names)
        if any(len(w) > 1 for w in writers.values()):
            found.append("variable written by rules that test different variables")
    return found


def _kind(exc: errors.AltaError) -> str:
    """The kind of an interpreter error, for hypothesis events."""
    msg = str(exc)
    for part in ("more than one position", "is None", "not one of its values"):
        if isinstance(exc, errors.UndefinedBehaviourError) and part in msg:
            return f"UB: {part}"
    return type(exc).__name__


def _compile(program: symbolic.Program, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", alta.CompileWarning)
        return alta.compile(program, **kw)


def _cause(exc: errors.AltaError) -> errors.AltaError:
    """The CompileError a PassError wraps, or the error itself."""
    cause = exc.__cause__
    return (
        cause if isinstance(exc, errors.PassError) and isinstance(cause, errors.AltaError) else exc
    )


def check(
    program: symbolic.Program,
    seqs: Sequence[list[int]],
    max_layers: int,
    pipeline: str = "default",
    backends: Sequence[str] = ("numpy",),
) -> Outcome:
    """Run every check of the module docstring on one program and batch."""
    outcome = Outcome()
    kept: list[tuple[list[int], list[Any]]] = []
    raised: list[errors.AltaError] = []
    for seq in seqs:
        want, exc = alta_only(
            f"alta.interpret(strict=True) on {seq}",
            lambda seq=seq: alta.interpret(program, seq, max_layers=max_layers, strict=True),
        )
        if exc is None:
            kept.append((seq, want))  # type: ignore[arg-type]
            continue
        why = fault_unnamed(program, exc)
        assert why is None, f"strict interpretation of {seq}: {why}:\n{exc}"
        raised.append(exc)
        outcome.strict_errors.append(_kind(exc))
    outcome.kept = len(kept)

    lenient, exc = alta_only(
        "alta.interpret", lambda: alta.interpret(program, list(seqs), max_layers=max_layers)
    )
    if exc is not None:
        assert len(kept) < len(seqs), f"strict mode accepts {seqs} but the default raises: {exc}"
        why = fault_unnamed(program, exc)
        assert why is None, f"interpretation of {seqs}: {why}:\n{exc}"
    else:
        for seq, out in zip(seqs, lenient, strict=True):  # type: ignore[arg-type]
            want = next((w for s, w in kept if s is seq), out)
            assert out == want, f"input {seq}: strict {want} != default {out}"

    model, exc = alta_only(
        "alta.compile", lambda: _compile(program, pipeline=pipeline, max_layers=max_layers)
    )
    if exc is not None:
        cause = _cause(exc)
        outcome.compile_error = str(cause)
        assert isinstance(cause, errors.CompileError), f"alta.compile failed: {exc}"
        if EVERY_PATH_FAILS in str(cause):
            defined = [seq for seq, _ in kept if seq and max_layers]
            assert not defined, f"refused ({cause}), but the interpreter runs {defined}"
        else:
            assert any(r in str(cause) for r in UNSUPPORTED), f"alta.compile failed: {exc}"

    strict_model, strict_exc = alta_only(
        "alta.compile(strict=True)",
        lambda: _compile(program, pipeline=pipeline, max_layers=max_layers, strict=True),
    )
    if strict_exc is not None:
        cause = _cause(strict_exc)
        outcome.strict_compile_error = str(cause)
        if str(cause).startswith("strict=True:"):
            assert isinstance(cause, errors.CompileError), strict_exc
            why = compile_fault_unnamed(program, cause)
            assert why is None, f"alta.compile(strict=True): {why}:\n{cause}"
        else:  # a refusal of the whole program: the same without strict=True
            assert outcome.compile_error == str(cause), (
                f"strict=True refuses with {cause}, but without it: {outcome.compile_error}"
            )
    else:
        assert model is not None, "compiles with strict=True but not without"
        for err in raised:
            assert isinstance(err, RUN_TIME_ONLY), (
                f"compiles with strict=True, yet strict interpretation reports {err!r}"
            )
    del strict_model

    if model is None:
        return outcome
    for backend in backends:
        if backend != "numpy":
            model, exc = alta_only(
                f"alta.compile(backend={backend!r})",
                lambda backend=backend: _compile(
                    program, backend=backend, pipeline=pipeline, max_layers=max_layers
                ),
            )
            assert exc is None, f"numpy compiles, {backend} does not: {exc}"
        # Any result where behaviour is undefined, but only AltaErrors.
        alta_only(
            f"the {backend} model",
            lambda model=model: model(list(seqs), allow_unhalted=True),
        )
        if kept:
            try:
                strategies.assert_agrees(program, model, kept, max_layers)
            except AssertionError as failure:
                raise AssertionError(f"backend {backend}: {failure}") from None
    return outcome
