"""The reference interpreter, batched with numpy: the oracle (docs/semantics.md).

One layer is attention (heads in declaration order; each reads the pre-attention state
and the outputs of the heads declared before it), then the MLP (every write applied at
once), then every head output is cleared to None. A sequence halts when every position
holds `halt_var == halt_value`; a halted sequence is frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from alta import interpreter_mlp as mlp
from alta import interpreter_state as st
from alta.errors import InterpreterError, UndefinedBehaviourError
from alta.inputs import DEFAULT_MAX_LAYERS, as_batch, check_max_layers
from alta.ir import symbolic


@attrs.frozen
class RunResult:
    """Outputs (decoded, one list per sequence), layers run per sequence, the final state."""

    outputs: list[list[Any]]
    layers: np.ndarray
    state: dict[str, np.ndarray]
    lengths: np.ndarray


def interpret(
    program: symbolic.Program,
    inputs: Sequence[Any],
    max_layers: int | None = None,
    *,
    strict: bool = False,
) -> list[Any]:
    """Run `program` on one sequence (a list of ints) or a batch (a list of lists)."""
    single, batch = as_batch(inputs)
    result = run(program, batch, max_layers, strict=strict)
    return result.outputs[0] if single else result.outputs


def run(
    program: symbolic.Program,
    inputs: list[list[int]],
    max_layers: int | None = None,
    *,
    strict: bool = False,
) -> RunResult:
    """Run a batch; see `interpret`. Returns outputs, per-sequence layer counts and state."""
    if max_layers is None and program.halt is None:
        raise InterpreterError(
            f"program '{program.name}' has no halt spec: pass max_layers=N to say how many "
            "layers to run"
        )
    max_layers = check_max_layers(max_layers)
    tokens, valid = st.pad_inputs(program, inputs)
    state = st.initial_state(program, tokens, valid)
    step = mlp_step(program)

    def layer(sub: dict[str, np.ndarray], sub_valid: np.ndarray, k: int, idx: np.ndarray) -> Any:
        return run_layer(program, sub, sub_valid, k, strict, step, idx)

    return loop(program, state, valid, max_layers, layer)


def loop(
    program: symbolic.Program,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    max_layers: int | None,
    layer_fn: Callable[[dict[str, np.ndarray], np.ndarray, int, np.ndarray], Any],
) -> RunResult:
    """The halting loop (docs/semantics.md, "Halting"), shared by the IR1 and IR2
    interpreters: `layer_fn(state, valid, layer, batch_index)` runs one layer on the
    sequences still running; `state` is updated in place."""
    batch = valid.shape[0]
    layers = np.zeros(batch, dtype=np.int64)
    active = np.ones(batch, dtype=bool)
    limit = DEFAULT_MAX_LAYERS if max_layers is None else max_layers
    layer = 0
    while active.any() and layer < limit:
        idx = np.flatnonzero(active)
        sub = {n: a[idx] for n, a in state.items()}
        new = layer_fn(sub, valid[idx], layer, idx)
        layer += 1
        layers[idx] = layer
        halted = _halted(program, new, valid[idx])
        unchanged = _unchanged(program, sub, new)
        for n in state:
            state[n][idx] = new[n]
        if program.halt is not None and max_layers is None and (unchanged & ~halted).any():
            b = int(idx[np.flatnonzero(unchanged & ~halted)[0]])
            raise InterpreterError(
                f"sequence {b} of program '{program.name}' reached a fixed point after "
                f"{layer} layers without halting; pass max_layers=N to stop it there"
            )
        active[idx[halted]] = False
        frozen = idx[unchanged & ~halted]  # a fixed point: later layers change nothing
        layers[frozen] = limit
        active[frozen] = False
    if active.any() and max_layers is None:
        running = np.flatnonzero(active).tolist()
        raise InterpreterError(
            f"program '{program.name}': sequence(s) {', '.join(map(str, running[:5]))}"
            f"{' ...' if len(running) > 5 else ''} did not halt within "
            f"{DEFAULT_MAX_LAYERS} layers; pass max_layers=N to stop them there"
        )
    lengths = valid.sum(axis=1)
    return RunResult(_decode_outputs(program, state, lengths), layers, state, lengths)


def run_layer(
    program: symbolic.Program,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    step: mlp.MLPStep | None = None,
    batch_index: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One layer on a batch: attention, MLP, clearing. Returns the new state."""
    step = step or mlp_step(program)
    if batch_index is None:
        batch_index = np.arange(valid.shape[0])
    after_attn = dict(state)
    for head in program.heads:  # in declaration order: a head may read earlier heads' outputs
        after_attn[head.output] = attend(
            program, head, after_attn, valid, layer, strict, batch_index
        )
    where_b, where_i = np.nonzero(valid)
    where = np.stack([batch_index[where_b], where_i], axis=1)
    flat = {n: a[where_b, where_i] for n, a in after_attn.items()}
    if strict:
        _check_numerical_reads(program, flat, layer, where)
    writes = step(flat, layer, where)
    new = {n: a.copy() for n, a in state.items()}
    for name, (pos, values) in writes.items():
        new[name][where_b[pos], where_i[pos]] = values
    variables = program.vars
    for name in program.head_outputs:
        new[name] = np.full_like(state[name], st.none_of(variables[name]))
    return new


