"""The authoring API keeps the names and keywords of the paper's `program_builder`.

A program written as `from alta import lang as pb` for the paper's code must run here
unchanged; these tests pin every builder, its keywords and the MLPBuilder's rule shapes.
"""

from __future__ import annotations

import pytest

import alta
from alta import errors
from alta import lang as pb
from alta.ir import symbolic

# --------------------------------------------------------------------------- variables


def test_var_keywords() -> None:
    v = pb.var(var_range=5, default=3)
    assert isinstance(v, symbolic.CategoricalVar)
    assert (v.range, v.default) == (5, 3)
    assert v.input_init_fn is None and v.position_init_fn is None


def test_var_default_is_zero() -> None:
    assert pb.var(4).default == 0


def test_input_var_defaults_to_identity() -> None:
    v = pb.input_var(4)
    assert isinstance(v, symbolic.CategoricalVar)
    assert v.range == 4
    assert v.input_init_fn is not None
    assert [v.input_init_fn(t) for t in range(4)] == [0, 1, 2, 3]
    assert v.position_init_fn is None


def test_input_var_init_fn_and_extra_keywords() -> None:
    v = pb.input_var(var_range=3, init_fn=lambda t: 2 - t, default=1)
    assert v.input_init_fn is not None
    assert v.input_init_fn(0) == 2
    assert v.default == 1


def test_position_var_defaults_to_identity() -> None:
    v = pb.position_var(6)
    assert v.range == 6
    assert v.position_init_fn is not None
    assert [v.position_init_fn(p) for p in range(6)] == list(range(6))
    assert v.input_init_fn is None


def test_position_var_init_fn_keyword() -> None:
    v = pb.position_var(var_range=2, init_fn=lambda p: p % 2)
    assert v.position_init_fn is not None
    assert [v.position_init_fn(p) for p in range(4)] == [0, 1, 0, 1]


def test_numeric_var_keywords() -> None:
    def fi(t: int) -> float:
        return float(t)

    def fp(p: int) -> float:
        return 0.5 * p

    v = pb.numeric_var(values=[0, 0.5, 1], default=1, input_init_fn=fi, position_init_fn=fp)
    assert isinstance(v, symbolic.NumericalVar)
    assert v.values == (0.0, 0.5, 1.0)
    assert all(isinstance(x, float) for x in v.values)
    assert v.default == 1.0 and isinstance(v.default, float)
    assert v.input_init_fn is fi and v.position_init_fn is fp


def test_numeric_var_defaults() -> None:
    v = pb.numeric_var()
    assert v.values is None
    assert v.default == 0.0


def test_set_var_keywords() -> None:
    v = pb.set_var(range=4, values=[set(), {1}, [0, 2]], default={1})
    assert isinstance(v, symbolic.SetVar)
    assert v.range == 4
    assert v.values == (frozenset(), frozenset({1}), frozenset({0, 2}))
    assert v.default == frozenset({1})


def test_set_var_defaults() -> None:
    v = pb.set_var(range=3)
    assert v.default == frozenset()
    assert v.values is None
    assert v.input_init_fn is None and v.position_init_fn is None


# --------------------------------------------------------------------------- heads, halt


def test_qkv_keywords() -> None:
    spec = pb.numeric_var(values=[0, 1])
    head = pb.qkv(query="q", key="k", value="v", relative_position_mask=[-1, 2], output_spec=spec)
    assert (head.query, head.key, head.value) == ("q", "k", "v")
    assert head.relative_position_mask == frozenset({-1, 2})
    assert head.output_spec is spec


def test_qkv_defaults() -> None:
    head = pb.qkv("q", "k", "v")
    assert head.relative_position_mask == frozenset()
    assert head.output_spec is None


def test_v_relative_uses_relative_qk() -> None:
    head = pb.v_relative(value="x", position=-1)
    assert head.query == head.key == symbolic.RELATIVE_QK == "relative_qk"
    assert head.value == "x"
    assert head.relative_position_mask == frozenset({-1})


