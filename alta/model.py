"""`CompiledModel`: what `alta.compile` returns, the same for every backend.

It checks and pads inputs exactly as the interpreter does (`alta.inputs`), resolves
`max_layers`, runs the backend's executor, refuses to return a state that has not halted,
and decodes the readout slot into Python values, so a backend only has to run tensors.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import attrs
import numpy as np

from alta import inputs as checks
from alta.backends import base
from alta.errors import BackendError, InputError, InterpreterError
from alta.ir import dense, sparse

#: How many unhalted sequences an error names before it says "and N more".
_NAMED = 5


class ModelRun(NamedTuple):
    """What `CompiledModel.run` returns, one row per sequence."""

    values: np.ndarray  # [B, N] raw output values: -1 (categorical) or NaN for None
    layers: np.ndarray  # [B] layers run until it halted; max_layers if it did not halt
    halted: np.ndarray  # [B] bool: the halt test holds (all True without a halt test)


@attrs.define(init=False)
class CompiledModel:
    """A compiled Transformer. `model(inputs)` mirrors `alta.interpret(program, inputs)`.

    Layers: `max_layers` (of the call, else the model's, `ir.loop.max_layers`, which
    `alta.compile(max_layers=...)` sets) bounds a run. Without either, a model with a
    halt test runs at most `alta.inputs.DEFAULT_MAX_LAYERS` (10,000) layers, and one
    without a halt test refuses to run. A sequence stops early when it halts, or at a
    fixed point (a layer leaves its state exactly unchanged). If the model has a halt
    test and a sequence has not halted when the run ends, the call raises an
    `InterpreterError` naming it, rather than return an unfinished state; pass a larger
    `max_layers`, or `allow_unhalted=True` to get that state anyway.
    """

    ir: dense.Module
    backend: str
    executor: base.Executor
    stats: dict[str, Any]
    sparse_ir: sparse.Module | None = None

    def __init__(
        self,
        ir: dense.Module,
        backend: str,
        executor: base.Executor,
        stats: dict[str, Any],
        max_layers: int | None = None,
        sparse_ir: sparse.Module | None = None,
    ) -> None:
        """`max_layers` is accepted for older callers only: the budget lives in `ir`."""
        if max_layers is not None and max_layers != ir.loop.max_layers:
            raise ValueError(
                f"max_layers={max_layers} differs from the IR's loop.max_layers="
                f"{ir.loop.max_layers}; the model's layer budget is the IR's, set it there"
            )
        # How the executor runs (e.g. stats["mlp_execution"]) is part of the stats.
        stats = {**stats, **base.execution(executor)}
        self.__attrs_init__(ir, backend, executor, stats, sparse_ir)

    @property
    def max_layers(self) -> int | None:
        """The model's default layer budget: the IR's `loop.max_layers` (None: the default
        cap with a halt test, else a call must say)."""
        return self.ir.loop.max_layers

    def __call__(
        self, inputs: Any, max_layers: int | None = None, *, allow_unhalted: bool = False
    ) -> list[Any]:
        """Outputs of one sequence (a list of ints) or a batch (a list of lists), decoded."""
        single, batch = checks.as_batch(inputs)
        tokens, lengths = self._pad(batch)
        values = self.run(tokens, lengths, max_layers, allow_unhalted=allow_unhalted).values
        outputs = self.decode(values, lengths)
        return outputs[0] if single else outputs

    def decode(self, values: np.ndarray, lengths: np.ndarray) -> list[list[Any]]:
        """`ModelRun.values` as Python values, one list per sequence (what `model(...)`
        returns), for callers of `run` that want the layer counts too."""
        return [self._decode_row(row[:n]) for row, n in zip(values, lengths, strict=True)]

    def run(
        self,
        tokens: Any,
        lengths: Any,
        max_layers: int | None = None,
        *,
        allow_unhalted: bool = False,
    ) -> ModelRun:
        """Array in, array out: tokens [B, N] and lengths [B] (integer arrays) in, a
        `ModelRun` out. A sequence that has not halted is an error (see the class
        docstring) unless `allow_unhalted`."""
        tokens, lengths = self.check_arrays(tokens, lengths)
        limit = self.layer_budget(max_layers)
        x, layers = self.executor.run(tokens, lengths, limit)
        x = np.asarray(x, dtype=np.float64)
        halted = self.halted(x, lengths)
        if not allow_unhalted and not halted.all():
            raise self._unhalted(halted, limit, max_layers)
        values = dense.decode(self.ir.readout.slot, x)
        return ModelRun(values, np.asarray(layers, dtype=np.int64), halted)

    def residuals(self, inputs: Any, layers: int) -> np.ndarray:
        """Residual streams after the embedding and each layer: [layers + 1, B, N, d],
        a halted sequence frozen. `inputs` is a batch (one sequence is a batch of one)."""
        if isinstance(layers, bool | np.bool_) or not isinstance(layers, int | np.integer):
            raise InputError(f"layers must be an int >= 0, got {layers!r}")
        if layers < 0:
            raise InputError(f"layers must be >= 0, got {layers}")
        tokens, lengths = self.pad(inputs)
        return np.asarray(self.executor.residuals(tokens, lengths, int(layers)), dtype=np.float64)

    def show(
        self,
        inputs: Any,
        layer: int | None = None,
        *,
        program: Any = None,
        max_layers: int | None = None,
    ) -> Any:
        """A matplotlib Figure of one input's run, one layer (default: the last): residual
        heatmap, attention, decoded values; `program` (the IR1) adds the interpreter's
        values beside them. Needs the `viz` extra; `alta show` draws every layer."""
        from alta.show import figures, views

        return figures.figure(views.view(self, inputs, program, max_layers), layer)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as `path` (NAME.alta: its printed IR3, versioned) and its weights
        beside it (NAME.safetensors); `alta.load(path)` gives it back (docs/saved-models.md)."""
        from alta import saved

        running = base.execution(self.executor)  # the backend's, not the model's
        saved.save(path, self.ir, {k: v for k, v in self.stats.items() if k not in running})

    def __repr__(self) -> str:
        """One line: the IR (`model.ir`) prints the whole model."""
        s = self.stats
        halt = "halt" if self.ir.loop.halt is not None else "no halt"
        return (
            f"CompiledModel('{self.ir.name}', backend={self.backend!r}, "
            f"d_model={self.ir.d_model}, heads={len(self.ir.loop.attention.heads)}, "
            f"mlp={list(self.ir.mlp_widths)}, rules={s.get('rules')}, "
            f"params={s.get('params')}, max_layers={self.max_layers}, {halt})"
        )

    def export_onnx(self, path: str, max_layers: int | None = None, **options: Any) -> None:
        """Write the model as ONNX (the layer loop as an ONNX Loop), from any backend;
        `max_layers` (else the model's, else the default cap) is the file's default."""
        from alta.backends import onnx_backend

        limit = self.layer_budget(max_layers, where="export_onnx")
        try:
            onnx_backend.save(self.ir, path, max_layers=limit, **options)
        except OSError as exc:
            raise BackendError(f"cannot write the ONNX file '{path}': {exc}") from None

    def pad(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """Check a batch as the interpreter does (one sequence is a batch of one); tokens
        [B, N] (0-padded) and lengths [B]."""
        return self._pad(checks.as_batch(batch)[1])

    def _pad(self, rows: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
        return checks.pad(rows, self.ir.input_range, self.ir.position_range, self._name)

    # ------------------------------------------------------------------ checks

    @property
    def _name(self) -> str:
        return f"model '{self.ir.name}'"

    def check_arrays(self, tokens: Any, lengths: Any) -> tuple[np.ndarray, np.ndarray]:
        """`run`'s arrays, checked: integers (never truncated floats), matching shapes,
        lengths within [0, N] and position_range, real tokens in input_range."""
        tokens, lengths = _integers(tokens, "tokens"), _integers(lengths, "lengths")
        if tokens.shape == (0,):  # `[]`: an empty batch
            tokens = tokens.reshape(0, 0)
        if tokens.ndim != 2 or lengths.ndim != 1 or len(lengths) != len(tokens):
            raise InputError(
                f"tokens must be [B, N] and lengths [B]; got shapes {tokens.shape} and "
                f"{lengths.shape}"
            )
        n, limit = tokens.shape[1], self.ir.position_range
        outside = (lengths < 0) | (lengths > n)
        if outside.any():
            b = int(np.argmax(outside))
            raise InputError(f"sequence {b}: length {lengths[b]} is outside [0, {n}]")
        if limit is not None and (lengths > limit).any():
            b = int(np.argmax(lengths > limit))
            raise InputError(
                f"sequence {b} has length {lengths[b]} but {self._name} has position_range "
                f"{limit}; shorten it or raise position_range"
            )
        valid = np.arange(n)[None, :] < lengths[:, None]
        bad = valid & ((tokens < 0) | (tokens >= self.ir.input_range))
        if bad.any():
            b, i = np.argwhere(bad)[0]
            raise InputError(
                f"sequence {b}, position {i}: token {tokens[b, i]} is outside input_range "
                f"{self.ir.input_range} of {self._name}"
            )
        # Padding may hold anything; executors index embeddings with it, so make it 0.
        return np.where(valid, tokens, 0).astype(np.int64), lengths.astype(np.int64)

    def layer_budget(self, max_layers: Any, where: str = "the call") -> int:
        """How many layers a run may take: `max_layers`, else the model's, else the
        default cap when the model halts by itself (an error when it does not)."""
        layers = checks.check_max_layers(max_layers)
        if layers is None:
            layers = self.max_layers
        if layers is not None:
            return layers
        if self.ir.loop.halt is None:
            raise InterpreterError(
                f"{self._name} has no halt test: pass max_layers=N to {where} or to "
                "alta.compile to say how many layers to run"
            )
        return checks.DEFAULT_MAX_LAYERS

    def halted(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Per sequence, whether the final residual `x` passes the halting test."""
        test = self.ir.loop.halt
        if test is None:
            return np.ones(len(x), dtype=bool)
        valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
        return np.asarray(((x[..., test.dim] > 0.5) | ~valid).all(axis=1))

    def _unhalted(self, halted: np.ndarray, limit: int, given: Any) -> InterpreterError:
        rows = np.flatnonzero(~halted).tolist()
        named = ", ".join(map(str, rows[:_NAMED]))
        more = f" and {len(rows) - _NAMED} more" if len(rows) > _NAMED else ""
        if given is not None:
            budget = f"max_layers={limit}"
        elif self.max_layers is not None:
            budget = f"max_layers={limit} (given to alta.compile)"
        else:
            budget = f"the default cap of {limit} layers (alta.inputs.DEFAULT_MAX_LAYERS)"
        return InterpreterError(
            f"{self._name}: sequence{'s' if len(rows) > 1 else ''} {named}{more} did not halt "
            f"within {budget}; pass a larger max_layers (though a sequence whose state has "
            "stopped changing never halts), or allow_unhalted=True to get the unhalted state"
        )

    def _decode_row(self, row: np.ndarray) -> list[Any]:
        kind = self.ir.readout.slot.kind
        if kind == sparse.NUMERICAL:
            return [None if np.isnan(v) else float(v) for v in row]
        if kind == sparse.SET:
            slot = self.ir.readout.slot
            return [frozenset(m for m in slot.values if int(v) >> m & 1) for v in row]
        return [None if v < 0 else int(v) for v in row.tolist()]


def _integers(given: Any, name: str) -> np.ndarray:
    """`given` as an integer array; floats (even whole ones), bools and ragged lists are
    refused rather than truncated. An empty array may have any numeric dtype."""
    try:
        arr = np.asarray(given)
    except ValueError as err:  # ragged nested lists
        raise InputError(f"{name} must be a rectangular integer array: {err}") from err
    if arr.dtype.kind in "iu" or (arr.size == 0 and arr.dtype.kind in "iuf"):
        return arr
    raise InputError(
        f"{name} must be an integer array, got dtype {arr.dtype}; pad ragged sequences with "
        "model.pad(batch)"
    )
