"""The torch backend against the oracle: decoded outputs equal `alta.interpret` on every
library program, and residual streams match the numpy reference executor layer by layer."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="the torch backend needs torch: pip install 'alta[torch]'"
)

import alta  # noqa: E402
from alta import programs  # noqa: E402
from alta.backends import numpy_backend, torch_backend  # noqa: E402
from alta.errors import BackendError  # noqa: E402
from alta.inputs import DEFAULT_MAX_LAYERS  # noqa: E402
from alta.ir import symbolic  # noqa: E402
from alta.model import CompiledModel  # noqa: E402

pytestmark = pytest.mark.backend("torch")

N_INPUTS = 50  # random inputs per program, plus the program's edge inputs
RUN_INPUTS = 6  # inputs for the numpy comparisons (numpy is the slow side)
RESIDUAL_INPUTS = 3
ATOL = 1e-5

SMALL = "parity_sequential_relative"  # the program for the one-off checks


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a busy 2-core machine OpenMP's spinning threads make these
    small ops ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.cache
def program(name: str) -> symbolic.Program:
    return programs.get(name).build()


@functools.cache
def compiled(name: str, dtype: str = "float32") -> CompiledModel:
    case = programs.get(name)
    return alta.compile(program(name), backend="torch", max_layers=case.max_layers, dtype=dtype)


def compiled_with(name: str = SMALL, **options: Any) -> CompiledModel:
    return alta.compile(program(name), backend="torch", **options)


def inputs(name: str, n: int = N_INPUTS, seed: int = 0) -> list[list[int]]:
    case = programs.get(name)
    return case.generate(np.random.default_rng(seed), n) + case.edge_cases()


def torch_module(model: CompiledModel) -> torch_backend.AltaTransformer:
    executor = model.executor
    assert isinstance(executor, torch_backend.TorchExecutor)
    return executor.model


def numpy_twin(model: CompiledModel, dtype: str = "float32") -> numpy_backend.NumpyExecutor:
    """The numpy executor of the very IR3 module the torch model was built from."""
    return numpy_backend.NumpyBackend().build(model.ir, dtype=dtype)


def assert_matches_numpy(name: str, dtype: str, atol: float) -> None:
    """`run` (which shrinks the batch as sequences halt) gives numpy's final states and
    layer counts; `residuals` give numpy's residual stream at every layer, plus one layer
    after the last halt, where halted sequences must stay frozen."""
    model = compiled(name, dtype)
    batch = inputs(name, RUN_INPUTS, seed=1)
    tokens, lengths = model.pad(batch)
    reference = numpy_twin(model, dtype)
    max_layers = model.max_layers if model.max_layers is not None else DEFAULT_MAX_LAYERS
    x, layers = model.executor.run(tokens, lengths, max_layers)
    x_ref, layers_ref = reference.run(tokens, lengths, max_layers)
    np.testing.assert_array_equal(layers, layers_ref)
    np.testing.assert_allclose(x.astype(np.float64), x_ref, rtol=0, atol=atol)

    few = batch[:RESIDUAL_INPUTS]
    tokens, lengths = model.pad(few)
    depth = int(layers_ref[:RESIDUAL_INPUTS].max()) + 1
    got = model.residuals(few, depth)
    want = reference.residuals(tokens, lengths, depth).astype(np.float64)
    assert got.shape == want.shape == (depth + 1, len(few), tokens.shape[1], model.ir.d_model)
    for layer, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(g, w, rtol=0, atol=atol, err_msg=f"{name}: layer {layer}")


# --------------------------------------------------------------------------- the library


@pytest.mark.parametrize("name", programs.names())
def test_outputs_equal_interpreter(name: str) -> None:
    case = programs.get(name)
    batch = inputs(name)
    expected = alta.interpret(program(name), batch, max_layers=case.max_layers)
    assert compiled(name)(batch) == expected


@pytest.mark.parametrize("name", programs.names())
def test_matches_numpy(name: str) -> None:
    assert_matches_numpy(name, "float32", ATOL)


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("name", [SMALL, "sort_unique"])
def test_float64(name: str) -> None:
    model = compiled(name, "float64")
    assert torch_module(model).weight(model.ir.embed.tokens).dtype == torch.float64
    batch = inputs(name, 20)
    case = programs.get(name)
    assert model(batch) == alta.interpret(program(name), batch, max_layers=case.max_layers)
    assert_matches_numpy(name, "float64", 1e-9)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision(dtype: str) -> None:
    model = compiled(SMALL, dtype)
    batch = inputs(SMALL, 10)
    assert model(batch) == alta.interpret(program(SMALL), batch)
    assert model.residuals(batch[:2], 2).dtype == np.float64


def test_unknown_dtype() -> None:
    with pytest.raises(BackendError, match=r"option 'dtype' takes one of .*'bfloat16', not 'int8'"):
        compiled_with(dtype="int8")


# --------------------------------------------------------------------------- the module


def test_buffers_are_the_ir3_weights() -> None:
    model = compiled(SMALL)
    module = torch_module(model)
    assert isinstance(module, torch.nn.Module)
    assert sorted(module.weight_names) == sorted(model.ir.weights)
    assert len(set(module.weight_names.values())) == len(module.weight_names)  # 1:1
    state = module.state_dict()
    assert set(state) == set(module.weight_names.values())
    for name, key in module.weight_names.items():
        assert key == torch_backend.buffer_name(name)
        np.testing.assert_allclose(state[key].double().numpy(), model.ir.weights[name], atol=1e-6)


def test_padding_does_not_reach_real_positions() -> None:
    model = compiled("addition_rules")
    short, long = inputs("addition_rules", 2, seed=3)[:2]
    if len(short) > len(long):
        short, long = long, short
    alone = model.residuals([short], 6)
    padded = model.residuals([short, long + long], 6)[:, :1, : len(short)]
    np.testing.assert_allclose(padded, alone, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", [SMALL, "addition_rules"])
def test_banded_heads_equal_dense_heads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative heads gather their few keys; masked full attention gives the same."""
    banded = compiled(name)
    assert any(g.offsets is not None for g in torch_module(banded).groups)
    monkeypatch.setattr(torch_backend, "MAX_BANDED_OFFSETS", -1)
    dense = alta.compile(program(name), backend="torch")
    assert all(g.offsets is None for g in torch_module(dense).groups)
    batch = inputs(name, 4, seed=4)
    np.testing.assert_allclose(
        banded.residuals(batch, 8), dense.residuals(batch, 8), rtol=0, atol=ATOL
    )


