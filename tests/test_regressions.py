"""Failures the differential fuzzer (test_fuzz.py) found, shrunk to literal programs.

Each test names the input and layer count that failed, and checks the compiled model
against the interpreter exactly as the fuzzer does (outputs and every variable after
every layer).
"""

from __future__ import annotations

from typing import Any

import pytest
import strategies

import alta
from alta import errors
from alta import lang as pb
from alta.ir import symbolic


def _check(
    program: symbolic.Program,
    inputs: list[list[int]],
    max_layers: int,
    pipelines: tuple[str, ...] = ("default", strategies.LOWER_ONLY),
) -> None:
    kept, skipped = strategies.expected(program, inputs, max_layers)
    assert not skipped, "a regression input must be defined behaviour"
    for pipeline in pipelines:
        model = alta.compile(program, backend="numpy", pipeline=pipeline, max_layers=max_layers)
        strategies.assert_agrees(program, model, kept, max_layers)


def test_numerical_write_without_atom_on_its_old_value() -> None:
    """A rule that writes a numerical variable without reading it needs one unit per old
    value, gated on the old value's bucket. The MLP had no expansion layer (no rule had a
    numerical *atom*), so the bucket unit's index was read as a residual dim (c0's, always
    1) and the unit fired at n0 = -3.5 too: n0 became -3.501.
    Fixed in lower_sparse_to_dense.mlp_units.build (expand when a rule writes a numerical or set variable)."""

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
    Fixed in lower_sparse_to_dense.mlp_units (_step, _buckets)."""
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


def test_minimize_rules_with_a_set_valued_write() -> None:
    """minimize-rules grouped rules by a key holding `sorted(frozenset)`, a list, so a rule
    writing a set variable crashed the pass ("unhashable type: 'list'").
    Fixed in minimize_rules._key (a tuple)."""
    sets = (frozenset(), frozenset({0}))
    variables = {
        "c0": pb.input_var(2),
        "s0": pb.set_var(range=2, values=sets, input_init_fn=lambda t: sets[t]),
    }
    heads = {"h0": pb.qkv("s0", "c0", "c0", relative_position_mask={-1})}
    mlp = pb.MLPBuilder(variables, heads)
    mlp.set("s0", frozenset({0}))
    program = pb.program_spec_from_rules(
        variables, heads, mlp.rules, output_name="s0", input_range=2
    )
    optimised = "lower-symbolic-to-sparse,minimize-rules,lower-sparse-to-dense"
    _check(program, [[0, 1, 0], [1, 1]], max_layers=2, pipelines=(optimised, "default"))


def test_interpret_empty_input() -> None:
    """The interpreter crashed on a batch whose sequences are all empty (a categorical
    head took argmax over zero positions); the compiled model returns []."""
    variables = {"c0": pb.var(2)}
    heads = {"h0": pb.v_relative("c0", -1)}
    program = pb.program_spec_from_rules(variables, heads, [], output_name="c0", input_range=1)
    assert alta.compile(program, max_layers=1)([]) == []
    assert alta.interpret(program, [], max_layers=1) == []


def test_function_writing_none_to_a_numerical_variable() -> None:
    """Writing None to a numerical variable: the interpreter and the compiler must agree
    on whether the program is valid (only categorical variables can be set to None)."""

    def ffn(z: Any) -> None:
        z["n0"] = None

    variables = {"c0": pb.var(2), "n0": pb.numeric_var(default=-3.5)}
    program = pb.program_spec(variables, {}, ffn, output_name="n0", input_range=1)
    try:
        model = alta.compile(program, max_layers=1)
    except errors.AltaError:
        with pytest.raises(errors.IllTypedWriteError):
            alta.interpret(program, [0], max_layers=1)
    else:
        assert model([0]) == alta.interpret(program, [0], max_layers=1)


# --------------------------------------------------------------------------- non-strict fuzzer
# Found by the non-strict fuzzer (strategies_ub.py): the contract of docs/semantics.md for
# programs with undefined behaviour (reports name the fault; strict=True sees every conflict
# the interpreter can report; nothing but an AltaError escapes).


@pytest.mark.parametrize("strict", [False, True])
def test_raising_function_path_error_shows_the_state(strict: bool) -> None:
    """The interpreter's error for a raising MLP function path named the layer, sequence
    and position but not the state the function saw (docs/semantics.md: errors name the
    function path), unlike the ill-typed write error.
    Fixed in alta.interp.mlp.FunctionRunner._call."""

    def ffn(z: Any) -> None:
        if z["c0"] == 1:
            raise ValueError("boom")

    variables = {"c0": pb.input_var(2), "c1": pb.var(2)}
    program = pb.program_spec(variables, {}, ffn, output_name="c1", input_range=2)
    assert alta.interpret(program, [0, 0], max_layers=1, strict=strict) == [0, 0]
    with pytest.raises(errors.InterpreterError, match="ValueError: boom") as info:
        alta.interpret(program, [[0], [0, 1]], max_layers=1, strict=strict)
    assert "sequence 1, position 1" in str(info.value)
    assert "c0=1" in str(info.value), "the error must show the state the function saw"


@pytest.mark.parametrize("second_new", [0, 1], ids=["duplicate", "no-op"])
def test_rules_the_default_pipeline_drops_still_conflict(second_new: int) -> None:
    """Two rules that always fire together (identical, or one a no-op new == old): the
    interpreter reports a RuleConflictError, but the default pipeline dropped the second
    (canonicalize, minimize-rules) before lower-sparse-to-dense looked for conflicts, so
    `strict=True` compiled it without a word. The lowerings alone did warn.
    Fixed by checking conflicts before the optimisations (sparse.Module.conflicts_checked)."""
    variables = {"c0": pb.var(2), "c1": pb.var(2, default=1)}
    rules = [
        symbolic.Rule((("c1", 1),), "c1", 1, 0),
        symbolic.Rule((("c1", 1),), "c1", 1, second_new),
    ]
    program = pb.program_spec_from_rules(variables, {}, rules, output_name="c1", input_range=2)
    with pytest.raises(errors.RuleConflictError, match=r"rules #\d \(.*\) and #\d .*'c1'"):
        alta.interpret(program, [0], max_layers=1, strict=True)
    with pytest.raises(errors.CompileError, match=r"strict=True.*may fire together"):
        alta.compile(program, pipeline=strategies.LOWER_ONLY, max_layers=1, strict=True)
    with pytest.raises(errors.CompileError, match=r"strict=True.*may fire together"):
        alta.compile(program, max_layers=1, strict=True)


def test_mlp_builder_writing_an_int_to_a_set_variable_raises_an_alta_error() -> None:
    """MLPBuilder.set normalised a set variable's value with frozenset(value), so an int
    raised TypeError, not an AltaError. Fixed in symbolic.normalise (a non-iterable is left
    for value_error to name: an ill-typed rule)."""
    sets = (frozenset(), frozenset({1}))
    variables = {"c0": pb.input_var(3), "s0": pb.set_var(range=2, values=sets)}
    mlp = pb.MLPBuilder(variables, {})
    try:
        mlp.set("s0", 5)
    except errors.AltaError:
        return  # refused when built: fine
    program = pb.program_spec_from_rules(variables, {}, mlp.rules, output_name="c0", input_range=3)
    with pytest.raises(errors.IllTypedWriteError, match="rule #0"):
        alta.interpret(program, [0], max_layers=1)


def test_rule_dead_by_an_equality_on_the_halt_variable() -> None:
    """A rule writes None to c1, but its equality c2 == h1 never holds (c2 is always 1,
    h1 copies c0, always 0). The reachable-value analysis knew it could not fire and so
    took None out of c1's domain, but prune-values kept the rule (c2's domain keeps the
    halt value 0, so the equality looked satisfiable): the verifier refused the pass's
    output. Fixed in prune_values.prune_sparse (rules that cannot fire are dropped)."""
    variables = {
        "c0": pb.var(3, default=0),
        "c1": pb.position_var(2, init_fn=lambda p: (0, 0, 0, 0, 1)[p]),
        "c2": pb.input_var(2, init_fn=lambda t: (1, 1, 1)[t]),
        "s0": pb.set_var(range=3, values=(frozenset(), frozenset({0})), default=frozenset()),
    }
    heads = {
        "h0": pb.qkv("s0", "c0", "c0", relative_position_mask={-1}),
        "h1": pb.v_relative("c0", -1),
    }
    mlp = pb.MLPBuilder(variables, heads)
    for x, y in mlp.get("h1", "c2"):
        if x == y:
            for h0 in mlp.get("h0"):
                mlp.set("c1", {0: None, 1: 0, 2: 0}[h0])
    program = pb.program_spec_from_rules(
        variables,
        heads,
        mlp.rules,
        output_name="c2",
        input_range=3,
        position_range=5,
        halt=pb.halt_spec("c2", 0),
    )
    _check(program, [[0], [1, 2, 0], [2, 2, 2, 1, 0]], 2)
