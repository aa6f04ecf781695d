"""Hypothesis strategies: small random valid alta programs, inputs for them, and the
differential check (compiled model against the interpreter) they feed.

A program is generated as Python *source* that builds it through `alta.lang`, then run
with `exec`. So a failing example prints as a literal program that can be pasted into a
regression test, and what is printed is exactly what ran.

Coverage: 2-5 categorical variables (range 1-4; constant, token-, position- or
token-and-position-initialised from random tables), 0-2 numerical variables (declared
`values` or not; pools with negatives, values below -1 and neighbours closer than 1e-2),
0-1 set variable (always a query), 1-3 heads (`v_relative` at -1/+1/-2, content heads
with optional relative masks, numerical heads with declared `output_spec` values or
inferred ones), an MLP that is a random decision tree (a Python function) or a random
rule set built with `MLPBuilder`, and an optional halt spec.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
from hypothesis import strategies as st

import alta
from alta import errors, interp, lang
from alta.ir import dense, sparse, symbolic

#: The two lowerings alone: the weight builders see unoptimised rules and every variable.
LOWER_ONLY = "lower-symbolic-to-sparse,lower-sparse-to-dense"
#: Longest input when the program has no position_range.
MAX_LENGTH = 8
#: Values that numerical pools are drawn from (negatives, below -1, zero, fractions).
BASE_FLOATS = (-3.5, -2.0, -1.25, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0)
#: A pool may also hold a neighbour this close to one of its values (below 1e-2).
CLOSE_GAPS = (0.001, 0.004, 0.009)
#: Relative masks for content heads; size one first (it never selects two positions).
MASKS = ((-1,), (1,), (0,), (), (-1, 1), (-2, -1), (0, 1))
#: Rules and branches only enumerate numerical domains up to this size.
MAX_ENUMERATED = 6


@attrs.frozen
class Generated:
    """A generated program: the source that builds it (it defines `program`; `pb` is
    `alta.lang` and `Rule` is `alta.ir.symbolic.Rule`)."""

    source: str

    def build(self) -> symbolic.Program:
        namespace: dict[str, Any] = {"pb": lang, "Rule": symbolic.Rule}
        exec(compile(self.source, "<generated program>", "exec"), namespace)
        return namespace["program"]

    def __repr__(self) -> str:
        return f"Generated(source='''\n{self.source}''')"


@attrs.define
class _Var:
    """What the generator knows of a variable while it writes the program."""

    name: str
    kind: str  # "cat" | "num" | "set"
    decl: str  # the `pb....` expression
    domain: tuple[Any, ...]  # cat: range; num: reachable floats; set: reachable sets
    range: int = 0
    declared: bool = True  # num/set: `values` given (rules can read and write it)
    head: bool = False
    safe: bool = True  # a head output that is never None (or a plain variable)
    guard: str | None = None  # for a relative head: a 0/1 position variable, 1 = defined
    nullable_ok: bool = False  # the MLP may write None to it (never read by a head)
    sink: bool = False  # numerical, no declared values, never read: may take copied numbers
    writable: bool = True


def _r(value: Any) -> str:
    """Source text of a value (floats by repr round-trip exactly; sets as frozensets)."""
    if isinstance(value, frozenset):
        return f"frozenset({{{', '.join(map(str, sorted(value)))}}})" if value else "frozenset()"
    if isinstance(value, tuple):
        inner = ", ".join(_r(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _table_fn(arg: str, table: Sequence[Any]) -> str:
    return f"lambda {arg}: {_r(tuple(table))}[{arg}]"


def means(values: Sequence[float], limit: int) -> tuple[float, ...]:
    """Every mean of 1..limit values drawn from `values` (as the compiler infers them)."""
    sums, found = {0.0}, set()
    for n in range(1, limit + 1):
        sums = {round(s + v, 12) for s in sums for v in values}
        found |= {round(s / n, 12) for s in sums}
    return tuple(sorted(found))


def thresholds(domain: Sequence[float]) -> list[float]:
    """Thresholds halfway between neighbouring values, and one past each end."""
    vals = sorted(domain)
    mids = [round((a + b) / 2, 12) for a, b in itertools.pairwise(vals)]
    return [*mids, vals[0] - 0.5, vals[-1] + 0.5]


class _Gen:
    """One program, drawn piece by piece (simple choices first, so shrinking simplifies).

    strategies_ub.py subclasses it (and the two MLP writers) through the hooks below."""

    #: Most heads a program gets.
    MAX_HEADS = 3
    #: Chance (k, n) that a categorical content head gets a one-offset mask (never multi-match).
    SINGLE_MASK = (1, 2)

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw
        self.vars: list[_Var] = []
        self.heads: list[_Var] = []
        self.head_decls: list[str] = []
        self.queries: set[str] = set()  # variables some head uses as its query
        self.offsets: dict[str, int] = {}

    # ------------------------------------------------------------------ variables

    def run(self) -> Generated:
        d = self.draw
        self.input_range = d(st.sampled_from((2, 3, 4, 1)))
        self.position_range = d(st.sampled_from((None, 4, 6, 3, 5, 2, 1)))
        for i in range(d(_uniform(2, 5))):
            self.vars.append(self._categorical(f"c{i}"))
        for i in range(d(_uniform(0, 2))):
            self.vars.append(self._numerical(f"n{i}"))
        if d(st.booleans()):
            self.vars.append(self._set("s0"))
        for j in range(d(_uniform(1, self.MAX_HEADS))):
            self.heads.append(self._head(f"h{j}", force_set=(j == 0)))
        self._guards()
        return Generated(self._source())

    def _init(self, kind: str, domain: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """(keyword arguments of the init, the values it can give) for an init kind."""
        d = self.draw
        if kind == "const":
            value = d(st.sampled_from(domain))
            return f"default={_r(value)}", (value,)
        size = self.input_range if kind in ("token", "both") else self.position_range
        table = d(st.lists(st.sampled_from(domain), min_size=size, max_size=size))
        return _table_fn("t" if kind != "position" else "p", table), tuple(table)

    def _init_kinds(self) -> list[str]:
        kinds = ["const", "token"]
        if self.position_range is not None:
            kinds += ["position", "both"]
        return kinds

    def _categorical(self, name: str) -> _Var:
        d = self.draw
        r = d(st.sampled_from((2, 3, 4, 1)))
        kind = d(st.sampled_from(self._init_kinds()))
        args, _ = self._init(kind, tuple(range(r)))
        if kind == "const":
            decl = f"pb.var({r}, {args})"
        elif kind == "token":
            decl = f"pb.input_var({r}, init_fn={args})"
        elif kind == "position":
            decl = f"pb.position_var({r}, init_fn={args})"
        else:  # both: the token wins, in the interpreter and in the compiled model
            pos, _ = self._init("position", tuple(range(r)))
            decl = f"pb.input_var({r}, init_fn={args}, position_init_fn={pos})"
        return _Var(name, "cat", decl, tuple(range(r)), range=r)

    def _pool(self) -> tuple[float, ...]:
        d = self.draw
        base = d(st.lists(st.sampled_from(BASE_FLOATS), min_size=1, max_size=3, unique=True))
        if d(st.booleans()):
            near = d(st.sampled_from(base)) + d(st.sampled_from(CLOSE_GAPS))
            base.append(round(near, 6))
        return tuple(sorted(set(base)))

    def _numerical(self, name: str) -> _Var:
        d = self.draw
        pool = self._pool()
        declared = d(st.booleans())
        kind = d(st.sampled_from(self._init_kinds()))
        args, _ = self._init(kind, pool)
        parts = [f"values={_r(pool)}"] if declared else []
        if kind == "const":
            parts.append(args)
        else:
            parts.append(f"default={_r(pool[0])}")
            if kind in ("token", "both"):
                parts.append(f"input_init_fn={args}")
            if kind in ("position", "both"):
                pos = args if kind == "position" else self._init("position", pool)[0]
                parts.append(f"position_init_fn={pos}")
        decl = f"pb.numeric_var({', '.join(parts)})"
        return _Var(name, "num", decl, pool, declared=declared)

    def _set(self, name: str) -> _Var:
        d = self.draw
        partner = d(st.sampled_from([v for v in self.vars if v.kind == "cat"]))
        r = partner.range
        subsets = [frozenset(c) for k in range(r + 1) for c in itertools.combinations(range(r), k)]
        pool = tuple(d(st.lists(st.sampled_from(subsets), min_size=1, max_size=4, unique=True)))
        declared = d(st.booleans())
        kind = d(st.sampled_from(self._init_kinds()))
        args, _ = self._init(kind, pool)
        parts = [f"range={r}"] + ([f"values={_r(pool)}"] if declared else [])
        if kind == "const":
            parts.append(args)
        else:
            parts.append(f"default={_r(pool[0])}")
            if kind in ("token", "both"):
                parts.append(f"input_init_fn={args}")
            if kind in ("position", "both"):
                pos = args if kind == "position" else self._init("position", pool)[0]
                parts.append(f"position_init_fn={pos}")
        decl = f"pb.set_var({', '.join(parts)})"
        return _Var(name, "set", decl, pool, range=r, declared=declared)

    # ------------------------------------------------------------------ heads

    def _head(self, name: str, force_set: bool) -> _Var:
        d = self.draw
        plain = [v for v in self.vars if v.kind != "set"]
        value = d(st.sampled_from(plain))
        sets = [v for v in self.vars if v.kind == "set"]
        if force_set and sets:
            return self._content(name, value, query=sets[0])
        if d(st.booleans()):
            return self._content(name, value, query=None)
        return self._relative(name, value)

    def _relative(self, name: str, value: _Var) -> _Var:
        offset = self.draw(st.sampled_from((-1, 1, -2)))
        self.head_decls.append(f"{name!r}: pb.v_relative({value.name!r}, {offset})")
        out = attrs.evolve(value, name=name, decl="", head=True, safe=False, writable=False)
        if value.kind == "num":
            out.domain = means(value.domain, 1)
        out.guard = f"g_{name}" if offset < 0 and self.position_range is not None else None
        self.offsets[name] = offset
        return out

    def _content(self, name: str, value: _Var, query: _Var | None, key: _Var | None = None) -> _Var:
        """A `qkv` head; the query and the key are drawn unless given (a key needs a query)."""
        d = self.draw
        cats = [v for v in self.vars if v.kind == "cat"]
        if query is None:
            key = d(st.sampled_from(cats))
            others = [v for v in cats if v.range == key.range and v is not key]
            query = key if not others or d(st.booleans()) else d(st.sampled_from(others))
        elif key is None:
            key = d(st.sampled_from([v for v in cats if v.range == query.range]))
        if value.kind == "cat" and d(_chance(*self.SINGLE_MASK)):
            mask = frozenset(d(st.sampled_from([m for m in MASKS if len(m) == 1])))
        else:
            mask = frozenset(d(st.sampled_from(MASKS)))
        limit = len(mask) if mask else (self.position_range or MAX_LENGTH)
        if mask and self.position_range is not None:
            limit = min(limit, self.position_range)
        out = attrs.evolve(value, name=name, decl="", head=True, writable=False)
        args = [repr(query.name), repr(key.name), repr(value.name)]
        if mask:
            args.append(f"relative_position_mask={{{', '.join(map(str, sorted(mask)))}}}")
        self_match = query is key and (not mask or 0 in mask)
        if value.kind == "num":
            out.domain = means(value.domain, limit)
            inferable = len(mask) == 1 or (
                not value.declared and (bool(mask) or self.position_range is not None)
            )
            if not inferable and value.declared and self._means_off_values():
                out.domain = value.domain  # the head takes the value's `values`: UB off them
                out.declared = True
            elif not inferable or d(st.booleans()):
                args.append(f"output_spec=pb.numeric_var(values={_r(out.domain)})")
                out.declared = True
            else:
                out.declared = value.declared and len(mask) == 1
            out.safe = self_match
        else:
            out.safe = self_match and mask == frozenset({0})
        self.head_decls.append(f"{name!r}: pb.qkv({', '.join(args)})")
        self.queries.add(query.name)
        return out

    def _guards(self) -> None:
        """A 0/1 position variable per guardable relative head: 1 where it is defined."""
        for head in self.heads:
            if head.guard is None or not self.draw(st.booleans()):
                head.guard = None
                continue
            offset = self.offsets[head.name]
            table = [int(p + offset >= 0) for p in range(self.position_range or 0)]
            decl = f"pb.position_var(2, init_fn={_table_fn('p', table)})"
            self.vars.append(_Var(head.guard, "cat", decl, (0, 1), range=2, writable=False))

    # ------------------------------------------------------------------ program text

    def _source(self) -> str:
        d = self.draw
        for v in self.vars:
            v.nullable_ok = self._nullable(v)
        lines = ["variables = {"]
        lines += [f"    {v.name!r}: {v.decl}," for v in self.vars]
        lines += ["}", "heads = {"]
        lines += [f"    {h}," for h in self.head_decls]
        lines += ["}"]
        outputs = (
            [v for v in self.vars if v.kind == "cat"]
            + [v for v in self.vars if v.kind != "cat"]
            + self.heads
        )
        # Mostly a plain categorical variable (the MLP writes it most); now and then any.
        plain_cats = [v for v in self.vars if v.kind == "cat" and v.writable]
        output = d(st.sampled_from(outputs if d(_chance(1, 4)) else plain_cats))
        self.output = output
        halt = "None"
        if d(st.booleans()):
            hv = d(st.sampled_from([v for v in self.vars if v.kind == "cat"]))
            halt = f"pb.halt_spec({hv.name!r}, {d(st.integers(0, hv.range - 1))})"
        tail = (
            f"output_name={output.name!r}, input_range={self.input_range}, "
            f"position_range={self.position_range}, halt={halt}"
        )
        if d(st.sampled_from(("rules", "function"))) == "function":
            lines += self._function_writer().lines()
            lines.append(f"program = pb.program_spec(variables, heads, ffn, {tail})")
        else:
            lines += self._rules_writer().lines()
            lines.append(f"program = pb.program_spec_from_rules(variables, heads, rules, {tail})")
        return "\n".join(lines) + "\n"

    def _means_off_values(self) -> bool:
        """Whether a numerical head whose means are not among its value's `values` may go
        without an `output_spec` (its means are then UB)."""
        return False

    def _nullable(self, v: _Var) -> bool:
        """Whether the MLP may write None to `v`. Only categorical variables can be set to
        None (None is ill-typed for others). A None key never matches and a None value reads
        as None, but a None query is UB."""
        return v.kind == "cat" and v.writable and v.name not in self.queries

    def _function_writer(self) -> _FunctionWriter:
        return _FunctionWriter(self)

    def _rules_writer(self) -> _RulesWriter:
        return _RulesWriter(self)

    def _read_by_head(self, v: _Var) -> bool:
        return any(f"{v.name!r}" in decl.split(":", 1)[1] for decl in self.head_decls)


class _FunctionWriter:
    """A random decision tree as a Python MLP function `ffn(z)`."""

    def __init__(self, gen: _Gen) -> None:
        self.gen = gen
        self.draw = gen.draw
        for v in gen.vars:
            # An undeclared numerical variable no head and no branch reads may be given
            # numbers read elsewhere (a head's mean): its domain is inferred from writes.
            v.sink = (
                v.kind == "num"
                and not v.declared
                and not gen._read_by_head(v)
                and bool(self.draw(_chance(1, 2)))
            )
        self.plain = [v for v in gen.vars if not v.sink]
        self.writable = _output_first(gen, [v for v in gen.vars if v.writable])

    def lines(self) -> list[str]:
        body = self._node(0, frozenset(h.name for h in self.gen.heads if h.safe))
        return ["", "", "def ffn(z):", *(body or ["    pass"])]

    def _readable(self, avail: frozenset[str]) -> list[_Var]:
        heads = [h for h in self.gen.heads if h.name in avail]
        if self.draw(_chance(1, 4)):  # now and then an unguarded read (may be None)
            heads = self.gen.heads
        return self.plain + heads

    def _node(self, depth: int, avail: frozenset[str], indent: str = "    ") -> list[str]:
        d = self.draw
        guardable = [h for h in self.gen.heads if h.guard and h.name not in avail]
        # 0: a leaf; 1-3: an if on a variable; 4-5: a guard, then a read of a relative head.
        choice = d(_uniform(0, 5)) if depth < 3 else 0
        if choice >= 4 and guardable:
            head = d(st.sampled_from(guardable))
            cond = f"z[{head.guard!r}] == 1"
            then = self._node(depth + 1, avail | {head.name}, indent + "    ")
            other = self._node(depth + 1, avail, indent + "    ")
        elif choice >= 1:
            var = d(st.sampled_from(self._readable(avail)))
            cond = self._condition(var)
            then = self._node(depth + 1, avail, indent + "    ")
            other = self._node(depth + 1, avail, indent + "    ")
        else:
            return self._leaf(avail, indent)
        lines = [f"{indent}if {cond}:", *(then or [f"{indent}    pass"])]
        if other:
            lines += [f"{indent}else:", *other]
        return lines

    def _condition(self, var: _Var) -> str:
        d = self.draw
        z = f"z[{var.name!r}]"
        if var.kind == "cat":
            op = d(st.sampled_from(("==", "!=", "in")))
            if op == "in":
                picks = d(
                    st.lists(st.sampled_from(var.domain), min_size=1, max_size=2, unique=True)
                )
                return f"{z} in {_r(tuple(picks))}"
            return f"{z} {op} {d(st.sampled_from(var.domain))}"
        if var.kind == "num":
            # Equality only on exact values; a head's mean is compared by threshold.
            if not var.head and d(st.booleans()):
                return f"{z} == {_r(d(st.sampled_from(var.domain)))}"
            return f"{z} > {_r(d(st.sampled_from(thresholds(var.domain))))}"
        if d(st.booleans()):
            return f"{d(st.integers(0, var.range - 1))} in {z}"
        return f"{z} == {_r(d(st.sampled_from(var.domain)))}"

    def _leaf(self, avail: frozenset[str], indent: str) -> list[str]:
        d = self.draw
        count = d(_uniform(0, 2)) if self.writable else 0
        targets = d(_distinct(self.writable, count))
        lines = []
        for var in targets:
            lines.append(f"{indent}z[{var.name!r}] = {self._expr(var, avail)}")
        return lines

    def _expr(self, var: _Var, avail: frozenset[str]) -> str:
        d = self.draw
        choices = list(var.domain)
        if var.nullable_ok:
            choices.append(None)
        if var.sink:
            sources = [v for v in self._readable(avail) if v.kind == "num"]
            if sources and d(_chance(1, 2)):
                return f"z[{d(st.sampled_from(sources)).name!r}]"
        if var.kind == "cat":
            sources = [v for v in self._readable(avail) if v.kind == "cat"]
            if d(_chance(1, 4)):
                src = d(st.sampled_from(sources))
                return f"(z[{src.name!r}] + {d(st.integers(0, 3))}) % {var.range}"
        return _r(d(st.sampled_from(choices)))


class _RulesWriter:
    """Random rules through `MLPBuilder`: each written variable gets one `get` loop, so
    rules that write one variable are disjoint and never fire together."""

    def __init__(self, gen: _Gen) -> None:
        self.gen = gen
        self.draw = gen.draw
        everything = gen.vars + gen.heads
        self.readable = [
            v
            for v in everything
            if v.kind == "cat" or (v.declared and len(v.domain) <= MAX_ENUMERATED)
        ]
        self.writable = _output_first(
            gen, [v for v in gen.vars if v.writable and (v.kind == "cat" or v.declared)]
        )
        # Heads first: reading them is what exercises attention.
        self.readable.sort(key=lambda v: not v.head)

    def lines(self) -> list[str]:
        d = self.draw
        lines = ["", "mlp = pb.MLPBuilder(variables, heads)"]
        targets = d(_distinct(self.writable, d(_uniform(1, 3))))
        for i, target in enumerate(targets):
            lines += self._block(i, target)
        return [*lines, "rules = mlp.rules"]

    def _block(self, i: int, target: _Var) -> list[str]:
        d = self.draw
        heads = [v for v in self.readable if v.head]
        if heads and d(st.booleans()):  # lean on reading a head: that exercises attention
            first = d(st.sampled_from(heads))
            rest = [v for v in self.readable if v is not first]
            context = [first, *d(_distinct(rest, d(_uniform(0, 1))))]
        else:
            context = d(_distinct(self.readable, d(_uniform(0, 2))))
        values = list(target.domain) + ([None] if target.nullable_ok else [])
        table = {}
        for combo in itertools.product(*(v.domain for v in context)):
            if d(_chance(3, 4)):
                table[combo if len(combo) != 1 else combo[0]] = self._new_value(target, values)
        if not context:
            if not table:
                return []
            return [f"mlp.set({target.name!r}, {_r(table[()])})"]
        names = [f"v_{v.name}" for v in context]
        key = ", ".join(names) if len(names) > 1 else names[0]
        entries = ", ".join(f"{_r(k)}: {_r(v)}" for k, v in table.items())
        get = ", ".join(repr(v.name) for v in context)
        body = [
            f"for {key} in mlp.get({get}):",
            f"    if ({key}) in T{i}:",
            f"        mlp.set({target.name!r}, T{i}[({key})])",
        ]
        return [f"T{i} = {{{entries}}}", *self._where_equal(i, target, context, body)]

    def _where_equal(self, i: int, target: _Var, context: list[_Var], body: list[str]) -> list[str]:
        """Now and then, `body` only where two other variables hold one value, spelled as
        the paper's programs do (`if position == b`): what `fold-equalities` folds."""
        d = self.draw
        others = [
            v for v in self.readable if v.kind == "cat" and v is not target and v not in context
        ]
        pairs = [
            (x, y)
            for x, y in itertools.combinations(others, 2)
            if len(set(x.domain) & set(y.domain)) >= 2
        ]
        if not pairs or not d(_chance(1, 2)):
            return body
        x, y = d(st.sampled_from(pairs))
        return [
            f"for e{i}_x, e{i}_y in mlp.get({x.name!r}, {y.name!r}):",
            f"    if e{i}_x == e{i}_y:",
            *(f"        {line}" for line in body),
        ]

    def _new_value(self, target: _Var, values: list[Any]) -> Any:
        """A table entry: the value a rule writes to `target`."""
        return self.draw(st.sampled_from(values))


