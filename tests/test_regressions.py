"""Failures the differential fuzzer (test_fuzz.py) found, shrunk to literal programs.

Each test names the input and layer count that failed, and checks the compiled model
against the interpreter exactly as the fuzzer does (outputs and every variable after
every layer).
"""

from __future__ import annotations

from typing import Any

import strategies

import alta
from alta import lang as pb
from alta.ir import symbolic


def _check(program: symbolic.Program, inputs: list[list[int]], max_layers: int) -> None:
    kept, skipped = strategies.expected(program, inputs, max_layers)
    assert not skipped, "a regression input must be defined behaviour"
    model = alta.compile(program, backend="numpy", max_layers=max_layers)
    strategies.assert_agrees(program, model, kept, max_layers)


def test_numerical_write_without_atom_on_its_old_value() -> None:
    """A rule that writes a numerical variable without reading it needs one unit per old
    value, gated on the old value's bucket. The MLP had no expansion layer (no rule had a
    numerical *atom*), so the bucket unit's index was read as a residual dim (c0's, always
    1) and the unit fired at n0 = -3.5 too: n0 became -3.501.
    Fixed in mlp_builder.build (expand when a rule writes a numerical or set variable)."""

    def ffn(z: Any) -> None:
        z["n0"] = -3.5

    variables = {
        "c0": pb.var(1, default=0),
        "n0": pb.numeric_var(default=-3.5, input_init_fn=lambda t: (-3.5, -3.499)[t]),
    }
    program = pb.program_spec(variables, {}, ffn, output_name="n0", input_range=2)
    _check(program, [[0], [1], [0, 1]], max_layers=1)