def test_halt_spec_keywords() -> None:
    assert pb.halt_spec("done") == symbolic.Halt("done", 1)
    halt = pb.halt_spec(halt_var="state", halt_value=3)
    assert (halt.var, halt.value) == ("state", 3)


# --------------------------------------------------------------------------- programs


def _noop(z: object) -> None:
    del z


def test_program_spec_adds_relative_qk_and_head_outputs() -> None:
    program = pb.program_spec(
        variables={"x": pb.input_var(3), "y": pb.var(2)},
        heads={"x_left": pb.v_relative("x", -1)},
        ffn_fn=_noop,
        output_name="y",
        input_range=3,
    )
    names = [n for n, _ in program.variables]
    assert names == ["x", "y", "relative_qk", "x_left"]
    assert program.vars["relative_qk"] == symbolic.CategoricalVar(range=1, default=0)
    out = program.vars["x_left"]
    assert isinstance(out, symbolic.CategoricalVar)
    assert out.range == 3 and out.default is None and out.input_init_fn is None
    assert program.heads == (
        symbolic.Head("x_left", "relative_qk", "relative_qk", "x", frozenset({-1})),
    )
    assert program.output == "y"
    assert program.input_range == 3
    assert program.position_range is None and program.halt is None
    assert isinstance(program.mlp, symbolic.FunctionMLP)


def test_program_spec_without_relative_heads_has_no_relative_qk() -> None:
    program = pb.program_spec(
        {"q": pb.var(2), "k": pb.input_var(2)},
        {"h": pb.qkv("q", "k", "k")},
        _noop,
        "q",
        2,
    )
    assert "relative_qk" not in program.vars


def test_program_spec_output_spec_overrides_head_type() -> None:
    program = pb.program_spec(
        {"q": pb.var(2, default=1), "k": pb.input_var(2), "v": pb.numeric_var()},
        {"mean": pb.qkv("q", "k", "v", output_spec=pb.numeric_var(values=[0, 0.5, 1]))},
        _noop,
        "q",
        2,
    )
    out = program.vars["mean"]
    assert isinstance(out, symbolic.NumericalVar)
    assert out.values == (0.0, 0.5, 1.0)
    assert out.default is None


def test_program_spec_keywords() -> None:
    program = pb.program_spec(
        variables={"done": pb.position_var(2, init_fn=lambda p: 1)},
        heads={},
        ffn_fn=_noop,
        output_name="done",
        input_range=4,
        position_range=8,
        halt=pb.halt_spec("done", 1),
        generate_rules=True,
    )
    assert program.position_range == 8
    assert program.halt == symbolic.Halt("done", 1)
    again = pb.program_spec({"done": pb.var(2)}, {}, _noop, "done", 4, generate_rules=False)
    assert isinstance(again.mlp, symbolic.FunctionMLP)


def test_program_spec_from_rules_keywords() -> None:
    rule = symbolic.Rule((("a", 0),), "a", 0, 1)
    program = pb.program_spec_from_rules(
        variables={"a": pb.var(2)},
        heads={},
        rules=[rule],
        output_name="a",
        input_range=1,
        position_range=None,
        halt=pb.halt_spec("a"),
    )
    assert isinstance(program.mlp, symbolic.RulesMLP)
    assert program.mlp.rules == (rule,)
    assert alta.interpret(program, [0, 0]) == [1, 1]


# --------------------------------------------------------------------------- MLPBuilder

_VARS = {"a": pb.var(2), "b": pb.var(3), "c": pb.var(2)}


def test_mlp_builder_get_one_name_yields_bare_values() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    assert list(mlp.get("b")) == [0, 1, 2]


def test_mlp_builder_get_several_names_yields_tuples() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    assert list(mlp.get("a", "b")) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_mlp_builder_set_without_change_emits_nothing() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    for a in mlp.get("a"):
        mlp.set("a", a)
    assert mlp.rules == []


