"""The ONNX file's contract (docs/onnx.md): inputs, outputs, dtypes, the optional
`max_layers` input with its stored default, and a session that opens without warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import alta
from alta import programs

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

BATCH = [[2, 1, 0, 1], [2, 1]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[alta.CompiledModel, Path]:
    model = alta.compile(programs.get("parity_sequential_relative").build())
    path = tmp_path_factory.mktemp("onnx") / "parity.onnx"
    model.export_onnx(str(path), max_layers=50)
    return model, path


def test_inputs_outputs_and_dtypes(exported: tuple[alta.CompiledModel, Path]) -> None:
    _, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("tokens", "tensor(int64)"),
        ("lengths", "tensor(int64)"),
        ("max_layers", "optional(tensor(int64))"),
    ]
    assert [(o.name, o.type) for o in session.get_outputs()] == [
        ("residual", "tensor(float)"),
        ("layers", "tensor(int64)"),
        ("output", "tensor(int64)"),
        ("halted", "tensor(bool)"),
    ]
    assert session.get_modelmeta().custom_metadata_map["alta.max_layers"] == "50"
    assert "max_layers" not in {init.name for init in proto.graph.initializer}


def test_max_layers_default_and_feed(exported: tuple[alta.CompiledModel, Path]) -> None:
    model, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tokens, lengths = model.pad(BATCH)
    feeds = {"tokens": tokens, "lengths": lengths}
    output, layers, halted = session.run(["output", "layers", "halted"], feeds)
    want = model.run(tokens, lengths, 50)
    np.testing.assert_array_equal(layers, want.layers)
    assert halted.all()
    assert output[0].tolist() == model(BATCH[0])
    feeds["max_layers"] = np.asarray(1, dtype=np.int64)
    layers, halted = session.run(["layers", "halted"], feeds)
    assert layers.tolist() == [1, 1] and not halted[0]


def test_sessions_open_without_warnings(
    exported: tuple[alta.CompiledModel, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    """onnxruntime logs to stderr at its default severity (warnings included): opening
    the exported file, and the onnx backend's lean graph, must log nothing."""
    _, path = exported
    capfd.readouterr()
    options = ort.SessionOptions()
    assert options.log_severity_level in (-1, 2)  # the default: warnings are shown
    ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    alta.compile(programs.get("parity_sequential_relative").build(), backend="onnx")
    err = capfd.readouterr().err
    assert "onnxruntime" not in err and "[W:" not in err, err
