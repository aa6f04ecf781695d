"""The onnx backend against the interpreter (the oracle) and the numpy reference executor.

Every library program compiled with backend="onnx" must give the interpreter's outputs and
layer counts on seeded random and edge inputs, and the numpy executor's residual stream
at every layer. An exported file must stand on its own: one `Loop` node, IR version 8
(opset 17; onnxruntime 1.17 reads IR <= 9), a clean `onnx.checker` run, and the
interpreter's outputs from a fresh onnxruntime session.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

ort = pytest.importorskip(
    "onnxruntime", reason="the onnx backend needs onnxruntime: pip install 'alta[onnx]'"
)
onnx = pytest.importorskip("onnx", reason="the onnx backend needs onnx: pip install 'alta[onnx]'")

import alta  # noqa: E402
from alta import interp, programs  # noqa: E402
from alta import lang as pb  # noqa: E402
from alta.backends import base, numpy_backend, onnx_backend, onnx_graph  # noqa: E402
from alta.errors import BackendError  # noqa: E402
from alta.ir import dense, symbolic  # noqa: E402
from alta.model import CompiledModel  # noqa: E402

N_RANDOM = 50
N_RESIDUAL = 3
#: Programs too big for the default run (see `make test`); they run with -m slow.
SLOW = {"subleq": "122k-wide MLP: ~15 s to compile, ~10 s to load, ~35 s for 50 inputs"}
#: A program that loops and halts, small enough for the export tests.
LOOPING = "parity_sequential_relative_rules"


def _library() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in programs.names()
    ]


@functools.cache
def _program(name: str) -> symbolic.Program:
    return programs.get(name).build()


@functools.cache
def _model(name: str) -> CompiledModel:
    return alta.compile(_program(name), backend="onnx", max_layers=programs.get(name).max_layers)


def _quiet() -> Any:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the max_layers input's default draws a warning
    return options


def _numpy(model: CompiledModel, dtype: str = "float32") -> CompiledModel:
    executor = numpy_backend.NumpyBackend().build(model.ir, dtype=dtype)
    return attrs.evolve(model, backend="numpy", executor=executor)


def _raw(model: CompiledModel, batch: list[list[int]], **feeds: object) -> list[np.ndarray]:
    """residual, layers, output of the onnx session itself (not decoded by alta)."""
    tokens, lengths = model.pad(batch)
    assert isinstance(model.executor, onnx_backend.OnnxExecutor)
    return model.executor.session.run(
        ["residual", "layers", "output"], {"tokens": tokens, "lengths": lengths, **feeds}
    )


# --------------------------------------------------------------------------- the library


@pytest.mark.parametrize("name", _library())
def test_library_outputs_and_layers_match_interpreter(name: str) -> None:
    case = programs.get(name)
    model = _model(name)
    batch = case.generate(np.random.default_rng(2024), N_RANDOM) + case.edge_cases()
    want = interp.run(_program(name), batch, case.max_layers)
    assert model(batch) == want.outputs
    tokens, lengths = model.pad(batch)
    layers = model.run(tokens, lengths).layers
    np.testing.assert_array_equal(layers, want.layers)
    # The graph's own `output` decodes the readout slot like alta.ir.dense.decode.
    residual, graph_layers, output = _raw(model, batch)
    np.testing.assert_array_equal(graph_layers, want.layers)
    np.testing.assert_array_equal(output, dense.decode(model.ir.readout.slot, residual))


@pytest.mark.parametrize("name", _library())
def test_library_residuals_match_numpy_at_every_layer(name: str) -> None:
    case = programs.get(name)
    model = _model(name)
    batch = case.generate(np.random.default_rng(7), N_RESIDUAL) + case.edge_cases()[-1:]
    tokens, lengths = model.pad(batch)
    layers = int(model.run(tokens, lengths).layers.max()) + 1  # one more: all halted, frozen
    got = model.residuals(batch, layers)
    want = _numpy(model).residuals(batch, layers)
    assert got.shape == want.shape == (layers + 1, *tokens.shape, model.ir.d_model)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- exported files


def test_exported_file_stands_alone(tmp_path: Path) -> None:
    case = programs.get(LOOPING)
    program = _program(LOOPING)
    path = tmp_path / "parity.onnx"
    alta.compile(program, backend="numpy").export_onnx(str(path))  # any backend exports
    proto = onnx.load(str(path))
    assert proto.ir_version <= 9  # onnxruntime 1.17 reads IR <= 9
    onnx.checker.check_model(proto, full_check=True)
    assert [node.op_type for node in proto.graph.node].count("Loop") == 1
    initializers = {init.name for init in proto.graph.initializer}
    assert set(_model(LOOPING).ir.weights) <= initializers

    session = ort.InferenceSession(str(path), _quiet(), providers=["CPUExecutionProvider"])
    batch = case.generate(np.random.default_rng(3), 20) + case.edge_cases()
    tokens, lengths = _model(LOOPING).pad(batch)
    for limit in (None, 2, 0):
        feeds = {"tokens": tokens, "lengths": lengths}
        if limit is not None:  # the stored default is the interpreter's cap
            feeds["max_layers"] = np.array(limit, dtype=np.int64)
        layers, output = session.run(["layers", "output"], feeds)
        want = interp.run(program, batch, limit)
        decoded = [
            [None if v < 0 else int(v) for v in row[:n]]
            for row, n in zip(output, lengths, strict=True)
        ]
        assert decoded == want.outputs, f"max_layers={limit}"
        np.testing.assert_array_equal(layers, want.layers)


def test_loop_is_one_node_whatever_the_layer_limit() -> None:
    ir = _model(LOOPING).ir
    short, long = onnx_backend.to_onnx(ir, 1), onnx_backend.to_onnx(ir, 500)
    assert len(short.graph.node) == len(long.graph.node)
    (loop,) = [node for node in long.graph.node if node.op_type == "Loop"]
    assert len(loop.attribute[0].g.node) > 10  # the body is a whole layer


@pytest.mark.parametrize("opset", [17, 18, 20])
def test_other_opsets_check_and_agree(opset: int) -> None:
    model = _model(LOOPING)
    proto = onnx_backend.to_onnx(model.ir, 100, opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(
        proto.SerializeToString(), _quiet(), providers=["CPUExecutionProvider"]
    )
    batch = programs.get(LOOPING).generate(np.random.default_rng(5), 10)
    tokens, lengths = model.pad(batch)
    got = session.run(["output"], {"tokens": tokens, "lengths": lengths})[0]
    np.testing.assert_array_equal(got, _raw(model, batch)[2])


@pytest.mark.parametrize("opset", [0, -3, 5, 16, onnx.defs.onnx_opset_version() + 1, 99])
def test_an_opset_out_of_range_is_a_backend_error(opset: int, tmp_path: Path) -> None:
    """99 once crashed in onnx.helper; 5 wrote a file onnxruntime cannot load."""
    model = _model(LOOPING)
    with pytest.raises(BackendError, match=rf"opset {opset} is not supported.*needs opset 17"):
        model.export_onnx(str(tmp_path / "m.onnx"), opset=opset)
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(BackendError, match=rf"opset {opset} is not supported"):
        alta.compile(programs.get(LOOPING).build(), backend="onnx", opset=opset)


def test_residuals_model_is_checked_too() -> None:
    proto = onnx_backend.to_onnx(_model(LOOPING).ir, 10, residuals=True, dtype="float64")
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == 8  # onnxruntime 1.17 takes at most 9
    assert onnx_backend._OPSET == onnx_graph.OPSET  # the backend's copy, kept onnx-free


# --------------------------------------------------------------------------- readout kinds

_SETS = [frozenset(), frozenset({1}), frozenset({0, 2}), frozenset({3})]


def _mean_program(output: str) -> symbolic.Program:
    """A set query selects positions; `mean` averages 10 * position over them."""
    variables: dict[str, symbolic.Var] = {
        "q": pb.set_var(range=4, values=_SETS, input_init_fn=lambda t: _SETS[t]),
        "k": pb.position_var(4),
        "w": pb.numeric_var(position_init_fn=lambda p: 10.0 * p),
        "out": pb.numeric_var(default=-1.0),
    }

    def copy_mean(z: Any) -> None:
        if output == "out":
            z["out"] = z["mean"]

    heads = {"mean": pb.qkv("q", "k", "w")}
    return pb.program_spec(variables, heads, copy_mean, output, input_range=4, position_range=4)


@pytest.mark.parametrize(
    ("output", "kind", "width"),
    [("out", "numerical", 1), ("mean", "numerical", 2), ("q", "set", 4)],
)
def test_numerical_and_set_readouts(output: str, kind: str, width: int) -> None:
    program = _mean_program(output)
    model = alta.compile(program, backend="onnx", max_layers=1)
    slot = model.ir.readout.slot
    assert (slot.kind, slot.width) == (kind, width)
    batch = [[2, 1, 2], [1, 1], [2, 1, 2, 3], [3, 3, 3, 1]]
    if output == "mean":
        batch += [[0, 3], [2, 1, 0]]  # empty and missing selections: None
    want = alta.interpret(program, batch, max_layers=1)
    got = model(batch)
    if kind == "numerical":

        def flat(rows: list[list[Any]]) -> list[float]:
            return [np.nan if v is None else v for row in rows for v in row]

        assert flat(got) == pytest.approx(flat(want), rel=1e-6, nan_ok=True)
    else:
        assert got == want
    residual, _, decoded = _raw(model, batch)
    np.testing.assert_array_equal(decoded, dense.decode(slot, residual))


# --------------------------------------------------------------------------- edge cases


def test_float64_matches_numpy_float64() -> None:
    ir = _model(LOOPING).ir
    model = attrs.evolve(_model(LOOPING), executor=base.get("onnx").build(ir, dtype="float64"))
    batch = programs.get(LOOPING).generate(np.random.default_rng(11), 8)
    got = model.residuals(batch, 6)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _numpy(model, "float64").residuals(batch, 6), atol=1e-9)


def test_padding_is_ignored_and_empty_batches_run() -> None:
    model = _model(LOOPING)
    batch = programs.get(LOOPING).generate(np.random.default_rng(13), 6)
    tokens, lengths = model.pad(batch)
    garbage = np.where(np.arange(tokens.shape[1]) < lengths[:, None], tokens, 99)
    clean_x, clean_layers = model.executor.run(tokens, lengths, 50)
    x, layers = model.executor.run(garbage, lengths, 50)
    np.testing.assert_array_equal(layers, clean_layers)
    np.testing.assert_array_equal(x, clean_x)
    empty = np.zeros((0, 0), dtype=np.int64)
    x, layers = model.executor.run(empty, np.zeros(0, dtype=np.int64), 5)
    assert x.shape == (0, 0, model.ir.d_model) and layers.shape == (0,)
    assert model.residuals(batch, 0).shape == (1, *tokens.shape, model.ir.d_model)
    x, layers = model.executor.run(tokens, lengths, 0)
    assert not layers.any()
    np.testing.assert_array_equal(x, model.residuals(batch, 0)[0])


def test_bad_options_devices_and_dtypes_are_backend_errors(tmp_path: Path) -> None:
    program = _program(LOOPING)
    with pytest.raises(BackendError, match="onnx backend: unknown option 'bogus'"):
        alta.compile(program, backend="onnx", bogus=1)
    with pytest.raises(BackendError, match="export_onnx: unknown option 'bogus'"):
        _model(LOOPING).export_onnx(str(tmp_path / "x.onnx"), bogus=1)
    with pytest.raises(BackendError, match="option 'dtype' takes one of 'float32', 'float64'"):
        alta.compile(program, backend="onnx", dtype="int8")
    with pytest.raises(BackendError, match="device"):
        alta.compile(program, backend="onnx", device="tpu")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendError, match="gpu"):
            alta.compile(program, backend="onnx", device="cuda")


_EMPTY_BATCH = """
import numpy as np
import alta
from alta import programs
case = programs.get("sort_unique")
model = alta.compile(case.build(), backend="onnx", dtype="float64")
batch = case.generate(np.random.default_rng(7), 4)
tokens, lengths = model.pad(batch)
layers = int(model.run(tokens, lengths).layers.max()) + 2  # past the last halt: no rows left
print(model.residuals(batch, layers).shape[0] == layers + 1)
"""


def test_float64_residuals_run_on_after_every_sequence_halted() -> None:
    """onnxruntime's float64 Einsum divided by zero on an empty batch (a SIGFPE that kills
    the process): the residuals model keeps running once every sequence has halted."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _EMPTY_BATCH], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