def test_mlp_builder_set_emits_rule_with_context_lhs() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    for a, _c in mlp.get("a", "c"):
        if a == 1:
            mlp.set("c", 1)
    assert mlp.rules == [symbolic.Rule((("a", 1), ("c", 0)), "c", 0, 1)]


def test_mlp_builder_set_outside_context_loops_over_values() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    for a in mlp.get("a"):
        mlp.set("b", a)
    # b ranges over 0..2; the rule where b already equals a is not emitted.
    assert mlp.rules == [
        symbolic.Rule((("a", 0), ("b", 1)), "b", 1, 0),
        symbolic.Rule((("a", 0), ("b", 2)), "b", 2, 0),
        symbolic.Rule((("a", 1), ("b", 0)), "b", 0, 1),
        symbolic.Rule((("a", 1), ("b", 2)), "b", 2, 1),
    ]


def test_mlp_builder_set_with_empty_context() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    mlp.set("a", 1)
    assert mlp.rules == [symbolic.Rule((("a", 0),), "a", 0, 1)]


def test_mlp_builder_lhs_is_sorted_context() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    for c, a in mlp.get("c", "a"):
        if (c, a) == (1, 1):
            for b in mlp.get("b"):
                if b == 2:
                    mlp.set("b", 0)
    assert len(mlp.rules) == 1
    assert mlp.rules[0].lhs == (("a", 1), ("b", 2), ("c", 1))
    assert (mlp.rules[0].var, mlp.rules[0].old, mlp.rules[0].new) == ("b", 2, 0)


def test_mlp_builder_context_ends_with_the_loop() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    for _ in mlp.get("a"):
        pass
    mlp.set("c", 1)
    assert mlp.rules == [symbolic.Rule((("c", 0),), "c", 0, 1)]


def test_mlp_builder_sees_head_outputs_and_relative_qk() -> None:
    mlp = pb.MLPBuilder({"x": pb.input_var(3)}, {"left": pb.v_relative("x", -1)})
    assert list(mlp.get("left")) == [0, 1, 2]
    assert list(mlp.get("relative_qk")) == [0]


def test_mlp_builder_numerical_and_set_domains() -> None:
    variables: dict[str, symbolic.Var] = {
        "n": pb.numeric_var(values=[0, 0.5, 1]),
        "s": pb.set_var(range=3, values=[set(), {0, 2}]),
    }
    mlp = pb.MLPBuilder(variables, {})
    assert list(mlp.get("n")) == [0.0, 0.5, 1.0]
    assert list(mlp.get("s")) == [frozenset(), frozenset({0, 2})]


def test_mlp_builder_normalises_bool_values() -> None:
    mlp = pb.MLPBuilder(_VARS, {})
    for a in mlp.get("a"):
        mlp.set("c", a == 1)
    assert all(type(r.new) is int for r in mlp.rules)
    assert [r.new for r in mlp.rules] == [0, 1]


# --------------------------------------------------------------------------- paper style


def _parity_parts() -> tuple[dict, dict]:
    variables = {
        "parity": pb.input_var(2, init_fn=lambda t: 0 if t == 2 else t),
        "done": pb.input_var(2, init_fn=lambda t: t == 2),
    }
    heads = {
        "parity_left": pb.v_relative("parity", -1),
        "done_left": pb.v_relative("done", -1),
    }
    return variables, heads


def _parity_function_program() -> symbolic.Program:
    variables, heads = _parity_parts()

    def ffn(z):  # type: ignore[no-untyped-def]
        if z["done"] != 1 and z["done_left"] == 1:
            z["parity"] = z["parity_left"] ^ z["parity"]
            z["done"] = 1

    return pb.program_spec(
        variables, heads, ffn, output_name="parity", input_range=3, halt=pb.halt_spec("done", 1)
    )


