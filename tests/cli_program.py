"""A small program for the CLI tests: parity of a bit string after a start token."""

from __future__ import annotations

from typing import Any

from alta import lang as pb
from alta.ir import symbolic


def _step(z: Any) -> None:
    if z["done"] != 1 and z["done_left"] == 1:
        z["parity"] = z["parity_left"] ^ z["parity"]
        z["done"] = 1


def build() -> symbolic.Program:
    """Tokens 0/1 are bits, 2 is the start token; the last position ends with the parity."""
    variables = {
        "parity": pb.input_var(2, init_fn=lambda t: 0 if t == 2 else t),
        "done": pb.input_var(2, init_fn=lambda t: t == 2),
    }
    heads = {
        "parity_left": pb.v_relative("parity", -1),
        "done_left": pb.v_relative("done", -1),
    }
    return pb.program_spec(
        variables,
        heads,
        _step,
        output_name="parity",
        input_range=3,
        halt=pb.halt_spec("done", 1),
        name="cli_parity",
    )


PROGRAM = build()
NOT_A_PROGRAM = 42
