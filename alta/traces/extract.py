"""`trace()`: run the interpreter on a batch and record every layer's MLP input and output.

The interpreter is the oracle, so traces come from it (through the observer of
`alta.interp.symbolic.run`), not from a compiled model; the compiled model supplies only
the residual layout the vectors are written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from alta.errors import TraceError
from alta.inputs import as_batch
from alta.interp import state as st
from alta.interp import symbolic as interp
from alta.interp.loop import LayerRecord
from alta.ir import dense, sparse, symbolic
from alta.model import CompiledModel
from alta.traces import noise as noise_mod
from alta.traces.encode import Encoder
from alta.traces.trace import Trace

#: What a trace's vectors may be laid out by: a compiled model, or its IR3.
Target = CompiledModel | dense.Module


def compiled(
    program: symbolic.Program, model: Target | None = None
) -> tuple[dense.Module, sparse.Module | None]:
    """The IR3 whose layout the vectors take, and the IR2 it came from (if known):
    `model`'s, else `program` compiled with the default pipeline, so the layout is the
    one the compiled model really has, after pruning."""
    if model is None:
        from alta import compiler

        model = compiler.compile(program, backend="numpy")
    if isinstance(model, CompiledModel):
        return model.ir, model.sparse_ir
    if isinstance(model, dense.Module):
        return model, None
    raise TraceError(
        f"model must be an alta CompiledModel or a dense.Module, got {type(model).__name__}"
    )


def trace(
    program: symbolic.Program,
    inputs: Any,
    max_layers: int | None = None,
    *,
    model: Target | None = None,
    noise: Any = noise_mod.DEFAULT,
    seed: int | tuple[int, ...] = 0,
    strict: bool = False,
    first_sequence: int = 0,
) -> Trace:
    """Trace `program` on one sequence or a batch (the forms `alta.interpret` takes).

    `model` (a `CompiledModel` or IR3 module compiled from `program`) gives the vector
    layout; without it the program is compiled. `noise` and `seed` are the defaults of
    `Trace.vectors_in`; the stored vectors have none. `first_sequence` numbers the
    sequences from there (for tracing a stream batch by batch).
    """
    if not isinstance(program, symbolic.Program):
        raise TraceError(f"trace takes an alta Program, got {type(program).__name__}")
    bounds = noise_mod.check(noise)
    module, sparse_ir = compiled(program, model)
    _, batch = as_batch(inputs)
    collect = _Collector()
    interp.run(program, batch, max_layers, strict=strict, observe=collect)
    return collect.trace(program, module, sparse_ir, batch, first_sequence, bounds, seed)


class _Collector:
    """The observer: keeps each layer's valid positions as flat columns."""

    def __init__(self) -> None:
        self.index: list[np.ndarray] = []
        self.values_in: list[dict[str, np.ndarray]] = []
        self.values_out: list[dict[str, np.ndarray]] = []

    def __call__(self, rec: LayerRecord) -> None:
        where_b, where_i = np.nonzero(rec.valid)
        seq = rec.batch_index[where_b]
        self.index.append(np.stack([seq, np.full_like(seq, rec.layer), where_i]))
        self.values_in.append({n: a[where_b, where_i] for n, a in rec.mlp_in.items()})
        self.values_out.append({n: a[where_b, where_i] for n, a in rec.mlp_out.items()})

    def trace(
        self,
        program: symbolic.Program,
        module: dense.Module,
        sparse_ir: sparse.Module | None,
        batch: list[list[Any]],
        first: int,
        noise: tuple[float, float] | None,
        seed: int | tuple[int, ...],
    ) -> Trace:
        variables = dict(program.vars)
        encoder = Encoder.of(module.d_model, module.layout, variables)
        index = np.concatenate([*self.index, np.zeros((3, 0), dtype=np.int64)], axis=1)
        order = np.lexsort((index[2], index[1], index[0]))  # by sequence, layer, position
        values_in = _columns(self.values_in, variables, order)
        values_out = _columns(self.values_out, variables, order)
        n = len(order)
        return Trace(
            program=program.name,
            output=program.output,
            d_model=module.d_model,
            layout=module.layout,
            variables=variables,
            sequence=index[0][order] + first,
            layer=index[1][order],
            position=index[2][order],
            values_in=values_in,
            values_out=values_out,
            vector_in=encoder.encode(values_in, n),
            vector_out=encoder.encode(values_out, n),
            inputs=tuple(tuple(int(t) for t in seq) for seq in batch),
            first_sequence=first,
            noise=noise,
            seed=seed,
            sparse_ir=sparse_ir,
        )


def _columns(
    parts: list[dict[str, np.ndarray]], variables: Mapping[str, symbolic.Var], order: np.ndarray
) -> dict[str, np.ndarray]:
    out = {}
    for name, var in variables.items():
        empty: np.ndarray = np.zeros(0, dtype=st.dtype_of(var))
        out[name] = np.concatenate([*(p[name] for p in parts), empty])[order]
    return out
