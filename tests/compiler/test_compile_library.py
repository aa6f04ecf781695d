"""Every library program, compiled with the numpy backend, equals the interpreter exactly."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import alta
from alta import interp, programs

N_INPUTS = 100


@functools.cache
def _case(name: str) -> tuple[Any, list[list[int]], list[Any], Any]:
    case = programs.get(name)
    program = case.build()
    inputs = [list(x) for x in case.generate(np.random.default_rng(1), N_INPUTS)]
    inputs += [list(x) for x in case.edge_inputs]
    expected = interp.run(program, inputs, case.max_layers).outputs
    model = alta.compile(program, backend="numpy", max_layers=case.max_layers)
    return case, inputs, expected, model


@pytest.mark.parametrize("name", programs.names())
def test_compiled_equals_interpreter(name: str) -> None:
    _, inputs, expected, model = _case(name)
    got = model(inputs)
    bad = [(x, g, e) for x, g, e in zip(inputs, got, expected, strict=True) if g != e]
    assert not bad, f"{len(bad)} of {len(inputs)} differ; first: {bad[0]}"


@pytest.mark.parametrize("name", programs.names())
def test_compiled_answers_the_task(name: str) -> None:
    case, inputs, _, model = _case(name)
    got = model(inputs)
    assert all(case.check(x, y) for x, y in zip(inputs, got, strict=True))


@pytest.mark.parametrize("name", ["parity_sequential_relative", "addition_rules"])
def test_layers_match_interpreter(name: str) -> None:
    case, inputs, _, model = _case(name)
    tokens, lengths = model.pad(inputs)
    layers = model.run(tokens, lengths).layers
    want = interp.run(case.build(), inputs, case.max_layers).layers
    np.testing.assert_array_equal(layers, want)


def test_stats_report_sizes() -> None:
    _, _, _, model = _case("parity_sequential_relative_rules")
    stats = model.stats
    assert set(stats) >= {"rules", "d_model", "mlp_widths", "heads", "params", "nonzeros"}
    assert stats["d_model"] == model.ir.d_model
    assert stats["params"] == sum(w.size for w in model.ir.weights.values())
    assert 0 < stats["nonzeros"] <= stats["params"]
