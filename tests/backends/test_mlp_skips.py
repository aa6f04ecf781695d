"""MLP skip inputs (`dense.MLPLayer.skips`) run the same on every backend as in the numpy
reference: exactly, on a hand-built module whose sums are small integers, and on library
programs rewritten into an equivalent MLP with skips."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import numpy as np
import pytest

import alta
from alta import programs
from alta.backends import base
from alta.ir import dense, sparse
from alta.model import CompiledModel

BACKENDS = [name for name in ("numpy", "torch", "jax", "onnx") if name in base.available()]
#: (backend, options) beyond the reference: each backend, dense, and sparse where it can.
RUNS: list[tuple[str, dict[str, Any]]] = [(b, {}) for b in BACKENDS if b != "numpy"] + [
    (b, {"mlp": "sparse"}) for b in ("torch", "jax") if b in BACKENDS
]


def _ids(run: tuple[str, dict[str, Any]]) -> str:
    backend, options = run
    return "-".join([backend, *(f"{k}={v}" for k, v in options.items())])


def _tiny() -> dense.Module:
    """No attention, and three MLP layers whose last reads x and layer 1 through skips: 0/±1
    weights and integer biases, so every backend's sums are exact and must agree bit for bit."""
    rng = np.random.default_rng(7)
    d = 6

    def signs(*shape: int) -> np.ndarray:
        return rng.integers(-1, 2, size=shape).astype(np.float64)

    weights = {
        "embed.tokens": rng.integers(0, 2, size=(4, d)).astype(np.float64),
        "mlp.a.w": signs(d, 5),
        "mlp.a.b": rng.integers(-1, 2, size=5).astype(np.float64),
        "mlp.b.w": signs(5, 3),
        "mlp.b.x": signs(d, 3),
        "mlp.b.b": np.zeros(3),
        "mlp.c.w": signs(3, d),
        "mlp.c.x": signs(d, d),
        "mlp.c.a": signs(5, d),
        "mlp.c.b": np.ones(d),
    }
    layers = (
        dense.MLPLayer("mlp.a.w", "mlp.a.b", dense.CLIPPED_RELU),
        dense.MLPLayer("mlp.b.w", "mlp.b.b", dense.CLIPPED_RELU, skips=((0, "mlp.b.x"),)),
        dense.MLPLayer("mlp.c.w", "mlp.c.b", dense.LINEAR, skips=((0, "mlp.c.x"), (1, "mlp.c.a"))),
    )
    slot = dense.Slot("y", sparse.CATEGORICAL, 0, tuple(range(d)))
    return dense.Module(
        name="tiny_skips",
        d_model=d,
        layout=(slot,),
        weights=weights,
        embed=dense.Embed("embed.tokens", None),
        loop=dense.Loop(dense.Attention(()), dense.MLP(layers), None, 3),
        readout=dense.Readout(slot),
        input_range=4,
        position_range=None,
    )


def _real(stack: np.ndarray, batch: list[list[int]]) -> np.ndarray:
    """Residuals [L, B, N, d] with padded positions zeroed: a backend may freeze a sequence
    at a fixed point (e.g. an empty one) where numpy's `residuals` keeps updating padding."""
    lengths = np.array([len(row) for row in batch])
    valid = np.arange(stack.shape[2])[None, :] < lengths[:, None]
    return np.where(valid[None, :, :, None], stack, 0.0)


def _build(module: dense.Module, backend: str, dtype: str, **options: Any) -> CompiledModel:
    executor = base.get(backend).build(module, dtype=dtype, **options)
    return CompiledModel(module, backend, executor, {})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("run", RUNS, ids=_ids)
def test_tiny_module_with_skips_matches_numpy_exactly(
    run: tuple[str, dict[str, Any]], dtype: str
) -> None:
    module = _tiny()
    batch = [[0, 1, 2, 3], [3, 3], [], [2, 0, 1]]
    want = _real(_build(module, "numpy", dtype).residuals(batch, 3), batch)
    assert np.abs(want).max() > 1  # the skips do change the stream
    got = _real(_build(module, run[0], dtype, **run[1]).residuals(batch, 3), batch)
    np.testing.assert_array_equal(got, want)


