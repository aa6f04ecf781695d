"""Metrics on arrays whose answers are worked out by hand, and on traces whose own output
vectors must decode without error."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import alta  # noqa: E402
from alta import programs  # noqa: E402
from alta.learn import data, metrics  # noqa: E402
from alta.learn.trace_mlp import LearnError  # noqa: E402

PARITY = "parity_sequential_relative"

TARGET = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
PRED = np.array([[0.0, 0.05, 1.0], [0.2, 1.0, 1.0], [0.0, 0.0, 0.85]])  # rows 1, 2: one off


def test_vector_and_element_accuracy_by_hand() -> None:
    assert metrics.vector_accuracy(PRED, TARGET) == pytest.approx(1 / 3)
    assert metrics.element_accuracy(PRED, TARGET) == pytest.approx(7 / 9)
    assert metrics.vector_accuracy(PRED, TARGET, tol=0.3) == 1.0
    assert metrics.element_accuracy(PRED, TARGET, tol=0.01) == pytest.approx(6 / 9)
    assert metrics.vector_accuracy(torch.tensor(PRED), torch.tensor(TARGET)) == pytest.approx(1 / 3)
    assert metrics.vector_accuracy(PRED[0], TARGET[0]) == 1.0  # one vector
    batched = np.stack([PRED, TARGET])  # [2, 3, 3]: 6 vectors, 4 of them right
    assert metrics.vector_accuracy(batched, np.stack([TARGET, TARGET])) == pytest.approx(4 / 6)


def test_accuracy_refuses_mismatched_shapes() -> None:
    with pytest.raises(LearnError, match="shape"):
        metrics.vector_accuracy(PRED, TARGET[:2])
    assert np.isnan(metrics.element_accuracy(np.zeros((0, 3)), np.zeros((0, 3))))


@pytest.fixture(scope="module")
def sum_trace(compiled: Any) -> Any:
    """parity_sum_mod_2: categorical variables and a numerical one (x, with its flag)."""
    name = "parity_sum_mod_2"
    case = programs.get(name)
    batch = case.generate(np.random.default_rng(0), 6)
    return alta.trace(case.build(), batch, max_layers=1, model=compiled(name))


def test_decode_errors_are_zero_on_the_traces_own_outputs(
    parity_trace: Any, sum_trace: Any
) -> None:
    errors = metrics.decode_errors(parity_trace, parity_trace.vector_out)
    assert errors == {"parity": 0.0, "done": 0.0, "parity_left": 0.0, "done_left": 0.0}
    errors = metrics.decode_errors(sum_trace, sum_trace.vector_out)
    assert set(errors) == {"eos", "eos_or_one", "parity", "x"} and set(errors.values()) == {0.0}


def test_decode_errors_count_records_by_variable(parity_trace: Any) -> None:
    pred = parity_trace.vector_out.copy()
    parity = parity_trace.layout[0]
    assert parity.var == "parity"
    pred[0, parity.start : parity.stop] = [0.3, 0.2]  # decodes to None
    pred[1, parity.start : parity.stop] = pred[1, parity.start : parity.stop][::-1]  # flipped
    pred[2:, parity.start] += 0.3  # still decodes right
    errors = metrics.decode_errors(parity_trace, pred)
    assert errors["parity"] == pytest.approx(2 / len(parity_trace))
    assert errors["done"] == 0.0


def test_decode_errors_of_a_numerical_variable(sum_trace: Any) -> None:
    # x (a head output, value and defined flag) is cleared by the MLP: compare inputs.
    trace = attrs.evolve(sum_trace, vector_out=sum_trace.vector_in)
    x = next(s for s in trace.layout if s.var == "x")
    defined = np.flatnonzero(trace.vector_out[:, x.start + 1] > 0.5)
    assert len(defined) >= 3
    pred = trace.vector_out.copy()
    pred[defined[0], x.start] += 0.05  # within tol: right
    pred[defined[1], x.start] += 0.5  # wrong value
    pred[defined[2], x.start + 1] = 0.0  # undefined where the trace has a value
    errors = metrics.decode_errors(trace, pred)
    assert errors["x"] == pytest.approx(2 / len(trace))
    assert errors["parity"] == errors["eos"] == 0.0
    with pytest.raises(LearnError, match="shape"):
        metrics.decode_errors(trace, pred[:, :-1])


def test_task_accuracy_by_hand() -> None:
    examples = data.inputs(PARITY, [2], 4, seed=0)  # all four inputs of two bits
    right = [[*ex.tokens[:-1], ex.answer] for ex in examples]  # the answer sits last
    assert metrics.task_accuracy(PARITY, examples, right) == 1.0
    wrong = [*right[:2], [*right[2][:-1], 1 - right[2][-1]], [*right[3][:-1], None]]
    assert metrics.task_accuracy(PARITY, examples, wrong) == 0.5
    with pytest.raises(LearnError, match="4 examples but 3 outputs"):
        metrics.task_accuracy(PARITY, examples, right[:3])


def test_evaluate_the_compiled_model_by_length(compiled: Any) -> None:
    examples = data.inputs("addition", [1, 2, 3], 5, seed=0)
    result = metrics.evaluate(compiled("addition"), "addition", examples)
    assert result == {"accuracy": 1.0, "count": 15, "by_length": {1: 1.0, 2: 1.0, 3: 1.0}}
