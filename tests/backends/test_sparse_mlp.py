"""Sparse MLP weights (backend option `mlp`): the same numbers as dense, exactly, on
library programs, in float32 and float64; the choice per weight is in
`model.stats["mlp_execution"]`; "auto" goes by size and density (`base.mlp_plan`)."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import numpy as np
import pytest

import alta
from alta import programs
from alta.backends import base
from alta.errors import BackendError
from alta.ir import dense
from alta.model import CompiledModel

SPARSE_BACKENDS = [name for name in ("torch", "jax") if name in base.available()]
PROGRAMS = ["addition", "sort_unique", "parity_sequential_relative_rules"]


@functools.cache
def _case(name: str) -> tuple[Any, list[list[int]], list[Any]]:
    case = programs.get(name)
    program = case.build()
    batch = case.generate(np.random.default_rng(1), 10) + case.edge_cases()
    return program, batch, alta.interpret(program, batch, max_layers=case.max_layers)


def _compile(name: str, backend: str, **options: Any) -> CompiledModel:
    return alta.compile(
        _case(name)[0], backend=backend, max_layers=programs.get(name).max_layers, **options
    )


def _matrices(module: dense.Module) -> set[str]:
    """Every MLP weight matrix (named mlp.*, two-dimensional: not the biases)."""
    return {n for n, w in module.weights.items() if n.startswith("mlp.") and np.ndim(w) == 2}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_sparse_equals_dense_exactly(name: str, backend: str, dtype: str) -> None:
    _, batch, want = _case(name)
    dense_model = _compile(name, backend, dtype=dtype, mlp="dense")
    sparse_model = _compile(name, backend, dtype=dtype, mlp="sparse")
    assert set(sparse_model.stats[base.MLP_EXECUTION].values()) == {"sparse"}
    assert sparse_model(batch) == want
    np.testing.assert_array_equal(sparse_model.residuals(batch, 6), dense_model.residuals(batch, 6))


@pytest.mark.parametrize("backend", [*SPARSE_BACKENDS, "onnx"])
def test_stats_name_every_mlp_weight_matrix(backend: str) -> None:
    if backend not in base.available():
        pytest.skip(f"backend {backend} is not installed")
    model = _compile("addition", backend)
    execution = model.stats[base.MLP_EXECUTION]
    assert set(execution) == _matrices(model.ir)
    assert set(execution.values()) == {"dense"}  # a small MLP: auto runs it dense
    assert "rules" in model.stats  # the compiler's stats are still there


def test_the_numpy_reference_reports_nothing() -> None:
    assert base.MLP_EXECUTION not in _compile("addition", "numpy").stats
    assert base.execution(object()) == {}


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
def test_option_values_and_errors(backend: str) -> None:
    b = base.get(backend)
    assert b.parse().mlp == "auto"
    assert b.parse(text=["mlp=sparse"]).mlp == "sparse"
    with pytest.raises(BackendError, match=f"{backend} backend: option 'mlp' takes .*'bogus'"):
        b.parse({"mlp": "bogus"})
    with pytest.raises(BackendError, match="numpy backend: unknown option 'mlp'"):
        _compile("addition", "numpy", mlp="sparse")


# --------------------------------------------------------------------------- auto


def _module_with(*matrices: np.ndarray) -> dense.Module:
    """`addition`'s IR3 with an MLP of the given weight matrices (only their sizes and zeros
    matter to `mlp_plan`)."""
    module = _compile("addition", "numpy").ir
    weights = dict(module.weights)
    layers = []
    for k, matrix in enumerate(matrices):
        weights[f"mlp.{k}.w"], weights[f"mlp.{k}.b"] = matrix, np.zeros(matrix.shape[1])
        layers.append(dense.MLPLayer(f"mlp.{k}.w", f"mlp.{k}.b", dense.CLIPPED_RELU))
    loop = attrs.evolve(module.loop, mlp=dense.MLP(tuple(layers)))
    return attrs.evolve(module, weights=weights, loop=loop)


def _thin(rows: int, cols: int, density: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((rows, cols)) < density).astype(np.float64)


@pytest.mark.parametrize(
    ("matrices", "how"),
    [
        ([(1024, 1024, 0.02), (1024, 64, 0.02)], "sparse"),
        ([(1024, 1024, 0.2)], "dense"),  # too many nonzeros
        ([(256, 256, 0.01)], "dense"),  # too small to pay
        # one MLP, one choice: a dense-ish small weight rides along with a thin big one
        ([(1024, 1024, 0.01), (1024, 32, 0.6)], "sparse"),
    ],
)
def test_auto_decides_for_the_whole_mlp(matrices: list[tuple[int, int, float]], how: str) -> None:
    module = _module_with(*(_thin(*m) for m in matrices))
    assert set(base.mlp_plan(module, "auto").values()) == {how}
    assert set(base.mlp_plan(module, "dense").values()) == {"dense"}
    assert set(base.mlp_plan(module, "sparse").values()) == {"sparse"}


@pytest.mark.parametrize("backend", SPARSE_BACKENDS)
def test_auto_runs_the_biggest_library_mlp_sparse(backend: str) -> None:
    """subleq_rules: 313k MLP weight entries, 6.8% nonzero (faster sparse, see the doc)."""
    _, batch, want = _case("subleq_rules")
    model = _compile("subleq_rules", backend)
    assert set(model.stats[base.MLP_EXECUTION].values()) == {"sparse"}
    assert model(batch) == want


# --------------------------------------------------------------------------- torch


needs_torch = pytest.mark.skipif("torch" not in SPARSE_BACKENDS, reason="needs torch")


@needs_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_torch_half_precision_on_cpu_falls_back_to_dense(dtype: str) -> None:
    _, batch, want = _case("parity_sequential_relative_rules")
    model = _compile("parity_sequential_relative_rules", "torch", dtype=dtype, mlp="sparse")
    assert set(model.stats[base.MLP_EXECUTION].values()) == {"dense-fallback"}
    assert model.executor.model.sparse_weights == {}  # type: ignore[attr-defined]
    assert model(batch) == want


@needs_torch
def test_torch_sparse_copies_stay_out_of_the_state_dict() -> None:
    import torch

    model = _compile("addition", "torch", mlp="sparse")
    module = model.executor.model  # type: ignore[attr-defined]
    assert set(module.state_dict()) == set(module.weight_names.values())
    assert set(module.sparse_weights) == set(_matrices(model.ir))
    for name, key in module.sparse_weights.items():
        csr = getattr(module, key)
        assert csr.layout == torch.sparse_csr
        np.testing.assert_array_equal(csr.to_dense().T.numpy(), model.ir.weights[name])


@needs_torch
def test_torch_compiled_layer_runs_sparse_products_eagerly() -> None:
    """torch.compile cannot trace sparse tensors: the layer body breaks its graph there."""
    _, batch, want = _case("parity_sequential_relative_rules")
    model = _compile("parity_sequential_relative_rules", "torch", mlp="sparse", compile="aot_eager")
    assert set(model.stats[base.MLP_EXECUTION].values()) == {"sparse"}
    assert model(batch) == want


# --------------------------------------------------------------------------- jax


@pytest.mark.skipif("jax" not in SPARSE_BACKENDS, reason="needs jax")
def test_jax_params_hold_sparse_weights_as_bcsr_of_the_transpose() -> None:
    from jax.experimental import sparse as jsparse

    model = _compile("addition", "jax", mlp="sparse")
    params = model.executor.params  # type: ignore[attr-defined]
    for name in _matrices(model.ir):
        assert isinstance(params[name], jsparse.BCSR)
        np.testing.assert_array_equal(np.asarray(params[name].todense()).T, model.ir.weights[name])
    biases = [layer.b for layer in model.ir.loop.mlp.layers]
    assert not any(isinstance(params[b], jsparse.BCSR) for b in biases)
