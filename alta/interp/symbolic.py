"""The reference interpreter of IR1, batched with numpy: the oracle (docs/semantics.md).

One layer is attention (heads in declaration order; each reads the pre-attention state
and the outputs of the heads declared before it), then the MLP (every write applied at
once), then every head output is cleared to None. The state is updated in place: head
outputs live beside it, so they need no clearing, and only written values are touched.
One short sequence of a program with a Python MLP function runs in plain Python instead
(`single`), to the same result: numpy's cost per call outweighs so little work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alta.errors import InterpreterError, ProgramError, UndefinedBehaviourError
from alta.inputs import as_batch, check_max_layers
from alta.interp import mlp, single
from alta.interp import state as st
from alta.interp.attention import attend
from alta.interp.flat import Flat, Positions
from alta.interp.loop import LayerRecord, Observer, RunResult, loop
from alta.interp.reuse import Reuse
from alta.ir import symbolic


def interpret(
    program: symbolic.Program,
    inputs: Sequence[Any],
    max_layers: int | None = None,
    *,
    strict: bool = False,
) -> list[Any]:
    """Run `program` on one sequence (a list of ints) or a batch (a list of lists)."""
    alone, batch = as_batch(inputs)
    result = run(program, batch, max_layers, strict=strict)
    return result.outputs[0] if alone else result.outputs


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
    if not isinstance(program, symbolic.Program):
        raise ProgramError(
            f"program must be an alta program (from alta.lang.program_spec), got "
            f"{type(program).__name__} {program!r:.60}"
        )
    if not isinstance(strict, bool):
        raise InterpreterError(f"strict must be True or False, got {strict!r}")
    if max_layers is None and program.halt is None:
        raise InterpreterError(
            f"program '{program.name}' has no halt spec: pass max_layers=N to say how many "
            "layers to run"
        )
    max_layers = check_max_layers(max_layers)
    if len(inputs) == 1 and not strict and observe is None and single.ENABLED:
        one = single.tokens_of(program, inputs[0])
        result = None if one is None else single.run(program, one, max_layers, mlp_step(program))
        if result is not None:
            return result
    tokens, valid = st.pad_inputs(program, inputs)
    state = st.start(program, tokens, valid)
    step = mlp_step(program)
    reuse = Reuse()

    def layer(
        sub: dict[str, np.ndarray], sub_valid: np.ndarray, k: int, idx: np.ndarray
    ) -> np.ndarray:
        return run_layer(program, sub, sub_valid, k, strict, step, idx, observe, reuse)

    return loop(program, state, valid, max_layers, layer, drop_finished=observe is not None)


def run_layer(
    program: symbolic.Program,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    step: mlp.MLPStep | None = None,
    batch_index: np.ndarray | None = None,
    observe: Observer | None = None,
    reuse: Reuse | None = None,
) -> np.ndarray:
    """One layer on a batch, updating `state` in place: attention, MLP, clearing.
    Returns per row whether its state changed (and shows the layer to `observe`).
    `reuse` carries attention's work from layer to layer (`reuse.Reuse`), and skips an
    MLP whose reads are unchanged since it last ran: its writes are in place already."""
    step = step or mlp_step(program)
    if batch_index is None:
        batch_index = np.arange(valid.shape[0])
    reuse = Reuse() if reuse is None else reuse
    reuse.start(state)
    after_attn = dict(state)
    for head in program.heads:  # in declaration order: a head may read earlier heads' outputs
        after_attn[head.output] = attend(
            program, head, after_attn, valid, layer, strict, batch_index, reuse
        )
    where = reuse.positions(valid, batch_index)
    flat = Flat(after_attn, where)
    if strict:  # every numerical variable, read or not: not skipped with the MLP
        _check_numerical_reads(program, flat, layer, where)
    reads = getattr(step, "reads", None)
    if reads is not None and reuse.still("mlp"):
        writes: mlp.Writes = {}  # what it reads is as it was: it wrote all this already
    else:
        writes = step(flat, layer, where)
        if reads is not None:
            names = reads()
            reuse.put("mlp", names, names)
    if observe is not None:  # the state changes in place: the record keeps copies
        after_attn = {n: a.copy() for n, a in after_attn.items()}
    changed = apply_writes(program, state, writes, flat, reuse)
    if observe is not None:
        new = {n: a.copy() for n, a in state.items()}
        observe(LayerRecord(layer, batch_index, valid, after_attn, new))
    return changed


def apply_writes(
    program: symbolic.Program,
    state: dict[str, np.ndarray],
    writes: mlp.Writes,
    flat: Flat,
    reuse: Reuse,
) -> np.ndarray:
    """Apply the MLP's writes in place; per row, whether one changed a value (and tell
    `reuse` which variables did). Only written variables can change: head outputs are
    None before and after a layer."""
    where = flat.where
    moved: np.ndarray | None = None  # per valid position, whether a write changed it
    for name, (pos, values) in writes.items():
        if name in program.head_outputs:  # cleared at once (rules may not write them)
            continue
        target = state[name]
        floats = target.dtype.kind == "f"
        if pos.dtype == bool:  # a mask over every position, and every position's values
            old = flat[name]
            new = np.where(pos, values, old)
            differs = new != old
            if floats:
                differs &= ~(np.isnan(new) & np.isnan(old))
            moves = np.count_nonzero(differs)
            # (before the put: `old` may view it; a move touches the variable anyway)
            resigned = floats and not moves and _resigned(new, old)
            if moves or floats:  # (floats are put anyway: -0.0 == 0.0, but not its bits)
                if where.index is None:
                    np.copyto(target, new.reshape(target.shape))
                else:
                    target.put(where.index, new)
        else:
            at = where.flat_index(pos)
            old = target.take(at)
            differs = values != old
            if floats:
                differs &= ~(np.isnan(values) & np.isnan(old))
            moves = np.count_nonzero(differs)
            resigned = floats and not moves and _resigned(values, old)  # (`take` copied `old`)
            target.put(at, values)
            if moves:
                differs = _spread(differs, pos, len(where))
        if moves or resigned:  # a read of the new bits may differ (the read tree keys bits)
            reuse.touch(name)
        if moves:
            moved = differs if moved is None else moved | differs
    changed = np.zeros(len(next(iter(state.values()))), dtype=bool)
    if moved is not None:
        changed[where.row_of[moved]] = True
    return changed


def _resigned(new: np.ndarray, old: np.ndarray) -> bool:
    """Whether a float write changed bits but no value: 0.0 and -0.0 (NaNs are None)."""
    bits = new.view(np.int64) != old.view(np.int64)
    return bool(np.any(bits & ~(np.isnan(new) & np.isnan(old))))


def _spread(differs: np.ndarray, pos: np.ndarray, size: int) -> np.ndarray:
    """`differs` at valid positions `pos` as a mask over all `size` valid positions."""
    mask = np.zeros(size, dtype=bool)
    mask[pos[differs]] = True
    return mask


def mlp_step(program: symbolic.Program) -> mlp.MLPStep:
    """The MLP of `program` as a callable over flat positions (rules or function), built
    once per program (`Program.derived`): it depends on nothing else."""
    step: mlp.MLPStep | None = program.derived.get("mlp_step")
    if step is None:
        if isinstance(program.mlp, symbolic.RulesMLP):
            step = mlp.RuleTable(program)
        else:
            step = mlp.FunctionRunner(program)
        program.derived["mlp_step"] = step
    return step


def _check_numerical_reads(
    program: symbolic.Program, flat: Flat, layer: int, where: Positions
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
                f"layer {layer}: numerical '{name}' = {x[j]!r} at sequence {where[j][0]}, "
                f"position {where[j][1]} is not one of its values; compiled models read "
                "it by bucket"
            )