def test_numpy_reference_computes_the_documented_skips() -> None:
    """One layer of `_tiny` by hand, from the formula in `alta.ir.dense`."""
    module = _tiny()
    w = module.weights
    x = w["embed.tokens"][[0, 1, 2]]
    h1 = np.clip(x @ w["mlp.a.w"] + w["mlp.a.b"], 0, 1)
    h2 = np.clip(h1 @ w["mlp.b.w"] + w["mlp.b.b"] + x @ w["mlp.b.x"], 0, 1)
    h3 = h2 @ w["mlp.c.w"] + w["mlp.c.b"] + x @ w["mlp.c.x"] + h1 @ w["mlp.c.a"]
    got = _build(module, "numpy", "float64").residuals([[0, 1, 2]], 1)[1, 0]
    np.testing.assert_array_equal(got, x + h3)


# --------------------------------------------------------------------------- library programs


def with_skips(module: dense.Module) -> dense.Module:
    """A two-layer MLP (rules, out) as an equivalent three-layer MLP with skips: layer 2
    copies the rules units and recomputes them from x (a skip from source 0); the last
    layer reads a third of the rules units from each copy and the rest from layer 1 (a
    skip from source 1). Rule units are 0 or 1, so the copy through clipped_relu is exact."""
    rules, out = module.loop.mlp.layers
    w = dict(module.weights)
    w1, w2 = w[rules.w], w[out.w]
    units = w1.shape[1]
    third = np.arange(units) % 3
    w.update(
        {
            "mlp.copy.w": np.hstack([np.eye(units), np.zeros((units, units))]),
            "mlp.copy.x": np.hstack([np.zeros_like(w1), w1]),
            "mlp.copy.b": np.concatenate([np.zeros(units), w[rules.b]]),
            "mlp.last.w": np.vstack([w2 * (third == 0)[:, None], w2 * (third == 1)[:, None]]),
            "mlp.last.rules": w2 * (third == 2)[:, None],
        }
    )
    copy = dense.MLPLayer(
        "mlp.copy.w", "mlp.copy.b", dense.CLIPPED_RELU, skips=((0, "mlp.copy.x"),)
    )
    last = dense.MLPLayer("mlp.last.w", out.b, dense.LINEAR, skips=((1, "mlp.last.rules"),))
    mlp = dense.MLP((rules, copy, last))
    return attrs.evolve(module, weights=w, loop=attrs.evolve(module.loop, mlp=mlp))


LIBRARY = ["parity_sequential_relative_rules", "parity_sequential_absolute_rules"]


@functools.cache
def _library(name: str) -> tuple[CompiledModel, dense.Module, list[list[int]], list[Any]]:
    case = programs.get(name)
    program = case.build()
    model = alta.compile(program, backend="numpy", max_layers=case.max_layers)
    if len(model.ir.loop.mlp.layers) != 2 or model.ir.loop.mlp.layers[1].skips:
        pytest.skip(f"'{name}' no longer compiles to a two-layer MLP")
    batch = case.generate(np.random.default_rng(0), 12) + case.edge_cases()
    want = alta.interpret(program, batch, max_layers=case.max_layers)
    return model, with_skips(model.ir), batch, want


@pytest.mark.parametrize("name", LIBRARY)
def test_rewrite_with_skips_is_equivalent(name: str) -> None:
    model, module, batch, _ = _library(name)
    assert any(layer.skips for layer in module.loop.mlp.layers)
    got = _build(module, "numpy", "float64").residuals(batch, 6)
    np.testing.assert_array_equal(_real(got, batch), _real(model.residuals(batch, 6), batch))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("run", RUNS, ids=_ids)
@pytest.mark.parametrize("name", LIBRARY)
def test_library_program_with_skips_on_every_backend(
    name: str, run: tuple[str, dict[str, Any]], dtype: str
) -> None:
    _, module, batch, want = _library(name)
    model = _build(module, run[0], dtype, **run[1])
    assert model(batch) == want
    reference = _real(_build(module, "numpy", dtype).residuals(batch, 6), batch)
    atol = 1e-5 if dtype == "float32" else 1e-12  # attention's softmax rounds per backend
    np.testing.assert_allclose(_real(model.residuals(batch, 6), batch), reference, atol=atol)
