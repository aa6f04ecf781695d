"""The authoring API, with the names and keyword arguments of ALTA's `program_builder`.

A program written for the paper's builder module runs here after changing only its
import to `from alta import lang as pb`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
import numpy as np

from alta.errors import ProgramError
from alta.ir import symbolic, verify

__all__ = [
    "AttentionHead",
    "MLPBuilder",
    "halt_spec",
    "input_var",
    "numeric_var",
    "position_var",
    "program_spec",
    "program_spec_from_rules",
    "qkv",
    "set_var",
    "v_relative",
    "var",
]


def _identity(x: int) -> int:
    return x


def var(var_range: int, default: int | None = 0) -> symbolic.CategoricalVar:
    """A categorical variable that starts at `default` everywhere."""
    return symbolic.CategoricalVar(range=_int(var_range), default=default)


def input_var(
    var_range: int, init_fn: Callable[[int], Any] | None = None, **kw: Any
) -> symbolic.CategoricalVar:
    """A categorical variable initialised from the token (identity by default)."""
    return symbolic.CategoricalVar(range=_int(var_range), input_init_fn=init_fn or _identity, **kw)


def position_var(
    var_range: int, init_fn: Callable[[int], Any] | None = None, **kw: Any
) -> symbolic.CategoricalVar:
    """A categorical variable initialised from the position (identity by default)."""
    return symbolic.CategoricalVar(
        range=_int(var_range), position_init_fn=init_fn or _identity, **kw
    )


def numeric_var(
    values: Any = None,
    default: float | None = 0.0,
    input_init_fn: Callable[[int], Any] | None = None,
    position_init_fn: Callable[[int], Any] | None = None,
) -> symbolic.NumericalVar:
    """A numerical variable; rules read it by bucket of the sorted `values`. The default
    may be None only when an init function gives the start values (it is then never
    read): a number cannot start undefined, only categorical variables can."""
    vals = None if values is None else tuple(_number(v, "a value") for v in _items(values))
    return symbolic.NumericalVar(
        values=vals,
        default=None if default is None else _number(default, "the default"),
        input_init_fn=input_init_fn,
        position_init_fn=position_init_fn,
    )


def _number(value: Any, what: str) -> float:
    if not isinstance(value, bool | int | float | np.integer | np.floating):
        raise ProgramError(f"numeric_var: {what} {value!r} is not a number")
    number = symbolic.normalise(symbolic.NumericalVar(), value)
    if not isinstance(number, float) or not math.isfinite(number):
        raise ProgramError(f"numeric_var: {what} {value!r} is not a finite number")
    return number


def _items(values: Any, what: str = "numeric_var: values") -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ProgramError(f"{what} must be a list, got {values!r}")
    return list(values)


def _int(value: Any) -> Any:
    """A numpy int as a Python int; anything else as given, for the verifier to name."""
    return int(value) if isinstance(value, np.integer) else value


def set_var(
    range: int = 32,
    values: Any = None,
    default: Any = frozenset(),
    input_init_fn: Callable[[int], Any] | None = None,
    position_init_fn: Callable[[int], Any] | None = None,
) -> symbolic.SetVar:
    """A set variable (a frozenset of ints below `range`); usable as an attention query.
    As for `numeric_var`, the default may be None only when an init function is given."""
    vals = None if values is None else _distinct_sets(values)
    return symbolic.SetVar(
        range=_int(range),
        values=vals,
        default=None if default is None else _int_set(default, "set_var: the default"),
        input_init_fn=input_init_fn,
        position_init_fn=position_init_fn,
    )


def _int_set(value: Any, what: str) -> frozenset[int]:
    """`value` (any iterable of ints) as a frozenset; numpy ints become ints."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ProgramError(f"{what} {value!r} is not a set of ints")
    members = [_int(m) for m in value]
    if not all(isinstance(m, int) and not isinstance(m, bool) for m in members):
        raise ProgramError(f"{what} {value!r} is not a set of ints")
    return frozenset(members)


