"""What the interpreter refuses at its entry and what it reports when a run reaches it:
never a bare Python exception (docs/semantics.md: "Nothing, defined or not, may crash with
anything but an AltaError")."""

from __future__ import annotations

from typing import Any

import pytest

import alta
from alta import errors
from alta import lang as pb
from alta.ir import symbolic

INF, NAN = float("inf"), float("nan")


def _copy() -> symbolic.Program:
    return pb.program_spec({"a": pb.input_var(3)}, {}, lambda z: None, "a", 3)


@pytest.mark.parametrize("program", ["x", None, 3, pb.var(2)], ids=repr)
def test_interpret_refuses_what_is_not_a_program(program: Any) -> None:
    with pytest.raises(errors.ProgramError, match=r"program must be an alta program"):
        alta.interpret(program, [0], max_layers=1)


def test_interpret_refuses_a_strict_that_is_not_a_bool() -> None:
    with pytest.raises(errors.InterpreterError, match=r"strict must be True or False, got 'yes'"):
        alta.interpret(_copy(), [0], max_layers=1, strict="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("max_layers", [2**63, 2**64, 10**30])
def test_max_layers_past_int64_is_an_input_error(max_layers: int) -> None:
    """It crashed with a bare OverflowError (a program without a halt spec runs to it)."""
    with pytest.raises(errors.InputError, match=r"max_layers must be at most 2\*\*63 - 1"):
        alta.interpret(_copy(), [0, 1], max_layers=max_layers)
    assert alta.interpret(_copy(), [0, 1], max_layers=2**63 - 1) == [0, 1]


@pytest.mark.parametrize("value", [INF, -INF, NAN, 10**400], ids=["inf", "-inf", "nan", "1e400"])
def test_a_function_writing_a_non_finite_number_is_ill_typed(value: Any) -> None:
    """inf used to be written and returned; NaN was already refused."""

    def ffn(z: Any) -> None:
        if z["a"] == 1:
            z["n"] = value

    variables = {"a": pb.input_var(3), "n": pb.numeric_var()}
    program = pb.program_spec(variables, {}, ffn, "n", 3)
    assert alta.interpret(program, [0, 2], max_layers=1) == [0.0, 0.0]
    with pytest.raises(errors.IllTypedWriteError, match=r"writes 'n' := .* not a (finite )?float"):
        alta.interpret(program, [0, 1], max_layers=1)


def test_a_rule_writing_inf_is_ill_typed() -> None:
    variables = {"a": pb.input_var(3), "n": pb.numeric_var(values=[0.0, 1.0])}
    rules = [symbolic.Rule((("a", 1),), "n", 0.0, -INF)]
    program = pb.program_spec_from_rules(variables, {}, rules, "n", 3)
    with pytest.raises(errors.IllTypedWriteError, match=r"rule #0 .*'n' := -inf is not a finite"):
        alta.interpret(program, [0, 1], max_layers=1)


def test_a_rule_atom_on_inf_is_refused_when_built() -> None:
    variables = {"a": pb.input_var(3), "n": pb.numeric_var(), "b": pb.var(2)}
    rules = [symbolic.Rule((("b", 0), ("n", INF)), "b", 0, 1)]
    with pytest.raises(errors.ProgramError, match=r"rule #0 .*atom on 'n': inf is not a finite"):
        pb.program_spec_from_rules(variables, {}, rules, "b", 3)
