"""Compiled models check their inputs exactly as the interpreter does (`alta.inputs`).

Every malformed input gives an `InputError` (an `AltaError`, never a bare TypeError or
ValueError) with the interpreter's message, naming the sequence and position, on every
installed backend; `run`'s array fast path refuses what it cannot run exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import alta
from alta import lang as pb
from alta.backends import base
from alta.errors import AltaError, InputError
from alta.ir import symbolic
from alta.model import CompiledModel

BACKENDS = base.available()
NAME = "parity_prefix"


@functools.cache
def _program() -> symbolic.Program:
    """Prefix parity of the bits (tokens 0, 1; token 2 counts as 0); four positions."""
    variables = {
        "bit": pb.input_var(2, init_fn=lambda t: t % 2),
        "parity": pb.input_var(2, init_fn=lambda t: t % 2),
    }
    heads = {"left": pb.v_relative("parity", -1)}
    mlp = pb.MLPBuilder(variables, heads)
    for bit, left in mlp.get("bit", "left"):
        mlp.set("parity", bit ^ left)
    return pb.program_spec_from_rules(
        variables, heads, mlp.rules, "parity", 3, position_range=4, name=NAME
    )


@functools.cache
def _model(backend: str) -> CompiledModel:
    return alta.compile(_program(), backend=backend, max_layers=2)


MALFORMED: list[tuple[str, Any, dict[str, Any]]] = [
    ("float token", [1, 3.7], {}),
    ("whole float token", [[1, 0], [1.0]], {}),
    ("string", "0123", {}),
    ("string sequence", [[1, 0], "01"], {}),
    ("batch of strings", ["01", "10"], {}),
    ("bool", True, {}),
    ("bool token", [1, True], {}),
    ("None", None, {}),
    ("None token", [[1], [0, None]], {}),
    ("nested lists", [[[1]]], {}),
    ("int", 5, {}),
    ("dict", {1: 2}, {}),
    ("a batch with an int", [[1], 3], {}),
    ("3-d array", np.zeros((1, 1, 1), dtype=np.int64), {}),
    ("token out of range", [[0, 1], [1, 3]], {}),
    ("negative token", [0, -1], {}),
    ("too long", [[0], [0, 1, 0, 1, 0]], {}),
    ("negative max_layers", [0, 1], {"max_layers": -1}),
    ("float max_layers", [0, 1], {"max_layers": 2.0}),
    ("string max_layers", [0, 1], {"max_layers": "3"}),
    ("bool max_layers", [0, 1], {"max_layers": True}),
]


def _error(call: Callable[[], Any]) -> AltaError:
    with pytest.raises(InputError) as info:
        call()
    return info.value


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("why", "inputs", "kwargs"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_inputs_raise_the_interpreters_error(
    backend: str, why: str, inputs: Any, kwargs: dict[str, Any]
) -> None:
    expected = _error(lambda: alta.interpret(_program(), inputs, **{"max_layers": 2, **kwargs}))
    got = _error(lambda: _model(backend)(inputs, **kwargs))
    assert str(got) == str(expected).replace(f"program '{NAME}'", f"model '{NAME}'")
    if "max_layers" not in kwargs:
        assert str(_error(lambda: _model(backend).residuals(inputs, 1))) == str(got)


@pytest.mark.parametrize("backend", BACKENDS)
def test_iterators_ranges_and_arrays_are_accepted(backend: str) -> None:
    model, program = _model(backend), _program()

    def interpret(inputs: Any) -> Any:
        return alta.interpret(program, inputs, max_layers=2)

    want = interpret([[1, 0, 1], [0, 1]])
    assert model(iter([1, 0, 1])) == want[0]
    assert model(range(2)) == interpret(range(2))
    assert model(iter([[1, 0, 1], [0, 1]])) == want
    assert model(iter([1, 0, 1]) for _ in range(2)) == [want[0], want[0]]
    array = np.array([[1, 0, 1], [0, 1, 0]])
    assert model(array) == interpret(array)
    assert model([]) == interpret([]) == []
    assert model([[], [1]]) == interpret([[], [1]])
    assert model([np.int32(1), np.int64(0)], max_layers=np.int64(2)) == want[0][:2]


# --------------------------------------------------------------------------- run(tokens, lengths)

BAD_ARRAYS: list[tuple[str, Any, Any, str]] = [
    ("float tokens", np.array([[1.0, 0.0]]), [2], "integer array, got dtype float64"),
    ("bool tokens", np.array([[True, False]]), [2], "integer array, got dtype bool"),
    ("float lengths", [[1, 0]], np.array([2.0]), "lengths must be an integer array"),
    ("ragged tokens", [[1, 0], [1]], [2, 1], "rectangular"),
    ("string tokens", [["1", "0"]], [2], "integer array"),
    ("1-d tokens", [1, 0], [2], "shapes"),
    ("lengths of another batch", [[1, 0]], [2, 2], "shapes"),
    ("2-d lengths", [[1, 0]], [[2]], "shapes"),
    ("length past N", [[1, 0]], [3], "sequence 0: length 3 is outside \\[0, 2\\]"),
    ("negative length", [[1, 0], [1, 1]], [2, -1], "sequence 1: length -1"),
    ("past position_range", np.zeros((1, 6), np.int64), [5], "position_range 4"),
    ("token out of range", [[1, 0], [1, 7]], [2, 2], "sequence 1, position 1: token 7"),
    ("negative token", np.array([[-1]], np.int8), [1], "sequence 0, position 0: token -1"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("why", "tokens", "lengths", "match"), BAD_ARRAYS, ids=[b[0] for b in BAD_ARRAYS]
)
def test_run_checks_its_arrays(
    backend: str, why: str, tokens: Any, lengths: Any, match: str
) -> None:
    with pytest.raises(InputError, match=match):
        _model(backend).run(tokens, lengths)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_accepts_any_integer_dtype_and_ignores_padding(backend: str) -> None:
    model = _model(backend)
    tokens, lengths = model.pad([[1, 0, 1], [0, 1]])
    want = model.run(tokens, lengths)
    garbage = np.where(np.arange(3) < lengths[:, None], tokens, 99).astype(np.uint8)
    got = model.run(garbage, lengths.astype(np.int32))
    for b, n in enumerate(lengths):
        assert got.values[b, :n].tolist() == want.values[b, :n].tolist()
    np.testing.assert_array_equal(got.layers, want.layers)
    empty = model.run([], [])  # an empty batch, whatever numpy makes of []
    assert empty.values.shape[0] == 0


def test_residuals_checks_layers() -> None:
    model = _model("numpy")
    for bad in (-1, 1.5, None, True):
        with pytest.raises(InputError, match="layers must be"):
            model.residuals([[1, 0]], bad)