def _distinct_sets(values: Any) -> tuple[frozenset[int], ...]:
    """Each value once, in the given order; a set of values in a fixed (sorted) order."""
    sets = [_int_set(v, "set_var: the value") for v in _items(values, "set_var: values")]
    if isinstance(values, set | frozenset):
        sets.sort(key=symbolic.value_order)
    return tuple(dict.fromkeys(sets))


@attrs.frozen
class AttentionHead:
    """A head before it is given its output name (the key of the `heads` dict)."""

    query: str
    key: str
    value: str
    relative_position_mask: frozenset[int] = frozenset()
    output_spec: symbolic.Var | None = None


def qkv(
    query: str,
    key: str,
    value: str,
    relative_position_mask: Any = frozenset(),
    output_spec: symbolic.Var | None = None,
) -> AttentionHead:
    """Read `value` at the positions whose `key` is in the query set; with a mask, only at
    the offsets j - i it holds (a set, list or tuple of ints)."""
    for role, name in (("query", query), ("key", key), ("value", value)):
        if not isinstance(name, str):
            raise ProgramError(f"qkv: {role} {name!r} is not a variable name (a string)")
    mask = _int_set(relative_position_mask, "qkv: relative_position_mask")
    return AttentionHead(query, key, value, mask, output_spec)


def v_relative(value: str, position: int) -> AttentionHead:
    """Read `value` at the position `position` steps away (None past the sequence edge)."""
    return qkv(symbolic.RELATIVE_QK, symbolic.RELATIVE_QK, value, frozenset({position}))


def halt_spec(halt_var: str, halt_value: int = 1) -> symbolic.Halt:
    """Halt a sequence once every position holds `halt_var == halt_value`."""
    value = int(halt_value) if isinstance(halt_value, bool | np.integer) else halt_value
    return symbolic.Halt(halt_var, value)


def program_spec(
    variables: Mapping[str, symbolic.Var],
    heads: Mapping[str, AttentionHead],
    ffn_fn: Callable[[Any], None],
    output_name: str,
    input_range: int,
    position_range: int | None = None,
    halt: symbolic.Halt | None = None,
    generate_rules: bool = True,
    name: str | None = None,
) -> symbolic.Program:
    """A program whose MLP is a Python function.

    `generate_rules` is accepted for compatibility; rules are always derived lazily, by
    exploring only the paths the function takes, when the program is compiled.
    """
    del generate_rules
    if not callable(ffn_fn):
        raise ProgramError(f"ffn_fn must be a function of the state, got {ffn_fn!r}")
    return _program(
        variables,
        heads,
        symbolic.FunctionMLP(ffn_fn),
        output_name,
        input_range,
        position_range,
        halt,
        str(name or getattr(ffn_fn, "__name__", "program")),
    )


def program_spec_from_rules(
    variables: Mapping[str, symbolic.Var],
    heads: Mapping[str, AttentionHead],
    rules: Any,
    output_name: str,
    input_range: int,
    position_range: int | None = None,
    halt: symbolic.Halt | None = None,
    name: str = "program",
) -> symbolic.Program:
    """A program whose MLP is a list of rules, e.g. `MLPBuilder(...).rules`."""
    mlp = symbolic.RulesMLP(tuple(_items(rules, "rules")))
    return _program(variables, heads, mlp, output_name, input_range, position_range, halt, name)


def _program(
    variables: Mapping[str, symbolic.Var],
    heads: Mapping[str, AttentionHead],
    mlp: symbolic.MLP,
    output_name: str,
    input_range: int,
    position_range: int | None,
    halt: symbolic.Halt | None,
    name: str,
) -> symbolic.Program:
    program = symbolic.Program(
        name=name,
        variables=tuple(all_variables(variables, heads).items()),
        heads=tuple(
            symbolic.Head(out, h.query, h.key, h.value, h.relative_position_mask)
            for out, h in heads.items()
        ),
        mlp=mlp,
        output=output_name,
        input_range=_int(input_range),
        position_range=_int(position_range),
        halt=halt,
    )
    return verify.verify_symbolic(program)