def mlp_step(program: symbolic.Program) -> mlp.MLPStep:
    """The MLP of `program` as a callable over flat positions (rules or function)."""
    if isinstance(program.mlp, symbolic.RulesMLP):
        return mlp.RuleTable(program)
    return mlp.FunctionRunner(program)


def attend(
    program: symbolic.Program,
    head: symbolic.Head,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    batch_index: np.ndarray,
) -> np.ndarray:
    """A head's output at every position: the selected value, their mean, or None.

    Linear in the sequence length: relative heads look only at their offsets; other heads
    aggregate per key value (count, sum of positions, sum of values) and let each query
    read the aggregates of the values in its query set.
    """
    variables = program.vars
    q, k, v = state[head.query], state[head.key], state[head.value]
    is_set = isinstance(variables[head.query], symbolic.SetVar)
    numeric = isinstance(variables[head.output], symbolic.NumericalVar)
    if head.relative_position_mask:
        count, pos, total, nones = _select_relative(head, q, k, v, valid, is_set, numeric)
    else:
        size = variables[head.key].range  # type: ignore[union-attr]
        count, pos, total, nones = _select_by_key(q, k, v, valid, is_set, numeric, size)
    if strict:
        _check_attention(program, head, q, count, nones, valid, layer, batch_index)
    if numeric:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        out = np.where(nones > 0, np.nan, out)
        return np.where(valid, out, np.nan)
    one = valid & (count == 1)  # zero or several selected positions give None
    index = np.where(one, pos, 0).astype(np.int64)
    picked = np.take_along_axis(v, index, axis=1) if v.shape[1] else index
    return np.where(one, picked, st.NONE_INT)


def _match(q: np.ndarray, k: np.ndarray, is_set: bool) -> np.ndarray:
    if is_set:
        return (q >= 0) & (k >= 0) & ((q >> np.maximum(k, 0)) & 1).astype(bool)
    return (q == k) & (k >= 0)


