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


def loop(
    program: Layout,
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


def _halted(program: Layout, state: dict[str, np.ndarray], valid: np.ndarray) -> np.ndarray:
    if program.halt is None:
        return np.zeros(valid.shape[0], dtype=bool)
    ok = (state[program.halt.var] == program.halt.value) | ~valid
    return ok.all(axis=1)


def _unchanged(
    program: Layout, old: dict[str, np.ndarray], new: dict[str, np.ndarray]
) -> np.ndarray:
    same = np.ones(next(iter(old.values())).shape[0], dtype=bool)
    for name, var in program.vars.items():
        if isinstance(var, symbolic.NumericalVar):
            eq = (old[name] == new[name]) | (np.isnan(old[name]) & np.isnan(new[name]))
        else:
            eq = old[name] == new[name]
        same &= eq.all(axis=1)
    return same


def _decode_outputs(
    program: Layout, state: dict[str, np.ndarray], lengths: np.ndarray
) -> list[list[Any]]:
    var = program.vars[program.output]
    arr = state[program.output]
    if isinstance(var, symbolic.CategoricalVar):
        return [
            [None if x < 0 else x for x in row[:n].tolist()]
            for row, n in zip(arr, lengths, strict=True)
        ]
    return [[st.decode(var, x) for x in row[:n]] for row, n in zip(arr, lengths, strict=True)]
