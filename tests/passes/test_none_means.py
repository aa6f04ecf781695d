"""A numerical head that may average a None value is undefined behaviour
(docs/semantics.md): the compiler says so once, strict=True refuses it, and wherever no
None is selected the model still agrees with the interpreter."""

from __future__ import annotations

import warnings

import pytest

import alta
from alta import lang as pb
from alta.errors import CompileError, CompileWarning, UndefinedBehaviourError

SHARES = tuple(sorted({i / n for n in range(1, 9) for i in range(n + 1)}))


def mean_of_left_bits() -> alta.Program:
    """Each position averages its left neighbour's bit over the positions whose token is
    1: the copied bit is None at position 0, so a sequence starting with 1 averages a
    None."""
    variables = {
        "bit": pb.numeric_var(input_init_fn=lambda t: float(t), values=(0, 1)),
        "one": pb.var(2, default=1),
        "tok": pb.input_var(2),
        "high": pb.var(2),
    }
    heads = {
        "left": pb.v_relative("bit", -1),
        "avg": pb.qkv("one", "tok", "left", output_spec=pb.numeric_var(values=SHARES)),
    }

    def ffn(z):
        z["high"] = int(z["avg"] >= 0.5)

    return pb.program_spec(
        variables, heads, ffn, output_name="high", input_range=2, position_range=8
    )


def reference(tokens: list[int]) -> list[int] | None:
    """The share of 1-tokens whose left neighbour is also 1, >= 0.5; None where a
    selected neighbour does not exist (a leading 1: undefined behaviour)."""
    picked = [i for i, t in enumerate(tokens) if t == 1]
    if not picked:
        return None
    if picked[0] == 0:
        return None
    share = sum(tokens[i - 1] for i in picked) / len(picked)
    return [int(share >= 0.5)] * len(tokens)


def test_head_that_may_average_none_warns_once_and_strict_refuses() -> None:
    program = mean_of_left_bits()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = alta.compile(program, max_layers=1)
    messages = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(messages) == 1 and "'avg' (value 'left')" in messages[0]
    with pytest.raises(CompileError, match="may average a None"):
        alta.compile(program, max_layers=1, strict=True)
    defined = [[0, 1, 1], [0, 0, 1, 0, 1, 1, 0, 1], [0, 1], [0, 1, 0, 1]]
    for tokens in defined:
        want = reference(tokens)
        assert want is not None
        assert alta.interpret(program, tokens, max_layers=1, strict=True) == want
        assert model(tokens) == want
    with pytest.raises(UndefinedBehaviourError, match="selected value of 'left' is None"):
        alta.interpret(program, [1, 1, 0], max_layers=1, strict=True)


def test_head_over_defined_values_is_quiet() -> None:
    variables = {
        "bit": pb.numeric_var(input_init_fn=lambda t: float(t), values=(0, 1)),
        "one": pb.var(2, default=1),
        "high": pb.var(2),
    }
    heads = {"avg": pb.qkv("one", "one", "bit", output_spec=pb.numeric_var(values=SHARES))}

    def ffn(z):
        z["high"] = int(z["avg"] > 0.5)

    program = pb.program_spec(
        variables, heads, ffn, output_name="high", input_range=2, position_range=8
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        model = alta.compile(program, max_layers=1, strict=True)
    inputs = [[1, 1, 0], [0], [1, 0, 1, 0], [1, 1, 1, 0, 0, 0, 0, 1]]
    want = [[int(sum(x) / len(x) > 0.5)] * len(x) for x in inputs]
    assert alta.interpret(program, inputs, max_layers=1) == want
    assert model(inputs) == want
