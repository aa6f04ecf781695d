"""numpy scalars are the values a user writing them means: `np.int64(1)` is 1 and
`np.float32(0.5)` is 0.5, in init functions, declared values and MLP writes alike (they
were refused as "not an int")."""

from __future__ import annotations

import numpy as np

import alta
from alta import lang as pb


def next_token_program() -> alta.Program:
    """b = (token + 1) mod 3 from a position table and numpy writes; n a numerical echo."""
    variables = {
        "a": pb.input_var(3),
        "p": pb.position_var(8, init_fn=lambda i: np.int64(i % 2)),
        "b": pb.var(3),
        "n": pb.numeric_var(values=np.array([0.0, 0.5, 1.0], dtype=np.float32)),
        "odd": pb.var(2),
    }

    def ffn(z):
        z["b"] = np.int64((z["a"] + 1) % 3)
        z["n"] = np.float32(0.5) if z["a"] == 1 else np.float64(1.0)
        z["odd"] = np.bool_(z["p"] == 1)

    return pb.program_spec(variables, {}, ffn, "b", 3, position_range=8)


def test_numpy_scalars_build_run_and_compile() -> None:
    program = next_token_program()
    inputs = [[0, 1, 2], [2], [1, 1, 0, 2, 2, 1, 0, 1]]
    expected = [[(t + 1) % 3 for t in x] for x in inputs]
    assert alta.interpret(program, inputs, max_layers=1) == expected
    assert [alta.interpret(program, x, max_layers=1) for x in inputs] == expected
    model = alta.compile(program, max_layers=1, strict=True)
    assert model(inputs) == expected
    state = alta.interp.symbolic.run(program, inputs, max_layers=1).state
    assert state["n"][0, :3].tolist() == [1.0, 0.5, 1.0]
    assert state["odd"][2].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