def all_variables(
    variables: Mapping[str, symbolic.Var], heads: Mapping[str, AttentionHead]
) -> dict[str, symbolic.Var]:
    """The user's variables, then `relative_qk` if a head needs it, then head outputs."""
    result = dict(_named(variables, "variables", symbolic.Var, _MAKE_VAR))
    heads = _named(heads, "heads", AttentionHead, "make one with qkv or v_relative")
    for name in symbolic.RESERVED_NAMES:
        if name in result:
            raise ProgramError(
                f"variable '{name}' uses a reserved name (v_relative heads read it); "
                "rename the variable"
            )
    if any(symbolic.RELATIVE_QK in (h.query, h.key) for h in heads.values()):
        result[symbolic.RELATIVE_QK] = symbolic.CategoricalVar(range=1, default=0)
    for out, head in heads.items():
        if out in result:
            raise ProgramError(f"head output '{out}' is already a variable; pick a new name")
        if head.value not in result:
            later = head.value in heads
            raise ProgramError(
                f"head '{out}': value '{head.value}' is the output of head '{head.value}', "
                "declared after it; a head may read only heads declared before it"
                if later
                else f"head '{out}': value names unknown variable '{head.value}'"
            )
        if head.output_spec is not None and not isinstance(head.output_spec, symbolic.Var):
            raise ProgramError(f"head '{out}': output_spec {head.output_spec!r} is not a variable")
        result[out] = _output_spec(result[head.value], head.output_spec)
    return result


_MAKE_VAR = "make one with var, input_var, position_var, numeric_var or set_var"


def _named(items: Any, what: str, kind: Any, make: str) -> Mapping[str, Any]:
    """`items`, checked to be a dict of names (strings) to `kind`s."""
    if not isinstance(items, Mapping):
        raise ProgramError(
            f"{what} must be a dict of name -> {what[:-1]}, got a {type(items).__name__}"
        )
    for name, item in items.items():
        if not isinstance(name, str):
            raise ProgramError(f"{what}: name {name!r} is not a string")
        if not isinstance(item, kind):
            raise ProgramError(f"{what[:-1]} '{name}': {item!r} is not a {what[:-1]}; {make}")
    return items


def _output_spec(value: symbolic.Var, spec: symbolic.Var | None) -> symbolic.Var:
    """A head output has the value's type (or `spec`), no init functions and no default."""
    base = spec if spec is not None else value
    return attrs.evolve(base, default=None, input_init_fn=None, position_init_fn=None)


class MLPBuilder:
    """Write rules with loops: `for a, b in mlp.get("a", "b"): mlp.set("c", a ^ b)`.

    `get` enumerates the values of the named variables and puts them in the context;
    `set` emits a rule whose lhs is the whole context (plus the written variable).
    """

    def __init__(
        self, variables: Mapping[str, symbolic.Var], heads: Mapping[str, AttentionHead]
    ) -> None:
        self._vars = all_variables(variables, heads)
        self._context: dict[str, Any] = {}
        self.rules: list[symbolic.Rule] = []

    def get(self, *names: str) -> Iterator[Any]:
        """Yield every combination of the variables' values (a bare value for one name)."""
        for name in names:
            if name in self._context:
                raise ProgramError(f"MLPBuilder.get: variable '{name}' is already in context")
        domains = [self._domain(name) for name in names]
        try:
            for combo in itertools.product(*domains):
                self._context.update(zip(names, combo, strict=True))
                yield combo[0] if len(combo) == 1 else combo
        finally:
            for name in names:
                self._context.pop(name, None)

    def set(self, name: str, new_value: Any) -> None:
        """Emit a rule that writes `new_value` to `name` under the current context."""
        if name not in self._context:
            for _ in self.get(name):
                self.set(name, new_value)
            return
        var = self._vars[name]
        new = symbolic.normalise(var, new_value)
        old = self._context[name]
        if old == new:
            return
        lhs = tuple(sorted(self._context.items()))
        self.rules.append(symbolic.Rule(lhs, name, old, new))

    def _domain(self, name: str) -> tuple[Any, ...]:
        if name not in self._vars:
            raise ProgramError(f"MLPBuilder.get: unknown variable '{name}'")
        var = self._vars[name]
        if not isinstance(var, symbolic.CategoricalVar) and var.values is None:
            raise ProgramError(f"MLPBuilder.get: {var.kind} variable '{name}' needs `values`")
        return var.domain()
