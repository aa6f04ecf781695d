"""The batched interpreter's shortcuts for the usual batch must give what the general
code gives: a list of lists taken as it is (`inputs.as_batch`), tokens range-checked by
one reduction (`state.pad_inputs`), initial tables broadcast against the validity mask
(`state.start`), and None outputs put in by numpy (`loop.decode_outputs`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import alta
from alta import errors, inputs
from alta import lang as pb
from alta.interp import loop
from alta.interp import state as st
from alta.ir import symbolic


def _program() -> symbolic.Program:
    """Each kind of initial table, and an output that is None at some positions."""
    variables: dict[str, symbolic.Var] = {
        "t": pb.input_var(6),
        "p": pb.position_var(8, init_fn=lambda i: (3 * i) % 8),
        "c": pb.var(4, default=2),
        "f": pb.numeric_var(position_init_fn=lambda i: i / 4),
        "s": pb.set_var(range=6, input_init_fn=lambda t: frozenset({t, 5 - t})),
        "out": pb.var(6, default=None),
    }
    heads = {"left": pb.v_relative("t", -1)}

    def ffn(z: Any) -> None:
        if z["t"] % 2 and z["p"]:  # not at position 0, where `left` is None
            z["out"] = z["left"]

    return pb.program_spec(variables, heads, ffn, "out", input_range=6, position_range=8)


@pytest.mark.parametrize(
    "batch",
    [[[1, 2], [3]], [[0], []], [[5, 4, 3], [2, 1, 0]], [[1, 2], (3,)], [(1,), [2]]],
)
def test_a_batch_of_lists_is_taken_as_the_general_code_takes_it(batch: list[Any]) -> None:
    single, got = inputs.as_batch(batch)
    assert not single
    assert got == [list(seq) for seq in batch]
    assert all(type(seq) is list for seq in got)
    assert all(a is not b for a, b in zip(got, batch, strict=True))  # copies, not the inputs


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([[1, -1]], "sequence 0, position 1: token -1 is outside input_range 6"),
        ([[1], [6]], "sequence 1, position 0: token 6 is outside input_range 6"),
        ([[1], [2**62]], "is outside input_range 6"),
        ([[1, True]], "token True (bool) is not an int"),
    ],
)
def test_tokens_out_of_range_are_reported_by_the_token_checker(
    batch: list[list[Any]], message: str
) -> None:
    with pytest.raises(errors.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        alta.interpret(_program(), batch, max_layers=1)


def test_plain_ints_pad_as_the_token_checker_does() -> None:
    batch = [[5, 0, 1], [], [2], [3, 4]]
    tokens, valid = st._pad_plain_ints(batch, 6, 8)  # type: ignore[misc]
    expected, lengths = inputs.pad(batch, 6, 8, "program")
    assert np.array_equal(tokens, expected)
    assert np.array_equal(valid.sum(axis=1), lengths)
    assert st._pad_plain_ints([[2**63 - 1]], 2**64, None) is not None
    assert st._pad_plain_ints([[-1]], 2**64, None) is None


@pytest.mark.parametrize("batch", [[[5, 0, 1], [], [2], [3, 4]], [[1, 2], [3, 4]]])
def test_start_is_the_initial_state(batch: list[list[int]]) -> None:
    program = _program()
    tokens, valid = st.pad_inputs(program, batch)
    inits = {name: symbolic.init_table(program, name, tokens.shape[1]) for name in program.vars}
    expected = st.initial_state(program, inits, tokens, valid)
    got = st.start(program, tokens, valid)
    assert got.keys() == expected.keys()
    for name, array in expected.items():
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


def test_none_outputs_decode_as_none_and_others_as_ints() -> None:
    program = _program()
    batch = [[1, 3, 2], [], [4, 5], [0]]
    got = alta.interpret(program, batch, max_layers=1)
    assert got == [[None, 1, None], [], [None, 4], [None]]
    assert all(type(x) is int for row in got for x in row if x is not None)
    assert got == [alta.interpret(program, seq, max_layers=1) for seq in batch]


def test_decoding_ignores_what_padding_holds() -> None:
    program = _program()
    state = {"out": np.array([[1, -1, 3], [2, -1, -1]])}
    valid = np.array([[True, True, True], [True, False, False]])
    lengths = valid.sum(axis=1)
    assert loop.decode_outputs(program, state, lengths, valid) == [[1, None, 3], [2]]
    assert loop.decode_outputs(program, {"out": np.array([[1, 2]])}, lengths[:1]) == [[1, 2]]
