"""Shared fixtures of the trace tests: a program written as a new user would write one
(a set query, numerical heads and variables, a dead variable the compiler drops), and
compiled models in float64, so residuals compare to 1e-9."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import alta
from alta import lang as pb
from alta import programs
from alta.ir import symbolic
from alta.model import CompiledModel


def build_zeros_below() -> symbolic.Program:
    """At each position, the fraction of zeros among the tokens <= its own (a set query
    and a numerical head), turned into a score over two layers."""
    variables = {
        "tok": pb.input_var(4),
        "below": pb.set_var(
            range=4,
            values=[frozenset(range(t + 1)) for t in range(4)],
            input_init_fn=lambda t: frozenset(range(t + 1)),
        ),
        "is_zero": pb.numeric_var(values=[0.0, 1.0], input_init_fn=lambda t: float(t == 0)),
        "score": pb.numeric_var(values=[0.0, 0.5, 1.0, 1.5, 2.0], default=0.0),
        "flag": pb.var(3),  # written but never read: the compiler drops it
        "step": pb.var(3),
    }
    fractions = sorted({k / n for n in range(1, 7) for k in range(n + 1)})
    heads = {
        "zeros_below": pb.qkv(
            "below", "tok", "is_zero", output_spec=pb.numeric_var(values=fractions)
        ),
        "flag_left": pb.v_relative("flag", -1),
    }

    def ffn(z: Any) -> None:
        if z["step"] == 0:
            if z["tok"] == 0:
                z["flag"] = 0
            elif z["zeros_below"] > 0.5:
                z["flag"] = 1
                z["score"] = 1.0
            else:
                z["flag"] = 2
                z["score"] = 0.5
            z["step"] = 1
        elif z["step"] == 1:
            z["score"] = min(z["score"] + 1.0, 2.0)
            z["step"] = 2

    return pb.program_spec(
        variables,
        heads,
        ffn,
        output_name="score",
        input_range=4,
        position_range=6,
        halt=pb.halt_spec("step", 2),
        name="zeros_below",
    )


def zeros_below_inputs(rng: np.random.Generator, n: int) -> list[list[int]]:
    return [rng.integers(0, 4, size=int(k)).tolist() for k in rng.integers(0, 7, size=n)]


@pytest.fixture(scope="session")
def compiled() -> Callable[[str], tuple[symbolic.Program, CompiledModel, Any]]:
    """name -> (program, float64 numpy model, inputs); 'zeros_below' or a library name."""
    cache: dict[str, Any] = {}

    def get(name: str) -> tuple[symbolic.Program, CompiledModel, Any]:
        if name not in cache:
            rng = np.random.default_rng(7)
            if name == "zeros_below":
                program, batch = build_zeros_below(), zeros_below_inputs(rng, 12)
                batch += [[], [0], [3, 2, 1, 0, 0, 0]]
            else:
                case = programs.get(name)
                program = case.build()
                batch = [list(x) for x in case.edge_inputs] + case.generate(rng, 6)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", alta.CompileWarning)
                model = alta.compile(program, backend="numpy", dtype="float64")
            cache[name] = (program, model, batch)
        return cache[name]  # type: ignore[no-any-return]

    return get
