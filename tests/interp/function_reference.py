"""An interpreter run whose MLP calls the Python function at every position, uncached:
what the read-tree cache (alta/interp/read_tree.py) must reproduce exactly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from alta.interp import loop, mlp
from alta.interp import state as st
from alta.interp import symbolic as interp_symbolic
from alta.interp.flat import Positions
from alta.ir import symbolic


@pytest.fixture(params=["numpy", "python"], autouse=True)
def both_walks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Imported by a test module, runs each of its tests with each walk of the tree: level
    by level with numpy (from one position on), and row by row in Python (always)."""
    monkeypatch.setattr(mlp, "VECTOR_ROWS", 1 if request.param == "numpy" else 10**9)
    return str(request.param)


def uncached_step(program: symbolic.Program) -> mlp.MLPStep:
    """The MLP step as the function defines it: one call per position, nothing kept."""
    fn = program.mlp.fn  # type: ignore[union-attr]

    def step(flat: Mapping[str, np.ndarray], layer: int, where: Positions) -> mlp.Writes:
        found: dict[str, tuple[list[int], list[Any]]] = defaultdict(lambda: ([], []))
        for row in range(len(where)):
            values = {n: st.decode(v, flat[n][row]) for n, v in program.vars.items()}
            z = mlp._Z(program, values)
            fn(z)
            for name, value in z.writes.items():
                found[name][0].append(row)
                found[name][1].append(st.encode(program.vars[name], value))
        return {
            n: (np.asarray(p, dtype=np.int64), np.asarray(v, dtype=st.dtype_of(program.vars[n])))
            for n, (p, v) in found.items()
        }

    return step


def run_uncached(
    program: symbolic.Program, inputs: list[list[int]], max_layers: int | None
) -> loop.RunResult:
    """`alta.interp.run` with `uncached_step` as the MLP."""
    return run_layers(program, inputs, max_layers, uncached_step(program))


def run_layers(
    program: symbolic.Program,
    inputs: list[list[int]],
    max_layers: int | None,
    step: mlp.MLPStep,
    drop_finished: bool = False,
) -> loop.RunResult:
    """`alta.interp.run` through `run_layer` with this MLP step, and nothing kept from one
    layer to the next (no plain-Python path, a new `Reuse` each layer)."""
    tokens, valid = st.pad_inputs(program, inputs)
    inits = {n: symbolic.init_table(program, n, tokens.shape[1]) for n in program.vars}
    state = st.initial_state(program, inits, tokens, valid)

    def layer(
        sub: dict[str, np.ndarray], sub_valid: np.ndarray, k: int, idx: np.ndarray
    ) -> np.ndarray:
        return interp_symbolic.run_layer(program, sub, sub_valid, k, False, step, idx)

    return loop.loop(program, state, valid, max_layers, layer, drop_finished=drop_finished)


def assert_same_run(got: loop.RunResult, want: loop.RunResult) -> None:
    """Outputs, layer counts and every variable's final state agree."""
    assert got.outputs == want.outputs
    assert np.array_equal(got.layers, want.layers)
    assert got.state.keys() == want.state.keys()
    for name, array in want.state.items():
        assert np.array_equal(got.state[name], array, equal_nan=True), name
