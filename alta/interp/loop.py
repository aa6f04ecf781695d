"""The halting loop (docs/semantics.md, "Halting"), shared by the IR1 and IR2 interpreters.

A sequence halts when every position holds `halt_var == halt_value`; a halted sequence is
frozen. A sequence at a fixed point is frozen too: later layers would change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from alta.errors import InterpreterError
from alta.inputs import DEFAULT_MAX_LAYERS
from alta.interp import state as st
from alta.interp.state import Layout
from alta.ir import symbolic


@attrs.frozen
class LayerRecord:
    """What one layer did to the sequences still running, for an observer (`alta.traces`).

    `mlp_in` is the state after attention (head outputs set), the MLP's input; `mlp_out`
    the state after the MLP with head outputs cleared, which is the next layer's input and
    what a compiled model's residual holds after the layer (its MLP clears head-output
    dims). Arrays are [len(batch_index), N], rows being the global sequences
    `batch_index`; only the `valid` positions mean anything.
    """

    layer: int
    batch_index: np.ndarray
    valid: np.ndarray
    mlp_in: dict[str, np.ndarray]
    mlp_out: dict[str, np.ndarray]


#: Called once per layer run, with that layer's `LayerRecord`.
Observer = Callable[[LayerRecord], None]


@attrs.frozen
class RunResult:
    """Outputs (decoded, one list per sequence), layers run per sequence, the final state."""

    outputs: list[list[Any]]
    layers: np.ndarray
    state: dict[str, np.ndarray]
    lengths: np.ndarray


#: One layer on the sequences still running: `layer_fn(state, valid, layer, batch_index)`
#: updates `state` in place and returns, per row, whether the layer changed its state.
LayerFn = Callable[[dict[str, np.ndarray], np.ndarray, int, np.ndarray], np.ndarray]


def loop(
    program: Layout,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    max_layers: int | None,
    layer_fn: LayerFn,
    *,
    drop_finished: bool = False,
) -> RunResult:
    """The halting loop (docs/semantics.md, "Halting"), shared by the IR1 and IR2
    interpreters; `state` is updated in place.

    A sequence that finishes (halts or reaches a fixed point) stays in the working batch
    with no valid position, so it is frozen and can raise nothing, until half the batch
    has finished: taking rows out costs numpy calls on every variable, and on small
    batches calls, not rows, are the time. `drop_finished` takes them out at once, so
    that `layer_fn` sees only the sequences still running (an observer needs that).
    """
    batch = valid.shape[0]
    layers = np.zeros(batch, dtype=np.int64)
    limit = DEFAULT_MAX_LAYERS if max_layers is None else max_layers
    halt = program.halt
    rows = np.arange(batch)  # the global index of each working row
    work, run_valid = state, valid.copy()
    idle = ~run_valid  # positions that cannot hold the halt value (halting ignores them)
    active = np.ones(batch, dtype=bool)
    running, layer = batch, 0
    while running and layer < limit:
        changed = layer_fn(work, run_valid, layer, rows)
        layer += 1
        # (`np.count_nonzero` and ufunc reductions: `.any()` and `.all()` cost far more)
        if halt is None:
            halted = None
            done = active & ~changed
        else:
            halted = np.logical_and.reduce((work[halt.var] == halt.value) | idle, axis=1)
            done = (halted | ~changed) & active
        if not np.count_nonzero(done):
            continue
        fixed = done if halted is None else done & ~halted
        if np.count_nonzero(fixed):  # a fixed point: later layers would change nothing
            if halt is not None and max_layers is None:
                raise fixed_point_error(program, int(rows[np.flatnonzero(fixed)[0]]), layer)
            layers[rows[fixed]] = limit
        if halted is not None:
            layers[rows[done & halted]] = layer
        active &= ~done
        run_valid = run_valid.copy()  # a new array: `layer_fn` may keep what it made of the old
        run_valid[done] = False
        idle[done] = True
        running = int(np.count_nonzero(active))
        if running and (drop_finished or running <= len(rows) // 2):
            work, rows, run_valid = _drop(state, work, rows, active, run_valid)
            idle, active = ~run_valid, np.ones(running, dtype=bool)
    layers[rows[active]] = layer
    if work is not state:
        for name, array in work.items():
            state[name][rows] = array
    if running and max_layers is None:
        raise unhalted_error(program, rows[active].tolist())
    lengths = valid.sum(axis=1)
    return RunResult(decode_outputs(program, state, lengths, valid), layers, state, lengths)


def fixed_point_error(program: Layout, sequence: int, layers: int) -> InterpreterError:
    return InterpreterError(
        f"sequence {sequence} of program '{program.name}' reached a fixed point after "
        f"{layers} layers without halting; pass max_layers=N to stop it there"
    )


def unhalted_error(program: Layout, running: list[int]) -> InterpreterError:
    return InterpreterError(
        f"program '{program.name}': sequence(s) {', '.join(map(str, running[:5]))}"
        f"{' ...' if len(running) > 5 else ''} did not halt within "
        f"{DEFAULT_MAX_LAYERS} layers; pass max_layers=N to stop them there"
    )


def _drop(
    state: dict[str, np.ndarray],
    work: dict[str, np.ndarray],
    rows: np.ndarray,
    active: np.ndarray,
    run_valid: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The working batch without its finished rows, whose state goes back to `state`.
    (Rows by `take`: indexing by a mask or an index array costs three times as much.)"""
    kept = active.nonzero()[0]
    if work is not state:
        gone = (~active).nonzero()[0]
        for name, array in work.items():
            state[name][rows[gone]] = array.take(gone, axis=0)
    return {n: a.take(kept, axis=0) for n, a in work.items()}, rows[kept], run_valid[kept]


def changed_rows(
    program: Layout, old: dict[str, np.ndarray], new: dict[str, np.ndarray], rows: int
) -> np.ndarray:
    """Per row, whether a variable of `new` differs from `old` (None equals None)."""
    changed = np.zeros(rows, dtype=bool)
    for name, array in new.items():
        differs = old[name] != array
        if isinstance(program.vars[name], symbolic.NumericalVar):
            differs &= ~(np.isnan(old[name]) & np.isnan(array))
        changed |= differs.any(axis=1)
    return changed


def decode_outputs(
    program: Layout,
    state: dict[str, np.ndarray],
    lengths: np.ndarray,
    valid: np.ndarray | None = None,
) -> list[list[Any]]:
    """The output variable of each sequence as Python values."""
    var = program.vars[program.output]
    arr = state[program.output]
    if isinstance(var, symbolic.CategoricalVar):
        undefined = arr < 0 if valid is None else (arr < 0) & valid
        if np.count_nonzero(undefined):  # None put in by numpy, not tested value by value
            objects = arr.astype(object)
            objects[undefined] = None
            arr = objects
        return [row[:n] for row, n in zip(arr.tolist(), lengths.tolist(), strict=True)]
    rows = zip(arr.tolist(), lengths.tolist(), strict=True)  # one conversion, not one a row
    if isinstance(var, symbolic.NumericalVar):
        return [[None if x != x else x for x in row[:n]] for row, n in rows]  # NaN is None
    return [[st.decode(var, x) for x in row[:n]] for row, n in rows]
