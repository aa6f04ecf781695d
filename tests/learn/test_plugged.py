"""`PluggedModel`: the compiled model with another MLP. With the compiled MLP plugged back
in it must be the compiled model, output for output and residual for residual."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from alta import programs  # noqa: E402
from alta.ir import dense, sparse  # noqa: E402
from alta.learn import metrics, trace_mlp  # noqa: E402
from alta.learn.plugged import PluggedModel  # noqa: E402

PARITY = "parity_sequential_relative"

NAMES = [
    "parity_sequential_relative",
    "parity_sequential_absolute_rules",
    "parity_sum_mod_2",
    "addition",
    "addition_rules",
]


def _batch(name: str) -> list[list[int]]:
    case = programs.get(name)
    return case.edge_cases() + case.generate(np.random.default_rng(0), 12)


@pytest.mark.parametrize("name", NAMES)
def test_compiled_mlp_plugged_in_is_the_compiled_model(
    name: str, compiled: Any, compiled_mlp: Any
) -> None:
    model = compiled(name)
    plugged = PluggedModel(model, compiled_mlp(model))
    batch = _batch(name)
    layers = programs.get(name).max_layers
    assert plugged(batch, max_layers=layers) == model(batch, max_layers=layers)
    assert plugged(batch[-1], max_layers=layers) == model(batch[-1], max_layers=layers)


@pytest.mark.parametrize("name", ["parity_sequential_relative", "addition"])
def test_residuals_match_the_compiled_model(name: str, compiled: Any, compiled_mlp: Any) -> None:
    model = compiled(name)
    batch = _batch(name)[:6]
    got = PluggedModel(model, compiled_mlp(model)).residuals(batch, 5)
    np.testing.assert_allclose(got, model.residuals(batch, 5), atol=1e-9)


def test_run_reports_layers_and_halting(compiled: Any, compiled_mlp: Any) -> None:
    model = compiled(PARITY)
    tokens, lengths = model.pad([[2, 1, 0, 1], [2], [2, 1, 1, 1, 1, 0, 0]])
    run = PluggedModel(model, compiled_mlp(model)).run(tokens, lengths)
    want = model.run(tokens, lengths)
    assert run.layers.tolist() == want.layers.tolist() == [3, 1, 6]
    assert run.halted.all()
    np.testing.assert_array_equal(run.values, want.values)


def _identity_mlp(d_model: int, program: str = "") -> trace_mlp.TrainedMLP:
    """An MLP that writes nothing: `done` is never set, so nothing halts."""
    net = torch.nn.Linear(d_model, d_model)
    torch.nn.init.zeros_(net.weight)
    torch.nn.init.zeros_(net.bias)
    return trace_mlp.TrainedMLP(net, trace_mlp.MLPConfig(), d_model, [], program)


def test_a_sequence_that_never_halts_runs_max_layers(compiled: Any) -> None:
    model = compiled(PARITY)
    plugged = PluggedModel(model, _identity_mlp(model.ir.d_model, PARITY))
    run = plugged.run(*model.pad([[2, 1, 0], [2, 1, 1, 0, 1]]), max_layers=7)
    assert run.layers.tolist() == [7, 7]
    assert not run.halted.any()
    assert plugged([[2, 1, 0]], max_layers=7) == [[0, 1, 0]]  # the inputs' own bits
    assert PluggedModel(model, _identity_mlp(8), max_layers=3).run(
        *model.pad([[2, 1]])
    ).layers.tolist() == [3]


def test_evaluate_a_plugged_compiled_mlp(compiled: Any, compiled_mlp: Any) -> None:
    from alta.learn import data

    model = compiled(PARITY)
    examples = data.inputs(PARITY, [3, 9, 30], 10, seed=5)  # 3 bits: only 8 inputs
    result = metrics.evaluate(PluggedModel(model, compiled_mlp(model)), PARITY, examples)
    assert result == {"accuracy": 1.0, "count": 8 + 10 + 10, "by_length": {3: 1.0, 9: 1.0, 30: 1.0}}


def test_mismatched_mlps_are_refused(compiled: Any) -> None:
    model = compiled(PARITY)
    with pytest.raises(trace_mlp.LearnError, match="d_model 9"):
        PluggedModel(model, _identity_mlp(9))
    with pytest.raises(trace_mlp.LearnError, match="'addition'"):
        PluggedModel(model, _identity_mlp(model.ir.d_model, "addition"))
    with pytest.raises(trace_mlp.LearnError, match="CompiledModel"):
        PluggedModel(model.ir, _identity_mlp(model.ir.d_model))  # type: ignore[arg-type]


def test_a_binary_code_with_no_value_behind_it_decodes_as_none() -> None:
    """A learned MLP may write 7 into a 3-bit slot of values 0..4; it decoded as 7."""
    slot = dense.Slot("m", sparse.CATEGORICAL, 1, (0, 1, 2, 3, 4), dense.BINARY, 3)
    codes = [dense.code(v, 3) for v in range(8)] + [np.zeros(3), np.array([1.0, 0.2, 1.0])]
    x = np.zeros((len(codes), 5))
    x[:, 1:4] = codes
    assert dense.decode(slot, x).tolist() == [0, 1, 2, 3, 4, -1, -1, -1, -1, -1]
