"""IR2, the sparse rule/head graph: explicit value domains, heads, and `var in {...}` rules.

Users write passes against `Module.variables` (name -> Variable, in layout order),
`Module.heads` and `Module.rules`. Everything is immutable; update with `attrs.evolve`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import attrs
import networkx as nx

from alta.ir.types import Kind, Level

Value: TypeAlias = Any  # int, float or frozenset[int]; None means undefined

CATEGORICAL, NUMERICAL, SET = Kind.CATEGORICAL, Kind.NUMERICAL, Kind.SET


@attrs.frozen
class Init:
    """How a variable starts: a constant, or a table indexed by token or by position."""

    source: str  # "const" | "token" | "position" | "head"
    table: tuple[Value, ...]  # one entry for "const", none for "head"

    def values(self) -> frozenset[Value]:
        return frozenset(self.table)


@attrs.frozen
class Variable:
    """A variable with its explicit domain. `nullable` when it can be None (undefined)."""

    name: str
    kind: str
    values: tuple[Value, ...]  # categorical: ints; numerical: sorted floats; set: frozensets
    init: Init
    nullable: bool = False
    range: int = 0  # categorical and set: the declared range (members of sets are below it)

    @property
    def is_head_output(self) -> bool:
        return self.init.source == "head"


@attrs.frozen
class Head:
    """Attention from `query` over `key`, reading `value` into `output` (docs/semantics.md)."""

    output: str
    query: str
    key: str
    value: str
    mask: frozenset[int] = frozenset()  # allowed offsets j - i; empty = every position


@attrs.frozen(order=True)
class Atom:
    """`var in values`. For numerical variables the values are bucket centres."""

    var: str
    values: frozenset[Value] = attrs.field(order=False)


@attrs.frozen
class Rule:
    """When every atom holds, write `var := new`.

    The old value of `var` is its atom, or any value when it has none. `dont_care_none`
    marks rules derived from a Python function: a state where one of their atoms' variables
    is None makes the interpreter raise, so such states may fire the rule or not.
    `equals` are pairs of categorical variables that must also hold one defined value
    (`%position == %b`): one condition where atoms would need a rule per shared value
    (the `fold-equalities` pass finds them; docs/encodings.md).
    """

    atoms: tuple[Atom, ...]
    var: str
    new: Value
    dont_care_none: bool = False
    equals: tuple[tuple[str, str], ...] = ()

    def reads(self) -> Iterator[str]:
        """The variables the rule tests: its atoms' and its equalities'."""
        for a in self.atoms:
            yield a.var
        for x, y in self.equals:
            yield x
            yield y

    def atom(self, var: str) -> Atom | None:
        for a in self.atoms:
            if a.var == var:
                return a
        return None

    def allows(self, var: str, candidates: frozenset[Value]) -> frozenset[Value]:
        """Which of `candidates` the rule accepts for `var`: its atom's values, or all of
        them when it tests no atom on `var`. With `var = self.var`, the old values it
        may rewrite."""
        own = self.atom(var)
        return candidates if own is None else own.values & candidates


@attrs.frozen
class Halt:
    var: str
    value: int


@attrs.frozen
class Module:
    """A program in IR2. `clears` are the head outputs reset to None after every MLP."""

    name: str
    variables: Mapping[str, Variable] = attrs.field(converter=lambda d: _FrozenDict(d))
    heads: tuple[Head, ...]
    rules: tuple[Rule, ...]
    output: str
    input_range: int
    position_range: int | None
    halt: Halt | None
    level: Level = Level.SPARSE
    #: The lowering checked its exact rules for conflicts (later passes may merge or drop
    #: the evidence, e.g. a duplicate rule), so lower-sparse-to-dense need not check again.
    conflicts_checked: bool = attrs.field(default=False, eq=False, repr=False)
    #: Variables to lay out as bipolar binary codes, with their bits (the choose-encodings
    #: pass sets them; the rest are one-hot). See docs/encodings.md.
    codes: Mapping[str, int] = attrs.field(factory=dict, converter=lambda d: _FrozenDict(d))

    @property
    def clears(self) -> tuple[str, ...]:
        return tuple(h.output for h in self.heads)

    def graph(self) -> nx.MultiDiGraph:
        """Variables, heads and rules as nodes; edges from what is read to what is written."""
        g = nx.MultiDiGraph()
        for name in self.variables:
            g.add_node(("var", name))
        for head in self.heads:
            node: tuple[str, Any] = ("head", head.output)
            for role in ("query", "key", "value"):
                g.add_edge(("var", getattr(head, role)), node, role=role)
            g.add_edge(node, ("var", head.output), role="write")
        for i, rule in enumerate(self.rules):
            node = ("rule", i)
            for read in rule.reads():
                g.add_edge(("var", read), node, role="read")
            g.add_edge(node, ("var", rule.var), role="write")
        return g

    def __str__(self) -> str:
        from alta.ir import printer

        return printer.print_sparse(self)


class _FrozenDict(dict):  # type: ignore[type-arg]
    """An insertion-ordered dict that refuses mutation and hashes by content."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("sparse.Module.variables is immutable; use attrs.evolve")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and deepcopy rebuild through the constructor, not item by item."""
        return (type(self), (dict(self),))


def fmt_value(value: Value) -> str:
    from alta.ir.symbolic import fmt_value as fmt

    return "none" if value is None else fmt(value)
