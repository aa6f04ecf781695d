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


def test_nullable_numerical_with_zero_on_a_bucket_edge() -> None:
    """A numerical head output is None (stored as 0, flag off) at the sequence edge. Its
    values -1 and 1 put a bucket edge at 0, so the step unit had a zero gap to 0 and the
    compiler refused the program ("value 0.0 sits on a bucket edge"). The defined flag
    now gates every step, so None reads as bucket 0 (then taken back) whatever the edges.
    Fixed in mlp_builder (_step, _buckets)."""
    variables = {
        "c0": pb.var(2, default=0),
        "n0": pb.numeric_var(
            values=(-1.0, 1.0), default=-1.0, input_init_fn=lambda t: (-1.0, 1.0)[t]
        ),
    }
    heads = {"h0": pb.v_relative("n0", -1)}
    mlp = pb.MLPBuilder(variables, heads)
    for value in mlp.get("h0"):
        mlp.set("c0", {1.0: 1, -1.0: 0}[value])
    program = pb.program_spec_from_rules(
        variables, heads, mlp.rules, output_name="c0", input_range=2
    )
    _check(program, [[0], [1, 0, 1, 1], [0, 1, 1, 0]], max_layers=2)
