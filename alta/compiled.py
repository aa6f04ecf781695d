"""`CompiledModel`: what `alta.compile` returns, the same for every backend.

It pads ragged batches, resolves `max_layers`, runs the backend's executor and decodes the
readout slot into Python values, so a backend only has to run tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from alta.backends import base
from alta.errors import InputError, InterpreterError
from alta.interpreter import UNBOUNDED_LAYER_CAP, is_single
from alta.ir import dense, sparse


@attrs.define
class CompiledModel:
    """A compiled Transformer. `model(inputs)` mirrors `alta.interpret(program, inputs)`."""

    ir: dense.Module
    backend: str
    executor: base.Executor
    stats: dict[str, Any]
    max_layers: int | None = None
    sparse_ir: sparse.Module | None = None

    def __call__(self, inputs: Sequence[Any], max_layers: int | None = None) -> list[Any]:
        single = is_single(inputs)
        batch = [list(inputs)] if single else [list(s) for s in inputs]
        tokens, lengths = self.pad(batch)
        values, _ = self.run(tokens, lengths, max_layers)
        outputs = [self._decode_row(row[:n]) for row, n in zip(values, lengths, strict=True)]
        return outputs[0] if single else outputs

    def run(
        self, tokens: np.ndarray, lengths: np.ndarray, max_layers: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Array in, array out: raw output values [B, N] (-1 / NaN for None) and layers [B]."""
        tokens = np.asarray(tokens, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        self._check(tokens, lengths)
        x, layers = self.executor.run(tokens, lengths, self._layers(max_layers))
        return dense.decode(self.ir.readout.slot, np.asarray(x, dtype=np.float64)), layers

    def residuals(self, inputs: Sequence[Sequence[int]], layers: int) -> np.ndarray:
        """Residual streams after the embedding and each layer: [layers + 1, B, N, d]."""
        tokens, lengths = self.pad([list(s) for s in inputs])
        self._check(tokens, lengths)
        return np.asarray(self.executor.residuals(tokens, lengths, layers), dtype=np.float64)

    def export_onnx(self, path: str, **options: Any) -> None:
        """Write the model as ONNX (the layer loop as an ONNX Loop), from any backend."""
        from alta.backends import onnx_backend

        onnx_backend.save(self.ir, path, max_layers=self._layers(None), **options)

    def pad(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.asarray([len(s) for s in batch], dtype=np.int64)
        tokens = np.zeros((len(batch), int(lengths.max(initial=0))), dtype=np.int64)
        for b, seq in enumerate(batch):
            tokens[b, : len(seq)] = seq
        return tokens, lengths

    def _check(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        limit = self.ir.position_range
        if limit is not None and lengths.max(initial=0) > limit:
            raise InputError(
                f"a sequence has length {int(lengths.max())} but the model has "
                f"position_range {limit}"
            )
        valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        bad = valid & ((tokens < 0) | (tokens >= self.ir.input_range))
        if bad.any():
            b, i = np.argwhere(bad)[0]
            raise InputError(
                f"sequence {b}, position {i}: token {tokens[b, i]} is outside input_range "
                f"{self.ir.input_range}"
            )

    def _layers(self, max_layers: int | None) -> int:
        layers = max_layers if max_layers is not None else self.max_layers
        if layers is not None:
            return layers
        if self.ir.loop.halt is None:
            raise InterpreterError(
                f"model '{self.ir.name}' has no halt test: pass max_layers to compile or call"
            )
        return UNBOUNDED_LAYER_CAP

    def _decode_row(self, row: np.ndarray) -> list[Any]:
        kind = self.ir.readout.slot.kind
        if kind == sparse.NUMERICAL:
            return [None if np.isnan(v) else float(v) for v in row]
        if kind == sparse.SET:
            slot = self.ir.readout.slot
            return [frozenset(m for m in slot.values if int(v) >> m & 1) for v in row]
        return [None if v < 0 else int(v) for v in row.tolist()]
