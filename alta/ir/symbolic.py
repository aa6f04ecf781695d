"""IR1, the symbolic program: variables, attention heads, an MLP and a halting test.

Everything here is immutable (`attrs.frozen`). The authoring API (`alta.lang`) builds these
objects; the interpreter runs them; `lower-symbolic-to-sparse` turns them into IR2.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, TypeAlias

import attrs
import numpy as np

from alta.errors import IllTypedWriteError, ProgramError
from alta.ir.types import Kind

InitFn: TypeAlias = Callable[[int], Any] | None
Value: TypeAlias = Any  # int (categorical), float (numerical), frozenset[int] (set) or None

#: Name of the constant variable that `v_relative` heads use as query and key.
RELATIVE_QK = "relative_qk"

#: Names a user's variable may not take (as in the paper's builder).
RESERVED_NAMES = (RELATIVE_QK,)

#: Sets are held as bitmasks in int64 arrays by the interpreter.
MAX_SET_RANGE = 62

#: An int above this has no float: float() would raise OverflowError.
_MAX_FLOAT_INT = int(sys.float_info.max)


@attrs.frozen
class CategoricalVar:
    """An int in [0, range), or None; one-hot in the residual stream."""

    range: int
    default: int | None = 0
    input_init_fn: InitFn = attrs.field(default=None, eq=False)
    position_init_fn: InitFn = attrs.field(default=None, eq=False)
    kind: ClassVar[Kind] = Kind.CATEGORICAL

    def domain(self) -> tuple[Value, ...]:
        return tuple(range(self.range))


@attrs.frozen
class NumericalVar:
    """A float, or None; one residual dimension. Rules read it by bucket of `values`."""

    values: tuple[float, ...] | None = None
    default: float | None = 0.0
    input_init_fn: InitFn = attrs.field(default=None, eq=False)
    position_init_fn: InitFn = attrs.field(default=None, eq=False)
    kind: ClassVar[Kind] = Kind.NUMERICAL

    def domain(self) -> tuple[Value, ...]:
        return tuple(self.values or ())


@attrs.frozen
class SetVar:
    """A frozenset of ints below `range`, or None; multi-hot in the residual stream."""

    range: int
    values: tuple[frozenset[int], ...] | None = None
    default: frozenset[int] | None = frozenset()
    input_init_fn: InitFn = attrs.field(default=None, eq=False)
    position_init_fn: InitFn = attrs.field(default=None, eq=False)
    kind: ClassVar[Kind] = Kind.SET

    def domain(self) -> tuple[Value, ...]:
        return tuple(self.values or ())


Var: TypeAlias = CategoricalVar | NumericalVar | SetVar


@attrs.frozen
class Head:
    """Attention: at each position, read `value` where `key` is in the query set.

    The output variable `output` is categorical when `value` is, numerical when `value`
    is; it lives for one layer (the MLP of that layer reads it, then it is cleared).
    `relative_position_mask`, when not empty, keeps only positions j with j - i in it.
    """

    output: str
    query: str
    key: str
    value: str
    relative_position_mask: frozenset[int] = frozenset()


@attrs.frozen
class Halt:
    """A sequence halts when every position holds `var == value`."""

    var: str
    value: int = 1


@attrs.frozen
class Rule:
    """`lhs -> var: old -> new`. The lhs is a conjunction of `name == value` atoms.

    Numerical atoms match by bucket; the atom on `var` itself always equals `old`.
    """

    lhs: tuple[tuple[str, Value], ...]
    var: str
    old: Value
    new: Value

    def __str__(self) -> str:
        atoms = ", ".join(f"{n} == {_fmt(v)}" for n, v in self.lhs)
        return f"{atoms} -> {self.var}: {_fmt(self.old)} -> {_fmt(self.new)}"


@attrs.frozen
class FunctionMLP:
    """The MLP as a Python function `fn(z)` that reads `z[name]` and writes `z[name] = v`."""

    fn: Callable[[Any], None] = attrs.field(eq=False)


@attrs.frozen
class RulesMLP:
    """The MLP as explicit transition rules."""

    rules: tuple[Rule, ...]


MLP: TypeAlias = FunctionMLP | RulesMLP


@attrs.frozen
class Program:
    """A symbolic program. `variables` holds every variable, head outputs included."""

    name: str
    variables: tuple[tuple[str, Var], ...]
    heads: tuple[Head, ...]
    mlp: MLP
    output: str
    input_range: int
    position_range: int | None = None
    halt: Halt | None = None

    # Derived once: the interpreter consults both on every layer.
    vars: Mapping[str, Var] = attrs.field(init=False, eq=False, repr=False)
    head_outputs: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    #: What later stages derive from the program alone and keep with it (the
    #: interpreter's rule table), so it is built once per program and dies with it.
    derived: dict[str, Any] = attrs.field(init=False, factory=dict, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "vars", dict(self.variables))
        object.__setattr__(self, "head_outputs", frozenset(h.output for h in self.heads))

    def __str__(self) -> str:
        from alta.ir import printer

        return printer.print_symbolic(self)


# --------------------------------------------------------------------------- values


def bucket_edges(values: tuple[float, ...]) -> tuple[float, ...]:
    """Edges between the buckets of sorted `values`: the midpoints of neighbours."""
    return tuple((a + b) / 2 for a, b in itertools.pairwise(values))


def bucket_index(values: tuple[float, ...], x: float) -> int:
    """The bucket of `x`: bucket i is (edge[i-1], edge[i]]; a tie goes to the lower bucket."""
    for i, edge in enumerate(bucket_edges(values)):
        if x <= edge:
            return i
    return len(values) - 1


def value_order(value: Value) -> tuple[Any, ...]:
    """The one order of values wherever they are listed (domains, printed atoms, MLP
    units): None first, then numbers by size, then sets by size and then members."""
    if value is None:
        return (0,)
    if isinstance(value, frozenset):
        return (2, len(value), tuple(sorted(value)))
    return (1, value)


def normalise(var: Var, value: Value) -> Value:
    """Coerce numpy scalars to Python ones, bools to ints, ints to floats for numerical
    variables, iterables to frozensets."""
    if value is None:
        return None
    if isinstance(value, np.generic):  # np.int64(1) is 1, as a user writing it means
        value = value.item()
    if isinstance(var, CategoricalVar):
        return int(value) if isinstance(value, bool | int) else value
    if isinstance(var, NumericalVar):
        if isinstance(value, bool | int) and abs(value) > _MAX_FLOAT_INT:
            return value  # no float holds it: left for `value_error` to name
        return float(value) if isinstance(value, bool | int | float) else value
    if isinstance(value, frozenset) or not isinstance(value, Iterable):
        return value  # a non-iterable is left for `value_error` to name
    try:
        return frozenset(value)
    except TypeError:  # unhashable members
        return value


def value_error(var: Var, value: Value) -> str | None:
    """Why `value` is not a valid value of `var`, or None when it is."""
    if value is None:
        return None
    if isinstance(var, CategoricalVar):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{value!r} is not an int"
        if not 0 <= value < var.range:
            return f"{value!r} is outside range({var.range})"
        return None
    if isinstance(var, NumericalVar):
        if not isinstance(value, float) or math.isnan(value):
            return f"{value!r} is not a float"
        if math.isinf(value):  # no encoding holds it: the model would compute NaN
            return f"{value!r} is not a finite float"
        if var.values is not None and value not in var.values:
            return f"{value!r} is not one of its values {_fmt(var.values)}"
        return None
    if not isinstance(value, frozenset) or not all(isinstance(m, int) for m in value):
        return f"{value!r} is not a frozenset of ints"
    if any(not 0 <= m < var.range for m in value):
        return f"{_fmt(value)} has a member outside range({var.range})"
    if var.values is not None and value not in var.values:
        return f"{_fmt(value)} is not one of its values"
    return None


def write_error(var: Var, value: Value) -> str | None:
    """Why an MLP write of `value` to `var` is ill-typed, or None when it is fine."""
    if value is None and not isinstance(var, CategoricalVar):
        return f"None, but only categorical variables can be set to None (it is {var.kind})"
    return value_error(var, value)


def checked_write(program: Program, name: str, value: Value) -> Value:
    """`value` as variable `name` will hold it after an MLP write. A write to an unknown
    variable or a head output is a `ProgramError`; an ill-typed value, an
    `IllTypedWriteError`."""
    var = program.vars.get(name)
    if var is None:
        raise ProgramError(f"MLP function writes unknown variable '{name}'")
    if name in program.head_outputs:
        raise ProgramError(f"MLP function writes head output '{name}', which is read-only")
    value = normalise(var, value)
    why = write_error(var, value)
    if why:
        raise IllTypedWriteError(f"the MLP function writes '{name}' := {why}")
    return value


def init_table(
    program: Program, name: str, positions: int | None = None
) -> tuple[str, tuple[Value, ...]]:
    """How variable `name` starts: ("head", ()), ("token", one value per input token),
    ("position", one value per position: `positions`, else the program's position_range)
    or ("const", (default,)). The one place init functions are evaluated."""
    var = program.vars[name]
    if name in program.head_outputs:
        return "head", ()
    if var.input_init_fn is not None:
        fn = var.input_init_fn
        return "token", tuple(_init(name, var, fn, "token", t) for t in range(program.input_range))
    if var.position_init_fn is not None:
        fn, size = var.position_init_fn, program.position_range if positions is None else positions
        return "position", tuple(_init(name, var, fn, "position", p) for p in range(size or 0))
    return "const", (var.default,)


def _init(name: str, var: Var, fn: Callable[[int], Any], source: str, index: int) -> Value:
    """`fn(index)`, normalised; an init function that raises makes the program malformed
    (it is called for every token and position when the program is built)."""
    try:
        value = fn(index)
    except Exception as exc:  # any bug in user code: name it, never crash bare
        kind = "input_init_fn" if source == "token" else "position_init_fn"
        raise ProgramError(
            f"variable '{name}': {kind} raises {type(exc).__name__}: {exc} for {source} {index}"
        ) from exc
    return normalise(var, value)


def iter_inits(program: Program) -> Iterator[tuple[str, str, int, Value]]:
    """Yield (variable, 'token'|'position', index, value) for every init function result."""
    for name, _ in program.variables:
        source, table = init_table(program, name)
        if source in ("token", "position"):
            for index, value in enumerate(table):
                yield name, source, index, value


def _fmt(value: Value) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(str(m) for m in sorted(value)) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value)
    return str(value)


fmt_value = _fmt