def _parity_rules_program() -> symbolic.Program:
    variables, heads = _parity_parts()
    mlp = pb.MLPBuilder(variables, heads)
    for done, done_left in mlp.get("done", "done_left"):
        if done != 1 and done_left == 1:
            for parity, parity_left in mlp.get("parity", "parity_left"):
                mlp.set("parity", parity_left ^ parity)
            mlp.set("done", 1)
    return pb.program_spec_from_rules(
        variables,
        heads,
        mlp.rules,
        output_name="parity",
        input_range=3,
        halt=pb.halt_spec("done", 1),
    )


def _prefix_parity(bits: list[int]) -> list[int]:
    out, acc = [0], 0
    for b in bits:
        acc ^= b
        out.append(acc)
    return out


def test_design_parity_example() -> None:
    program = _parity_function_program()
    assert alta.interpret(program, [2, 1, 0, 1], max_layers=10) == [0, 1, 1, 0]


def test_parity_mlp_builder_has_three_rules() -> None:
    program = _parity_rules_program()
    assert isinstance(program.mlp, symbolic.RulesMLP)
    rules = {str(r) for r in program.mlp.rules}
    assert len(rules) == 3
    assert program.mlp.rules[-1] == symbolic.Rule((("done", 0), ("done_left", 1)), "done", 0, 1)


@pytest.mark.parametrize("build", [_parity_function_program, _parity_rules_program])
@pytest.mark.parametrize(
    "bits", [[], [1], [0], [1, 1], [1, 0, 1, 1], [0, 0, 1, 0, 1, 1, 1], [1] * 9]
)
def test_paper_style_parity(build, bits: list[int]) -> None:  # type: ignore[no-untyped-def]
    program = build()
    tokens = [2, *bits]
    assert alta.interpret(program, tokens) == _prefix_parity(bits)
    assert alta.interpret(program, tokens, max_layers=len(tokens) + 5) == _prefix_parity(bits)


def test_init_functions_may_return_bools() -> None:
    variables, heads = _parity_parts()
    program = pb.program_spec(variables, heads, _noop, output_name="done", input_range=3)
    out = alta.interpret(program, [2, 0, 1], max_layers=0)
    assert out == [1, 0, 0]
    assert all(type(x) is int for x in out)


def test_numeric_init_functions_may_return_ints_and_bools() -> None:
    program = pb.program_spec(
        {
            "n": pb.numeric_var(input_init_fn=lambda t: t == 1),
            "m": pb.numeric_var(position_init_fn=lambda p: p),
        },
        {},
        _noop,
        output_name="n",
        input_range=2,
        position_range=3,
    )
    out = alta.interpret(program, [1, 0, 1], max_layers=0)
    assert out == [1.0, 0.0, 1.0]
    assert all(type(x) is float for x in out)


def test_qkv_with_position_vars_reads_the_left_neighbour() -> None:
    # idx_left points at p-1 (at 0 it points at itself), so h is x one step to the left.
    variables = {
        "x": pb.input_var(4),
        "idx": pb.position_var(4),
        "idx_left": pb.position_var(4, init_fn=lambda p: max(p - 1, 0)),
        "y": pb.var(4),
    }
    heads = {"h": pb.qkv("idx_left", "idx", "x")}

    def ffn(z):  # type: ignore[no-untyped-def]
        z["y"] = z["h"]

    program = pb.program_spec(variables, heads, ffn, "y", input_range=4, position_range=4)
    assert alta.interpret(program, [3, 1, 2], max_layers=1) == [3, 3, 1]


def test_numeric_var_bad_defaults_are_program_errors() -> None:
    """A numerical default must be a float: None or a string is a ProgramError naming the
    variable or the value, never a bare TypeError from float()."""
    variables = {"x": pb.numeric_var(values=(0.0, 1.0), default=None), "t": pb.input_var(2)}
    with pytest.raises(errors.ProgramError, match=r"variable 'x': .*float default"):
        pb.program_spec(variables, {}, lambda z: None, output_name="x", input_range=2)
    with pytest.raises(errors.ProgramError, match=r"numeric_var: the default 'x' is not a number"):
        pb.numeric_var(default="x")
