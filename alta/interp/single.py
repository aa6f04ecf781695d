"""One sequence in plain Python: the batched interpreter's semantics, without numpy.

Why: a layer of the batched interpreter is a few dozen numpy calls whatever the batch,
and on one short sequence those calls cost more than the work. `symbolic.run` hands this
module one sequence when it is short, not strict and not observed; the result is the
batched interpreter's to the bit (outputs, layers, final state, errors): values are held
raw as there (None is -1 or NaN, sets bitmasks), numbers are added in position order from
0.0 as there. A Python MLP function is the same cached function (`mlp.FunctionRunner`),
its read tree walked row by row. A rule table (`mlp.RuleTable`) is looked up by the same
keys, in a dict per group, when every variable its rules test is categorical; where two
rules would write one variable at a position, or a rule's write is ill-typed, the run
raises `Fallback` and the batched interpreter reports the error.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from alta.inputs import DEFAULT_MAX_LAYERS
from alta.interp import loop, mlp
from alta.interp import state as st
from alta.interp.flat import Positions
from alta.interp.read_tree import NAN_BITS
from alta.ir import symbolic

#: Longer sequences go to the batched interpreter: its numpy calls cost less than a
#: Python loop over so many positions.
MAX_LENGTH = 48
#: Whether `symbolic.run` uses this module at all (tests compare it with numpy's).
ENABLED = True


def tokens_of(program: symbolic.Program, seq: list[Any]) -> list[int] | None:
    """`seq` if every token is a Python int in range and it is short enough for this
    module (and for the program); else None (the batched interpreter checks and reports)."""
    n = len(seq)
    if n > MAX_LENGTH or (program.position_range is not None and n > program.position_range):
        return None
    top = program.input_range
    if all(type(t) is int and 0 <= t < top for t in seq):
        return seq
    return None


class Fallback(Exception):
    """The run needs the batched interpreter: it names the error exactly."""


def run(
    program: symbolic.Program, tokens: list[int], max_layers: int | None, runner: mlp.MLPStep
) -> loop.RunResult | None:
    """The batched interpreter's `run` on the batch [tokens] (see the module doc); None
    when this module does not run this MLP, or leaves an error to the batched one."""
    try:
        return _run(program, tokens, max_layers, runner)
    except Fallback:
        return None


def _run(
    program: symbolic.Program, tokens: list[int], max_layers: int | None, runner: mlp.MLPStep
) -> loop.RunResult | None:
    rules = None
    if isinstance(runner, mlp.RuleTable):
        rules = _rule_plan(program, runner)
        if rules is None:
            return None
    elif not isinstance(runner, mlp.FunctionRunner):
        return None
    n = len(tokens)
    state = _start(program, tokens)
    where = Positions(np.ones((1, n), dtype=bool), np.zeros(1, dtype=np.int64))
    limit = DEFAULT_MAX_LAYERS if max_layers is None else max_layers
    halt, layer, layers = program.halt, 0, None
    while layer < limit:
        after = dict(state)
        for head in program.heads:  # in declaration order: a head may read earlier ones
            after[head.output] = _attend(program, head, after, n)
        if rules is not None:
            changed = _rules(rules, after, state, n)
        else:
            changed = _mlp(program, runner, after, state, n, layer, where)  # type: ignore[arg-type]
        layer += 1
        if halt is not None and all(x == halt.value for x in state[halt.var]):
            layers = layer
            break
        if not changed:  # a fixed point: later layers would change nothing
            if halt is not None and max_layers is None:
                raise loop.fixed_point_error(program, 0, layer)
            layers = limit
            break
    if layers is None:
        if max_layers is None:
            raise loop.unhalted_error(program, [0])
        layers = layer
    return _result(program, state, n, layers)


def _start(program: symbolic.Program, tokens: list[int]) -> dict[str, list[Any]]:
    """The initial state, from `state.start`'s tables as Python lists (kept per width)."""
    n = len(tokens)
    widths: dict[int, list[tuple[str, str, Any]]] = program.derived.setdefault("init_lists", {})
    plan = widths.get(n)
    if plan is None:
        if len(widths) >= st.MAX_WIDTHS:
            widths.clear()
        plan = widths[n] = [
            (name, src, table.tolist()) for name, src, table, _ in st.plan_of(program, n)
        ]
    state = {}
    for name, source, table in plan:
        if source == "token":
            state[name] = [table[t] for t in tokens]
        elif source == "position":
            state[name] = list(table)
        else:
            state[name] = [table[0]] * n
    return state


def _attend(
    program: symbolic.Program, head: symbolic.Head, state: dict[str, list[Any]], n: int
) -> list[Any]:
    """A head's output at every position (as `attention.attend`, not strict)."""
    variables = program.vars
    q, k, v = state[head.query], state[head.key], state[head.value]
    is_set = isinstance(variables[head.query], symbolic.SetVar)
    mask = head.relative_position_mask
    selected: list[Any]
    if mask:
        offsets = sorted(mask)
        selected = [
            [j for o in offsets if 0 <= (j := i + o) < n and _match(q[i], k[j], is_set)]
            for i in range(n)
        ]
    elif is_set:
        keyed = [j for j in range(n) if k[j] >= 0]
        selected = [[j for j in keyed if qi >= 0 and qi >> k[j] & 1] for qi in q]
    else:
        by_key: dict[int, list[int]] = {}
        for j, kj in enumerate(k):
            if kj >= 0:
                by_key.setdefault(kj, []).append(j)
        selected = [by_key.get(qi, ()) for qi in q]
    if not isinstance(variables[head.output], symbolic.NumericalVar):
        return [v[js[0]] if len(js) == 1 else st.NONE_INT for js in selected]
    out = []
    for js in selected:
        total = 0.0
        for j in js:  # in position order, from 0.0: a NaN (None) makes the mean None
            total += v[j]
        out.append(total / len(js) if js else math.nan)
    return out