def _uniform(lo: int, hi: int) -> st.SearchStrategy[int]:
    """An int in [lo, hi], uniformly (st.integers leans on lo); shrinks towards lo."""
    return st.sampled_from(range(lo, hi + 1))


def _chance(k: int, n: int) -> st.SearchStrategy[bool]:
    """True with probability k/n; shrinks towards False."""
    return st.sampled_from([False] * (n - k) + [True] * k)


def _distinct(variables: list[_Var], count: int) -> st.SearchStrategy[list[_Var]]:
    """Up to `count` distinct variables (fewer when there are not that many)."""
    return st.permutations(variables).map(lambda p: p[:count])


def _output_first(gen: _Gen, variables: list[_Var]) -> list[_Var]:
    """`variables` with the program's output first (where shrinking and sampling lean)."""
    return sorted(variables, key=lambda v: v.name != gen.output.name)


@st.composite
def generated_programs(draw: Callable[[Any], Any]) -> Generated:
    """A random valid program, as the source that builds it (see `Generated`)."""
    return _Gen(draw).run()


def programs() -> st.SearchStrategy[symbolic.Program]:
    """Random small valid programs (see the module docstring for what they cover)."""
    return generated_programs().map(lambda g: g.build())


def inputs(program: symbolic.Program) -> st.SearchStrategy[list[int]]:
    """Random token sequences of length 0..position_range (0..MAX_LENGTH without one)."""
    limit = program.position_range if program.position_range is not None else MAX_LENGTH
    token = st.integers(0, program.input_range - 1)
    # Longer inputs are likelier (weight n for length n), and shrinking goes to length 1.
    length = st.sampled_from([n for n in range(1, limit + 1) for _ in range(n)] + [0])
    return length.flatmap(lambda n: st.lists(token, min_size=n, max_size=n))


