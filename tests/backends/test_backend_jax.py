"""The jax backend against the interpreter and the numpy reference, on the whole library.

Decoded outputs must equal `alta.interpret` exactly; residual streams must stay within
1e-5 of the numpy executor at every layer. Each program is compiled once (module cache):
jit compile time dominates this file.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the jax backend needs jax: pip install 'alta[jax]'")

import alta  # noqa: E402
from alta import interp, programs  # noqa: E402
from alta.backends import jax_backend, numpy_backend  # noqa: E402
from alta.errors import BackendError  # noqa: E402

N_INPUTS = 50
N_RESIDUAL = 3
MAX_RESIDUAL_LAYERS = 32
#: Dense MLPs of 27k (addition) and 123k (subleq) units: minutes to compile and to run.
HEAVY = {"addition", "subleq"}
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in programs.names()]


@functools.cache
def _case(name: str) -> tuple[Any, list[list[int]], list[Any], Any, Any]:
    """Inputs, interpreter outputs, the jax model and a numpy executor of the same IR."""
    case = programs.get(name)
    program = case.build()
    inputs = [list(x) for x in case.generate(np.random.default_rng(7), N_INPUTS)]
    inputs += case.edge_cases()
    expected = interp.run(program, inputs, case.max_layers).outputs
    model = alta.compile(program, backend="jax", max_layers=case.max_layers)
    reference = numpy_backend.NumpyBackend().build(model.ir)
    return case, inputs, expected, model, reference


@functools.cache
def _program_small() -> Any:
    return programs.get("parity_sequential_relative_rules").build()


@functools.cache
def _small() -> Any:
    return alta.compile(_program_small(), backend="jax")


@pytest.mark.parametrize("name", NAMES)
def test_outputs_equal_interpreter(name: str) -> None:
    _, inputs, expected, model, _ = _case(name)
    got = model(inputs)
    bad = [(x, g, e) for x, g, e in zip(inputs, got, expected, strict=True) if g != e]
    assert not bad, f"{len(bad)} of {len(inputs)} differ; first (input, jax, interp): {bad[0]}"


@pytest.mark.parametrize("name", NAMES)
def test_layers_and_residuals_match_numpy(name: str) -> None:
    _, inputs, _, model, reference = _case(name)
    few = [*inputs[:N_RESIDUAL], min(inputs, key=len)]
    tokens, lengths = model.pad(few)
    limit = model.layer_budget(None)
    x, ran = model.executor.run(tokens, lengths, limit)
    x_ref, ran_ref = reference.run(tokens, lengths, limit)
    np.testing.assert_array_equal(ran, ran_ref)
    np.testing.assert_allclose(x, x_ref, atol=1e-5, rtol=0, err_msg="final residual")

    layers = min(int(ran.max()) + 1, MAX_RESIDUAL_LAYERS)  # one past a halt: rows freeze
    got = model.residuals(few, layers)
    want = reference.residuals(tokens, lengths, layers)
    assert got.shape == want.shape == (layers + 1, len(few), tokens.shape[1], model.ir.d_model)
    for i in range(layers + 1):
        np.testing.assert_allclose(got[i], want[i], atol=1e-5, rtol=0, err_msg=f"layer {i}")


def test_max_layers_and_bucketed_shapes_share_one_compile() -> None:
    model = _small()
    apply = model.executor.apply
    before = apply._cache_size()
    for n, limit in [(5, 1), (7, 3), (6, 100_000)]:
        batch = [[2, *([1] * (n - 1))]] * n  # n rows of n tokens: all in the 8 x 8 bucket
        layers = model.run(*model.pad(batch), max_layers=limit, allow_unhalted=True).layers
        assert (layers == min(limit, n - 1)).all()
    assert apply._cache_size() - before <= 1


def test_empty_batch_and_empty_sequences() -> None:
    model = _small()
    x, layers = model.executor.run(np.zeros((0, 0), np.int64), np.zeros(0, np.int64), 10)
    assert x.shape == (0, 0, model.ir.d_model) and layers.shape == (0,)
    assert model([[], [2]]) == alta.interpret(_program_small(), [[], [2]])


def test_float64_matches_numpy_float64_and_leaves_global_config_alone() -> None:
    program = _program_small()
    model = alta.compile(program, backend="jax", dtype="float64")
    assert model.executor.params[model.ir.loop.mlp.layers[0].w].dtype == np.float64
    inputs = [[2, 1, 0, 1, 1], [2, 0]]
    reference = alta.compile(program, dtype="float64")
    np.testing.assert_allclose(
        model.residuals(inputs, 5), reference.residuals(inputs, 5), atol=1e-12, rtol=0
    )
    assert model(inputs) == alta.interpret(program, inputs)
    assert not jax.config.jax_enable_x64


def test_apply_is_a_pure_function_of_params() -> None:
    import jax.numpy as jnp

    model = _small()
    tokens, lengths = model.pad([[2, 1, 1], [2, 0]])
    apply = jax.jit(model.executor.apply)
    x, layers = apply(model.executor.params, tokens, lengths, np.int32(10))
    x_ref, layers_ref = model.executor.run(tokens, lengths, 10)
    np.testing.assert_array_equal(np.asarray(x), x_ref)
    np.testing.assert_array_equal(np.asarray(layers), layers_ref)

    # reverse mode through one layer: masked keys and the null slot give finite gradients
    valid = jnp.arange(tokens.shape[1])[None, :] < jnp.asarray(lengths)[:, None]
    x0 = jnp.asarray(x_ref)

    def loss(params: Any) -> Any:
        return model.executor.layer(params, x0, valid).sum()

    grads = jax.jit(jax.grad(loss))(model.executor.params)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))


def test_unknown_option_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="jax backend: unknown option 'frobnicate'"):
        jax_backend.JaxBackend().build(_small().ir, frobnicate=True)
    with pytest.raises(BackendError, match=r"option 'dtype' takes one of .*not 'int8'"):
        jax_backend.JaxBackend().build(_small().ir, dtype="int8")


def test_missing_device_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="tpu7"):
        jax_backend.JaxBackend().build(_small().ir, device="tpu7")
    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("a GPU is present")
    with pytest.raises(BackendError, match="'gpu' is not present"):
        jax_backend.JaxBackend().build(_small().ir, device="gpu")