def test_empty_sequences() -> None:
    name = "parity_sequential_absolute"
    batch: list[list[int]] = [[], [], [1, 0, 1]]
    assert compiled(name)(batch) == alta.interpret(program(name), batch)
    assert compiled(name)([[], []]) == [[], []]


def test_torch_module_call() -> None:
    """The nn.Module runs on torch tensors directly: (final residual, layers)."""
    model = compiled(SMALL)
    tokens, lengths = model.pad([[2, 1, 1], [2, 0]])
    with torch.inference_mode():
        x, layers = torch_module(model)(torch.as_tensor(tokens), torch.as_tensor(lengths), 10)
    assert x.shape == (2, 3, model.ir.d_model)
    assert layers.tolist() == [2, 1]


# --------------------------------------------------------------------------- options


def test_unknown_option() -> None:
    with pytest.raises(BackendError, match="torch backend: unknown option 'fast'"):
        compiled_with(fast=True)


def test_bad_option_value() -> None:
    with pytest.raises(BackendError, match="option 'compile' takes bool or str, not 3"):
        compiled_with(compile=3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_unavailable(device: str) -> None:
    with pytest.raises(BackendError, match=f"device '{device}'"):
        compiled_with(device=device)


def test_bad_device() -> None:
    with pytest.raises(BackendError, match="bad device 'gpu-please'"):
        compiled_with(device="gpu-please")


def test_cuda_graphs_need_cuda() -> None:
    with pytest.raises(BackendError, match="cuda_graphs=True needs a CUDA device"):
        compiled_with(device="cpu", cuda_graphs=True)


@pytest.fixture(scope="module")
def dynamo() -> None:
    """Skip when torch.compile cannot trace on this platform."""
    try:
        torch.compile(lambda t: t + 1, backend="eager", fullgraph=True)(torch.zeros(1))
    except Exception as err:  # any failure means "not available here"
        pytest.skip(f"torch.compile is unavailable on this platform: {err}")


def test_compiled_layer_body(dynamo: None) -> None:
    """compile= compiles the layer body (aot_eager here: inductor takes minutes on a
    small CPU; see test_inductor); outputs still equal the interpreter's, including for
    new batch shapes and the shrinking batch."""
    model = compiled_with(compile="aot_eager")
    for seed, n in ((0, 12), (1, 7)):
        batch = inputs(SMALL, n, seed=seed)
        assert model(batch) == alta.interpret(program(SMALL), batch)


def test_layer_body_is_one_graph(dynamo: None) -> None:
    """`advance` traces without graph breaks, so one compiled graph runs every layer."""
    model = compiled("addition_rules")
    module = torch_module(model)
    tokens, lengths = model.pad(inputs("addition_rules", 3))
    with torch.inference_mode():
        x, valid, biases, packed = module.start(torch.as_tensor(tokens), torch.as_tensor(lengths))
        active = torch.ones(len(tokens), dtype=torch.bool)
        layers = torch.zeros(len(tokens), dtype=torch.int64)
        args = (x, active, layers, valid, biases, packed)
        traced = torch.compile(module.advance, backend="eager", fullgraph=True)(*args)
        for got, want in zip(traced, module.advance(*args), strict=True):
            assert torch.equal(got, want)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="inductor on CPU needs a C++ compiler")
def test_inductor(dynamo: None) -> None:
    model = compiled_with(compile=True)
    batch = inputs(SMALL, 16)
    assert model(batch) == alta.interpret(program(SMALL), batch)


# --------------------------------------------------------------------------- CUDA


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("name", [SMALL, "addition_rules", "sort_unique"])
def test_cuda_outputs_equal_interpreter(name: str) -> None:
    case = programs.get(name)
    model = alta.compile(program(name), backend="torch", device="cuda", max_layers=case.max_layers)
    batch = inputs(name)
    assert model(batch) == alta.interpret(program(name), batch, max_layers=case.max_layers)


@cuda
def test_cuda_graphs() -> None:
    model = compiled_with(device="cuda", cuda_graphs=True)
    for seed in (0, 1):
        batch = inputs(SMALL, 16, seed=seed)
        assert model(batch) == alta.interpret(program(SMALL), batch)
    reference = compiled(SMALL).residuals(batch[:3], 5)
    np.testing.assert_allclose(model.residuals(batch[:3], 5), reference, rtol=0, atol=ATOL)