# --------------------------------------------------------------------------- the oracle


def expected(
    program: symbolic.Program, seqs: Sequence[list[int]], max_layers: int
) -> tuple[list[tuple[list[int], list[Any]]], list[str]]:
    """(input, interpreter output) for every input strict mode accepts, and why the others
    were skipped (undefined behaviour, or an MLP function reading None)."""
    kept: list[tuple[list[int], list[Any]]] = []
    skipped: list[str] = []
    for seq in seqs:
        try:
            kept.append((seq, alta.interpret(program, seq, max_layers=max_layers, strict=True)))
        except errors.UndefinedBehaviourError:
            skipped.append("undefined behaviour")
        except errors.UndefinedReadError:
            skipped.append("undefined read")
    return kept, skipped


def outputs_agree(program: symbolic.Program, got: list[Any], want: list[Any]) -> bool:
    """Equal outputs; numbers up to float32 rounding (None only matches None)."""
    if len(got) != len(want):
        return False
    numerical = isinstance(program.vars[program.output], symbolic.NumericalVar)
    for g, w in zip(got, want, strict=True):
        if g is None or w is None or not numerical:
            if g != w:
                return False
        elif not math.isclose(g, w, rel_tol=1e-5, abs_tol=1e-6):
            return False
    return True


def assert_agrees(
    program: symbolic.Program,
    model: Any,
    kept: Sequence[tuple[list[int], list[Any]]],
    max_layers: int,
) -> None:
    """The compiled model gives the interpreter's outputs (as a batch and alone), and every
    variable decodes to the interpreter's value after the embedding and after each layer."""
    batch = [seq for seq, _ in kept]
    for (seq, want), got in zip(kept, model(batch, allow_unhalted=True), strict=True):
        assert outputs_agree(program, got, want), (
            f"input {seq}: compiled {got} != interpreter {want}"
        )
    seq, want = kept[-1]
    got = model(seq, allow_unhalted=True)
    assert outputs_agree(program, got, want), f"input {seq} alone: {got} != {want}"
    states_agree(program, model, batch, max_layers)


