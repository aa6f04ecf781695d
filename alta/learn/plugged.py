"""A compiled Transformer with a learned MLP in place of the compiled one.

Trace supervision trains only the MLP sublayer; the embeddings, attention stages, halting
test and per-sequence freezing stay the compiled model's. So this is the torch backend's
`AltaTransformer` (in float64, where the compiled parts are exact) with its `layer`
overridden to call the learned MLP; the layer loop, masks and halting are reused as they
are. Unlike `CompiledModel`, a sequence that never halts is not an error here — a learned
MLP may well never halt — it simply runs `max_layers` layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from alta import inputs as checks
from alta.backends import torch_backend
from alta.errors import LearnError
from alta.ir import dense, sparse
from alta.learn.trace_mlp import TrainedMLP
from alta.model import CompiledModel, ModelRun


class _PluggedTransformer(torch_backend.AltaTransformer):
    """The compiled layer with `mlp.apply` as its MLP sublayer."""

    def __init__(self, module: dense.Module, mlp: TrainedMLP) -> None:
        super().__init__(module)
        # A plain attribute, not a submodule: `.to(float64)` must leave the net as trained.
        self.trained = mlp

    def mlp_sublayer(self, x: torch.Tensor) -> torch.Tensor:
        return self.trained.apply(x)  # type: ignore[no-any-return]


class PluggedModel:
    """`model` with `mlp` as its MLP. `PluggedModel(model, mlp)(inputs)` takes and returns
    what `model(inputs)` does. Layer budget: `max_layers` of the call, else of this
    object, else the compiled model's, else `alta.inputs.DEFAULT_MAX_LAYERS` (a halting
    program) — pass one: an unhalting learned MLP runs all of them."""

    def __init__(self, model: CompiledModel, mlp: TrainedMLP, *, max_layers: int | None = None):
        if not isinstance(model, CompiledModel):
            raise LearnError(f"PluggedModel needs a CompiledModel, got {type(model).__name__}")
        if mlp.d_model != model.ir.d_model:
            raise LearnError(
                f"the MLP maps d_model {mlp.d_model} but model '{model.ir.name}' has d_model "
                f"{model.ir.d_model}; train it on traces laid out by this model"
            )
        if mlp.program and mlp.program != model.ir.name:
            raise LearnError(
                f"the MLP was trained on traces of '{mlp.program}', not of '{model.ir.name}'"
            )
        self.model, self.mlp = model, mlp
        self.max_layers = checks.check_max_layers(max_layers)
        self.torch = _PluggedTransformer(model.ir, mlp).to(dtype=torch.float64).eval()

    @property
    def ir(self) -> dense.Module:
        return self.model.ir

    def __call__(self, inputs: Any, max_layers: int | None = None) -> list[Any]:
        """Outputs of one sequence (a list of ints) or a batch (a list of lists), decoded."""
        single, batch = checks.as_batch(inputs)
        tokens, lengths = self.model.pad(batch)
        values = self.run(tokens, lengths, max_layers).values
        outputs = [_decode_row(self.ir, row[:n]) for row, n in zip(values, lengths, strict=True)]
        return outputs[0] if single else outputs

    def run(self, tokens: Any, lengths: Any, max_layers: int | None = None) -> ModelRun:
        """Tokens [B, N] and lengths [B] (integer arrays, checked as `CompiledModel.run`
        checks them) in; raw output values, layers run and whether each sequence halted
        out (`layers` is the budget for one that did not)."""
        tokens, lengths = self.model.check_arrays(tokens, lengths)
        limit = self._layers(max_layers)
        with torch.inference_mode():
            x, layers = self.torch(torch.from_numpy(tokens), torch.from_numpy(lengths), limit)
        x_np = x.numpy()
        values = dense.decode(self.ir.readout.slot, x_np)
        return ModelRun(values, layers.numpy(), self.model.halted(x_np, lengths))

    def residuals(self, inputs: Any, layers: int) -> np.ndarray:
        """Residual streams after the embedding and each layer, [layers + 1, B, N, d]
        (float64), a halted sequence frozen; one sequence is a batch of one."""
        layers = checks.check_max_layers(layers)  # type: ignore[assignment]
        if layers is None:
            raise LearnError("residuals needs a number of layers")
        tokens, lengths = self.model.pad(inputs)
        with torch.inference_mode():
            out = self.torch.residuals(torch.from_numpy(tokens), torch.from_numpy(lengths), layers)
        return out.numpy()  # type: ignore[no-any-return]

    def _layers(self, max_layers: Any) -> int:
        """The call's budget, else this model's, else the compiled model's rule."""
        given = checks.check_max_layers(max_layers)
        return self.model.layer_budget(given if given is not None else self.max_layers)


def _decode_row(ir: dense.Module, row: np.ndarray) -> list[Any]:
    """Raw readout values as Python values, exactly as `CompiledModel` decodes them."""
    slot = ir.readout.slot
    if slot.kind == sparse.NUMERICAL:
        return [None if np.isnan(v) else float(v) for v in row]
    if slot.kind == sparse.SET:
        return [frozenset(m for m in slot.values if int(v) >> m & 1) for v in row]
    return [None if v < 0 else int(v) for v in row.tolist()]