def _select_relative(
    head: symbolic.Head,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    valid: np.ndarray,
    is_set: bool,
    numeric: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = valid.shape[1]
    count = np.zeros(q.shape, dtype=np.int64)
    pos = np.zeros(q.shape, dtype=np.int64)
    total = np.zeros(q.shape) if numeric else count
    nones = np.zeros(q.shape, dtype=np.int64)
    for offset in sorted(head.relative_position_mask):
        j = np.arange(n) + offset
        inside = (j >= 0) & (j < n)
        jc = np.clip(j, 0, max(n - 1, 0))
        hit = valid[:, jc] & inside[None, :] & _match(q, k[:, jc], is_set)
        count = count + hit
        pos = np.where(hit, jc[None, :], pos)
        if numeric:
            value = v[:, jc]
            nones = nones + (hit & np.isnan(value))
            total = total + np.where(hit & ~np.isnan(value), value, 0.0)
    return count, pos, total, nones


def _select_by_key(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    valid: np.ndarray,
    is_set: bool,
    numeric: bool,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    b, n = q.shape
    keyed = valid & (k >= 0)
    slots = (np.arange(b)[:, None] * size + np.maximum(k, 0))[keyed]

    def per_key(weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(slots, weights=weights, minlength=b * size).reshape(b, size)

    counts = per_key(None)
    possum = per_key(np.broadcast_to(np.arange(n), (b, n))[keyed].astype(np.float64))
    if numeric:
        value = v[keyed]
        sums = per_key(np.where(np.isnan(value), 0.0, value))
        nan_counts = per_key(np.isnan(value).astype(np.float64))
    if is_set:
        bits = ((np.maximum(q, 0)[:, :, None] >> np.arange(size)) & 1) * (q >= 0)[:, :, None]

        def gather(table: np.ndarray) -> np.ndarray:
            return np.einsum("bnr,br->bn", bits.astype(np.float64), table.astype(np.float64))
    else:
        rows = np.arange(b)[:, None]

        def gather(table: np.ndarray) -> np.ndarray:
            return np.where(q >= 0, table[rows, np.clip(q, 0, size - 1)], 0)

    count = np.rint(gather(counts)).astype(np.int64)
    pos = np.rint(gather(possum)).astype(np.int64)
    if numeric:
        return count, pos, gather(sums), np.rint(gather(nan_counts)).astype(np.int64)
    return count, pos, count, np.zeros_like(count)


def _check_attention(
    program: symbolic.Program,
    head: symbolic.Head,
    q: np.ndarray,
    count: np.ndarray,
    nones: np.ndarray,
    valid: np.ndarray,
    layer: int,
    batch_index: np.ndarray,
) -> None:
    variables = program.vars
    problems = [(st.is_none(variables[head.query], q) & valid, f"query '{head.query}' is None")]
    if isinstance(variables[head.output], symbolic.CategoricalVar):
        problems.append((valid & (count > 1), "more than one position matches"))
    else:
        problems.append((valid & (nones > 0), f"a selected value of '{head.value}' is None"))
    for mask, why in problems:
        if mask.any():
            b, i = np.argwhere(mask)[0]
            raise UndefinedBehaviourError(
                f"layer {layer}, head '{head.output}', sequence {int(batch_index[b])}, "
                f"position {int(i)}: {why}"
            )


def _check_numerical_reads(
    program: symbolic.Program, flat: dict[str, np.ndarray], layer: int, where: np.ndarray
) -> None:
    """Numbers the MLP reads must sit on one of their values, far from bucket edges."""
    for name, var in program.variables:
        if not isinstance(var, symbolic.NumericalVar) or not var.values:
            continue
        x = flat[name]
        values = np.asarray(var.values)
        near = np.isclose(x[:, None], values[None, :], rtol=1e-9, atol=1e-12).any(axis=1)
        off = ~near & ~np.isnan(x)
        if off.any():
            j = int(np.flatnonzero(off)[0])
            raise UndefinedBehaviourError(
                f"layer {layer}: numerical '{name}' = {x[j]!r} at sequence {int(where[j][0])}, "
                f"position {int(where[j][1])} is not one of its values; compiled models read "
                "it by bucket"
            )


def _halted(
    program: symbolic.Program, state: dict[str, np.ndarray], valid: np.ndarray
) -> np.ndarray:
    if program.halt is None:
        return np.zeros(valid.shape[0], dtype=bool)
    ok = (state[program.halt.var] == program.halt.value) | ~valid
    return ok.all(axis=1)


def _unchanged(
    program: symbolic.Program, old: dict[str, np.ndarray], new: dict[str, np.ndarray]
) -> np.ndarray:
    same = np.ones(next(iter(old.values())).shape[0], dtype=bool)
    for name, var in program.variables:
        if isinstance(var, symbolic.NumericalVar):
            eq = (old[name] == new[name]) | (np.isnan(old[name]) & np.isnan(new[name]))
        else:
            eq = old[name] == new[name]
        same &= eq.all(axis=1)
    return same


def _decode_outputs(
    program: symbolic.Program, state: dict[str, np.ndarray], lengths: np.ndarray
) -> list[list[Any]]:
    var = program.vars[program.output]
    arr = state[program.output]
    if isinstance(var, symbolic.CategoricalVar):
        return [
            [None if x < 0 else x for x in row[:n].tolist()]
            for row, n in zip(arr, lengths, strict=True)
        ]
    return [[st.decode(var, x) for x in row[:n]] for row, n in zip(arr, lengths, strict=True)]