def _match(q: int, k: int, is_set: bool) -> bool:
    if k < 0 or q < 0:
        return False
    return bool(q >> k & 1) if is_set else q == k


class _Bits:
    """The columns as `read_tree.raw_bits` lists (numbers by their bits), made on first
    read, for the read tree and the function (`mlp.FunctionRunner.leaves`)."""

    def __init__(self, runner: mlp.FunctionRunner, values: dict[str, list[Any]]) -> None:
        self._names, self._values = runner.names, values
        self._numbers = runner.numbers
        self._made: dict[int, list[int]] = {}

    def __getitem__(self, col: int) -> list[int]:
        made = self._made.get(col)
        if made is None:
            values = self._values[self._names[col]]
            made = self._made[col] = [_bits(x) for x in values] if col in self._numbers else values
        return made


def _bits(x: float) -> int:
    return NAN_BITS if x != x else int(struct.unpack("<q", struct.pack("<d", x))[0])


def _mlp(
    program: symbolic.Program,
    runner: mlp.FunctionRunner,
    after: dict[str, list[Any]],
    state: dict[str, list[Any]],
    n: int,
    layer: int,
    where: Positions,
) -> bool:
    """Run the MLP on every position, then apply its writes to `state` together; whether
    one changed a value."""
    tree, leaves = runner.leaves(_Bits(runner, after), n, layer, where)
    names, changed = runner.names, False
    for i, leaf in enumerate(leaves):
        for col, raw in tree.leaf_writes(leaf):
            name = names[col]
            if name in program.head_outputs:  # cleared at once
                continue
            column = state[name]
            old = column[i]
            if old != raw and (old == old or raw == raw):  # NaN (None) equals NaN here
                changed = True
            column[i] = raw
    return changed


#: Per group of a rule table: its tested variables, their strides, and key -> rule ids
#: (`mlp.RuleTable` keys: the sum of value index x stride, categorical index = value).
_Group = tuple[tuple[str, ...], tuple[int, ...], dict[int, list[int]]]


class _RulePlan:
    def __init__(self, table: mlp.RuleTable, groups: list[_Group]) -> None:
        self.groups = groups
        self.head_outputs = table.program.head_outputs
        self.var_of = [r.var for r in table.rules]
        self.ill_typed = set(table.ill_typed)
        self.new = {name: raw.tolist() for name, raw in table.new_raw.items()}


def _rule_plan(program: symbolic.Program, table: mlp.RuleTable) -> _RulePlan | None:
    """The table as dicts (made once per program), or None when a rule tests a variable
    that is not categorical (numbers and sets index by search, which numpy does)."""
    if "single_rules" not in program.derived:
        variables = program.vars
        plan = None
        if all(
            isinstance(variables[name], symbolic.CategoricalVar)
            for names, *_ in table.groups
            for name in names
        ):
            groups: list[_Group] = []
            for names, strides, keys, members in table.groups:
                by_key: dict[int, list[int]] = {}
                for key, rule in zip(keys.tolist(), members.tolist(), strict=True):
                    by_key.setdefault(key, []).append(rule)
                groups.append((names, tuple(strides.tolist()), by_key))
            plan = _RulePlan(table, groups)
        program.derived["single_rules"] = plan
    return program.derived["single_rules"]


def _rules(
    plan: _RulePlan, after: dict[str, list[Any]], state: dict[str, list[Any]], n: int
) -> bool:
    """Fire the rules at every position, then apply their writes to `state` together;
    whether one changed a value. Raises `Fallback` where the batched interpreter raises."""
    fired: dict[str, dict[int, int]] = {}  # written variable -> position -> rule
    for names, strides, by_key in plan.groups:
        columns = [after[name] for name in names]
        for i in range(n):
            key = 0
            for column, stride in zip(columns, strides, strict=True):
                value = column[i]
                if value < 0:  # None matches no rule
                    break
                key += value * stride
            else:
                for rule in by_key.get(key, ()):
                    at = fired.setdefault(plan.var_of[rule], {})
                    if i in at or rule in plan.ill_typed:
                        raise Fallback
                    at[i] = rule
    changed = False
    for name, at in fired.items():
        if name in plan.head_outputs:  # cleared at once
            continue
        column, new = state[name], plan.new[name]
        for i, rule in at.items():
            old, raw = column[i], new[rule]
            if old != raw and (old == old or raw == raw):  # NaN (None) equals NaN here
                changed = True
            column[i] = raw
    return changed


def _result(
    program: symbolic.Program, state: dict[str, list[Any]], n: int, layers: int
) -> loop.RunResult:
    arrays: dict[str, np.ndarray] = {
        name: np.asarray([state[name]], dtype=st.dtype_of(var)).reshape(1, n)
        for name, var in program.vars.items()
    }
    lengths = np.asarray([n], dtype=np.int64)
    outputs = loop.decode_outputs(program, arrays, lengths)
    return loop.RunResult(outputs, np.asarray([layers], dtype=np.int64), arrays, lengths)
