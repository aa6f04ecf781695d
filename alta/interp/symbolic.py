"""The reference interpreter of IR1, batched with numpy: the oracle (docs/semantics.md).

One layer is attention (heads in declaration order; each reads the pre-attention state
and the outputs of the heads declared before it), then the MLP (every write applied at
once), then every head output is cleared to None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alta.errors import InterpreterError, UndefinedBehaviourError
from alta.inputs import as_batch, check_max_layers
from alta.interp import mlp
from alta.interp import state as st
from alta.interp.attention import attend
from alta.interp.loop import LayerRecord, Observer, RunResult, loop
from alta.ir import symbolic


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
    observe: Observer | None = None,
) -> RunResult:
    """Run a batch; see `interpret`. Returns outputs, per-sequence layer counts and state.

    `observe`, if given, sees every layer's MLP input and output (`LayerRecord`): this is
    how `alta.traces` records a run without a second interpreter."""
    if max_layers is None and program.halt is None:
        raise InterpreterError(
            f"program '{program.name}' has no halt spec: pass max_layers=N to say how many "
            "layers to run"
        )
    max_layers = check_max_layers(max_layers)
    tokens, valid = st.pad_inputs(program, inputs)
    width = tokens.shape[1]
    inits = {name: symbolic.init_table(program, name, width) for name in program.vars}
    state = st.initial_state(program, inits, tokens, valid)
    step = mlp_step(program)

    def layer(sub: dict[str, np.ndarray], sub_valid: np.ndarray, k: int, idx: np.ndarray) -> Any:
        return run_layer(program, sub, sub_valid, k, strict, step, idx, observe)

    return loop(program, state, valid, max_layers, layer)


def run_layer(
    program: symbolic.Program,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    step: mlp.MLPStep | None = None,
    batch_index: np.ndarray | None = None,
    observe: Observer | None = None,
) -> dict[str, np.ndarray]:
    """One layer on a batch: attention, MLP, clearing. Returns the new state (and shows
    it, with the state after attention, to `observe`)."""
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
    if observe is not None:
        observe(LayerRecord(layer, batch_index, valid, after_attn, new))
    return new


def mlp_step(program: symbolic.Program) -> mlp.MLPStep:
    """The MLP of `program` as a callable over flat positions (rules or function)."""
    if isinstance(program.mlp, symbolic.RulesMLP):
        # A table depends only on the (immutable) program: build it once per program.
        if "rule_table" not in program.derived:
            program.derived["rule_table"] = mlp.RuleTable(program)
        table: mlp.RuleTable = program.derived["rule_table"]
        return table
    return mlp.FunctionRunner(program)


def _check_numerical_reads(
    program: symbolic.Program, flat: dict[str, np.ndarray], layer: int, where: np.ndarray
) -> None:
    """Numbers the MLP reads must sit on one of their values, far from bucket edges."""
    for name, var in program.vars.items():
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
