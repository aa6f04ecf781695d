"""Every user error is an `AltaError` subclass whose message names the offender."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import alta
from alta import errors
from alta import lang as pb
from alta.ir import symbolic


def _noop(z: object) -> None:
    del z


def _program(
    variables: dict,
    heads: dict | None = None,
    ffn=_noop,  # type: ignore[no-untyped-def]
    output: str = "x",
    **kw: object,
) -> symbolic.Program:
    kw.setdefault("input_range", 3)
    return pb.program_spec(variables, heads or {}, ffn, output, **kw)  # type: ignore[arg-type]


def _rules_program(
    rules: list[symbolic.Rule], heads: dict | None = None, **kw: object
) -> symbolic.Program:
    variables = {"x": pb.input_var(3), "y": pb.var(2)}
    return pb.program_spec_from_rules(variables, heads or {}, rules, "x", 3, **kw)  # type: ignore[arg-type]


def test_every_error_is_an_alta_error() -> None:
    for cls in (
        errors.ProgramError,
        errors.VerifyError,
        errors.InterpreterError,
        errors.InputError,
        errors.UndefinedReadError,
        errors.RuleConflictError,
        errors.UndefinedBehaviourError,
        errors.CompileError,
        errors.PipelineError,
        errors.PassError,
        errors.BackendError,
    ):
        assert issubclass(cls, errors.AltaError)
    assert alta.AltaError is errors.AltaError


# --------------------------------------------------------------------------- unknown names


def test_unknown_output() -> None:
    with pytest.raises(errors.ProgramError, match="'nope'") as info:
        _program({"x": pb.input_var(3)}, output="nope")
    assert "output" in str(info.value)


@pytest.mark.parametrize("role", ["query", "key", "value"])
def test_unknown_head_operand(role: str) -> None:
    names = {"query": "q", "key": "k", "value": "v"}
    names[role] = "ghost"
    variables = {"x": pb.input_var(3), "q": pb.var(3), "k": pb.input_var(3), "v": pb.var(3)}
    with pytest.raises(errors.ProgramError, match="'ghost'") as info:
        _program(variables, {"h": pb.qkv(names["query"], names["key"], names["value"])})
    assert role in str(info.value)


def test_unknown_relative_value() -> None:
    with pytest.raises(errors.ProgramError, match="'ghost'"):
        _program({"x": pb.input_var(3)}, {"left": pb.v_relative("ghost", -1)})


def test_unknown_halt_var() -> None:
    with pytest.raises(errors.ProgramError, match="'stop'") as info:
        _program({"x": pb.input_var(3)}, halt=pb.halt_spec("stop"))
    assert "halt" in str(info.value)


def test_halt_value_out_of_range() -> None:
    with pytest.raises(errors.ProgramError, match="'done'"):
        _program({"x": pb.input_var(3), "done": pb.var(2)}, halt=pb.halt_spec("done", 2))


def test_unknown_rule_atom() -> None:
    rule = symbolic.Rule((("ghost", 0), ("y", 0)), "y", 0, 1)
    with pytest.raises(errors.ProgramError, match="'ghost'") as info:
        _rules_program([rule])
    assert "rule #0" in str(info.value)


def test_rule_writes_unknown_variable() -> None:
    rule = symbolic.Rule((("x", 0),), "ghost", 0, 1)
    with pytest.raises(errors.ProgramError, match="'ghost'"):
        _rules_program([rule])


def test_head_output_already_a_variable() -> None:
    with pytest.raises(errors.ProgramError, match="'x'"):
        _program({"x": pb.input_var(3)}, {"x": pb.v_relative("x", -1)})


# --------------------------------------------------------------------------- heads


def test_query_key_range_mismatch() -> None:
    variables = {"x": pb.input_var(3), "q": pb.var(4), "k": pb.input_var(3)}
    with pytest.raises(errors.ProgramError, match=r"'q'.*'k'") as info:
        _program(variables, {"h": pb.qkv("q", "k", "x")})
    assert "'h'" in str(info.value)


def test_set_query_key_range_mismatch() -> None:
    variables = {"x": pb.input_var(3), "q": pb.set_var(range=4), "k": pb.input_var(3)}
    with pytest.raises(errors.ProgramError, match=r"'q'.*'k'"):
        _program(variables, {"h": pb.qkv("q", "k", "x")})


def test_numerical_query_rejected() -> None:
    variables = {"x": pb.input_var(3), "q": pb.numeric_var(), "k": pb.input_var(3)}
    with pytest.raises(errors.ProgramError, match="'q'"):
        _program(variables, {"h": pb.qkv("q", "k", "x")})


def test_set_value_rejected() -> None:
    variables = {"x": pb.input_var(3), "s": pb.set_var(range=3)}
    with pytest.raises(errors.ProgramError, match="'s'"):
        _program(variables, {"h": pb.v_relative("s", -1)})


def test_head_may_read_an_earlier_heads_output() -> None:
    heads = {"left": pb.v_relative("x", -1), "left2": pb.v_relative("left", -1)}
    _program({"x": pb.input_var(3)}, heads)  # accepted: heads run in declaration order


@pytest.mark.parametrize("role", ["query", "key", "value"])
def test_head_reading_a_later_head_names_both(role: str) -> None:
    variables = {"x": pb.input_var(3), "k": pb.input_var(3)}
    names = {"query": "x", "key": "k", "value": "x"}
    names[role] = "later"
    heads = {
        "early": pb.qkv(names["query"], names["key"], names["value"]),
        "later": pb.qkv("x", "k", "x"),
    }
    with pytest.raises(errors.ProgramError, match="'early'") as info:
        _program(variables, heads)
    assert "'later'" in str(info.value) and "after" in str(info.value)


def test_head_reading_itself_is_an_error() -> None:
    with pytest.raises(errors.ProgramError, match="'self'"):
        _program({"x": pb.input_var(3)}, {"self": pb.qkv("self", "x", "x")})


def test_rule_writes_head_output() -> None:
    heads = {"left": pb.v_relative("x", -1)}
    rule = symbolic.Rule((("left", 0),), "left", 0, 1)
    with pytest.raises(errors.ProgramError, match="'left'"):
        _rules_program([rule], heads)


def test_mlp_function_writes_head_output_at_run_time() -> None:
    def ffn(z):  # type: ignore[no-untyped-def]
        z["left"] = 0

    program = _program({"x": pb.input_var(3)}, {"left": pb.v_relative("x", -1)}, ffn)
    with pytest.raises(errors.AltaError, match="'left'"):
        alta.interpret(program, [0, 1], max_layers=1)


# --------------------------------------------------------------------------- values


def test_default_out_of_range() -> None:
    with pytest.raises(errors.ProgramError, match="'y'") as info:
        _program({"x": pb.input_var(3), "y": pb.var(2, default=5)})
    assert "5" in str(info.value)


def test_set_default_out_of_range() -> None:
    with pytest.raises(errors.ProgramError, match="'s'"):
        _program({"x": pb.input_var(3), "s": pb.set_var(range=2, default={3})})


def test_numerical_default_not_in_values() -> None:
    with pytest.raises(errors.ProgramError, match="'n'"):
        _program({"x": pb.input_var(3), "n": pb.numeric_var(values=[0, 1], default=0.5)})


def test_input_init_result_out_of_range() -> None:
    # Tokens range over 0..2 but the variable only holds 0..1.
    with pytest.raises(errors.ProgramError, match="'x'") as info:
        _program({"x": pb.input_var(2)}, input_range=3)
    assert "token 2" in str(info.value)


def test_position_init_result_out_of_range() -> None:
    with pytest.raises(errors.ProgramError, match="'p'") as info:
        _program({"x": pb.input_var(3), "p": pb.position_var(3)}, position_range=5)
    assert "position 3" in str(info.value)


def test_numerical_init_result_not_in_values() -> None:
    var = pb.numeric_var(values=[0, 1], input_init_fn=lambda t: t / 2)
    with pytest.raises(errors.ProgramError, match="'n'"):
        _program({"x": pb.input_var(3), "n": var})


def test_rule_new_value_out_of_range_is_accepted() -> None:
    # Undefined behaviour at run time, not a malformed program (tests/interp/test_undefined_behaviour.py).
    rule = symbolic.Rule((("x", 0),), "y", 0, 7)
    assert _rules_program([rule]).mlp.rules == (rule,)


@pytest.mark.parametrize(
    ("lhs", "var", "new", "why"),
    [
        ((("x",),), "y", 1, "not a sequence of \\(variable, value\\) pairs"),
        ("xy", "y", 1, "not a sequence of \\(variable, value\\) pairs"),
        (None, "y", 1, "not a sequence of \\(variable, value\\) pairs"),
        (((0, 1),), "y", 1, "a variable name is not a string"),
        ((("x", 0),), ["y"], 1, "a variable name is not a string"),
        ((("x", 0),), "y", [1], "writes \\[1\\], which no variable can hold"),
        ((("x", 0),), "y", {1}, "writes \\{1\\}, which no variable can hold"),
    ],
)
def test_malformed_rules_are_refused_by_name(lhs: Any, var: Any, new: Any, why: str) -> None:
    """These crashed the verifier or the lowering with a bare TypeError or ValueError."""
    rule = symbolic.Rule(lhs, var, 0, new)
    with pytest.raises(errors.ProgramError, match=f"rule #0.*{why}"):
        _rules_program([rule])


def test_rule_atom_value_out_of_range() -> None:
    rule = symbolic.Rule((("x", 9),), "y", 0, 1)
    with pytest.raises(errors.ProgramError, match="'x'") as info:
        _rules_program([rule])
    assert "9" in str(info.value)


def test_numerical_values_unsorted() -> None:
    with pytest.raises(errors.ProgramError, match="'n'") as info:
        _program({"x": pb.input_var(3), "n": pb.numeric_var(values=[1, 0])})
    assert "sorted" in str(info.value)


def test_position_init_fn_without_position_range() -> None:
    with pytest.raises(errors.ProgramError, match="'p'") as info:
        _program({"x": pb.input_var(3), "p": pb.position_var(4)})
    assert "position_range" in str(info.value)


def test_mlp_builder_unknown_variable() -> None:
    mlp = pb.MLPBuilder({"x": pb.input_var(3)}, {})
    with pytest.raises(errors.ProgramError, match="'ghost'"):
        list(mlp.get("ghost"))


def test_mlp_builder_numerical_without_values() -> None:
    mlp = pb.MLPBuilder({"n": pb.numeric_var()}, {})
    with pytest.raises(errors.ProgramError, match="'n'"):
        list(mlp.get("n"))


# --------------------------------------------------------------------------- interpreter


def _copy_program(**kw: Any) -> symbolic.Program:
    return _program({"x": pb.input_var(3)}, **kw)


def test_token_outside_input_range() -> None:
    with pytest.raises(errors.InputError, match="token 3") as info:
        alta.interpret(_copy_program(), [0, 3], max_layers=1)
    assert "position 1" in str(info.value)


def test_negative_token() -> None:
    with pytest.raises(errors.InputError, match="token -1"):
        alta.interpret(_copy_program(), [-1], max_layers=1)


def test_sequence_longer_than_position_range() -> None:
    program = _copy_program(position_range=2)
    with pytest.raises(errors.InputError, match="length 3") as info:
        alta.interpret(program, [[0], [0, 1, 2]], max_layers=1)
    assert "position_range 2" in str(info.value)
    assert "sequence 1" in str(info.value)


def test_neither_max_layers_nor_halt() -> None:
    with pytest.raises(errors.InterpreterError, match="max_layers"):
        alta.interpret(_copy_program(), [0, 1])


def test_program_that_never_halts() -> None:
    # done never becomes 1: without max_layers the interpreter must stop and say so.
    variables = {"x": pb.input_var(3), "done": pb.var(2)}
    program = _program(variables, halt=pb.halt_spec("done"))
    with pytest.raises(errors.InterpreterError, match="max_layers"):
        alta.interpret(program, [0, 1])
    assert alta.interpret(program, [0, 1], max_layers=3) == [0, 1]


def test_negative_max_layers() -> None:
    with pytest.raises(errors.InterpreterError, match="max_layers"):
        alta.interpret(_copy_program(), [0, 1], max_layers=-1)


def test_mlp_function_reads_undefined_variable() -> None:
    def ffn(z):  # type: ignore[no-untyped-def]
        z["x"] = z["left"]

    program = _program({"x": pb.input_var(3)}, {"left": pb.v_relative("x", -1)}, ffn)
    with pytest.raises(errors.UndefinedReadError, match="'left'") as info:
        alta.interpret(program, [0, 1], max_layers=1)
    assert "position 0" in str(info.value)


def test_mlp_function_reads_unknown_variable() -> None:
    def ffn(z):  # type: ignore[no-untyped-def]
        z["x"] = z["ghost"]

    with pytest.raises(errors.AltaError, match="'ghost'"):
        alta.interpret(_program({"x": pb.input_var(3)}, ffn=ffn), [0], max_layers=1)


def test_mlp_function_writes_out_of_range() -> None:
    def ffn(z):  # type: ignore[no-untyped-def]
        z["x"] = 5

    with pytest.raises(errors.AltaError, match="'x'"):
        alta.interpret(_program({"x": pb.input_var(3)}, ffn=ffn), [0], max_layers=1)


def test_rule_conflict_names_both_rules() -> None:
    rules = [
        symbolic.Rule((("x", 1), ("y", 0)), "y", 0, 1),
        symbolic.Rule((("y", 0),), "y", 0, 1),
    ]
    program = _rules_program(rules)
    with pytest.raises(errors.RuleConflictError) as info:
        alta.interpret(program, [0, 1], max_layers=1)
    message = str(info.value)
    assert "#0" in message and "#1" in message
    assert str(rules[0]) in message and str(rules[1]) in message
    assert "'y'" in message
    assert "position 1" in message


# --------------------------------------------------------------------------- imports


def test_import_alta_does_not_import_frameworks() -> None:
    code = (
        "import sys, alta\n"
        "heavy = ('torch', 'jax', 'onnx', 'onnxruntime')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
