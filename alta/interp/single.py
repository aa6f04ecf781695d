"""One sequence in plain Python: the batched interpreter's semantics, without numpy.

Why: a layer of the batched interpreter is a few dozen numpy calls whatever the batch,
and on one short sequence those calls cost more than the work. `symbolic.run` hands this
module one sequence of a program with a Python MLP function when it is short, not strict
and not observed; the result is the batched interpreter's to the bit (outputs, layers,
final state, errors): values are held raw as there (None is -1 or NaN, sets bitmasks),
numbers are added in position order from 0.0 as there, and the MLP is the same cached
function (`mlp.FunctionRunner`), its read tree walked row by row.
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


def run(
    program: symbolic.Program, tokens: list[int], max_layers: int | None, runner: mlp.FunctionRunner
) -> loop.RunResult:
    """The batched interpreter's `run` on the batch [tokens] (see the module doc)."""
    n = len(tokens)
    state = _start(program, tokens)
    where = Positions(np.ones((1, n), dtype=bool), np.zeros(1, dtype=np.int64))
    limit = DEFAULT_MAX_LAYERS if max_layers is None else max_layers
    halt, layer, layers = program.halt, 0, None
    while layer < limit:
        after = dict(state)
        for head in program.heads:  # in declaration order: a head may read earlier ones
            after[head.output] = _attend(program, head, after, n)
        changed = _mlp(program, runner, after, state, n, layer, where)
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