def states_agree(
    program: symbolic.Program, model: Any, batch: list[list[int]], max_layers: int
) -> None:
    """Every variable with residual dims decodes to the interpreter's value, at every real
    position, after the embedding and after each layer."""
    if not any(batch):
        return
    residuals = model.residuals(batch, max_layers)
    for layer in range(max_layers + 1):
        state = interp.run(program, batch, max_layers=layer).state
        for slot in model.ir.layout:
            if slot.width:  # a folded constant has no dims to check
                _slot_agrees(
                    slot, dense.decode(slot, residuals[layer]), state[slot.var], batch, layer
                )


def _slot_agrees(
    slot: dense.Slot, got: np.ndarray, want: np.ndarray, batch: list[list[int]], layer: int
) -> None:
    for b, seq in enumerate(batch):
        g, w = got[b, : len(seq)], want[b, : len(seq)]
        if slot.kind == sparse.NUMERICAL:
            if slot.width == 1:  # no "defined" dim: None is 0 there (docs/encodings.md)
                w = np.where(np.isnan(w), 0.0, w)
            same = bool(np.isclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True).all())
        else:
            same = np.array_equal(g, w)
        assert same, (
            f"input {seq}, after {layer} layer(s): variable '{slot.var}' is {g.tolist()} in "
            f"the compiled model but {w.tolist()} in the interpreter"
        )
