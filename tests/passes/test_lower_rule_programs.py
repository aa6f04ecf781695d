"""Lowering explicit rule programs: rules that differ only in the old value of the
variable they write become one IR2 rule (docs/pipelines.md, "merge-olds").

The lowered rules are checked against the program's own rules evaluated in plain Python
on every state, and compiled models against the interpreter and a plain-Python reference
of the algorithm; warnings must still count and name the rules as written.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alta
from alta import lang as pb
from alta.backends import base
from alta.errors import CompileWarning
from alta.interp import sparse as interp_sparse
from alta.ir import sparse, symbolic
from alta.passes import lower_symbolic_to_sparse as lowering

CAP = 5  # the counter saturates here


def tally() -> symbolic.Program:
    """Per position: token 0 resets a counter, 1 adds one (up to CAP), 2 doubles it (up
    to CAP), 3 leaves it; `seen3` records a 3. Written the way the paper's programs are:
    each write enumerates every old value of the variable it writes."""
    variables = {"tok": pb.input_var(4), "count": pb.var(CAP + 1), "seen3": pb.var(2)}
    mlp = pb.MLPBuilder(variables, {})
    for tok in mlp.get("tok"):
        if tok == 0:
            mlp.set("count", 0)
        elif tok == 3:
            mlp.set("seen3", 1)
        else:
            for count in mlp.get("count"):
                mlp.set("count", min(CAP, count + 1 if tok == 1 else 2 * count))
    return pb.program_spec_from_rules(variables, {}, mlp.rules, "count", 4, name="tally")


def tally_reference(tokens: list[int], layers: int) -> list[int]:
    out = []
    for tok in tokens:
        count = 0
        for _ in range(layers):
            count = {0: 0, 1: min(CAP, count + 1), 2: min(CAP, 2 * count), 3: count}[tok]
        out.append(count)
    return out


def _states(program: symbolic.Program) -> list[dict[str, Any]]:
    names = [n for n, _ in program.variables]
    domains = [program.vars[n].domain() for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*domains)]


def _symbolic_writes(program: symbolic.Program, state: dict[str, Any]) -> set[tuple[str, Any]]:
    """What the program's rules write in `state`, by their own definition."""
    assert isinstance(program.mlp, symbolic.RulesMLP)
    return {
        (r.var, r.new)
        for r in program.mlp.rules
        if state[r.var] == r.old and all(state[n] == v for n, v in r.lhs if n != r.var)
    }


def _lowered_writes(
    module: sparse.Module, program: symbolic.Program, states: list[dict[str, Any]]
) -> list[set[tuple[str, Any]]]:
    values = {n: np.array([s[n] for s in states], dtype=object) for n, _ in program.variables}
    hits = interp_sparse.rule_matches(module, program.vars, values)
    return [
        {(r.var, r.new) for r, hit in zip(module.rules, row, strict=True) if hit} for row in hits
    ]


def _lower(program: symbolic.Program) -> sparse.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        return lowering.lower_with_notes(program, merge_olds=True)[0]


def test_rules_that_differ_in_the_old_value_become_one_and_write_the_same() -> None:
    program = tally()
    module = _lower(program)
    assert isinstance(program.mlp, symbolic.RulesMLP)
    assert len(module.rules) < len(program.mlp.rules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        written = lowering.lower_with_notes(program)[0]  # as rule coverage reads them
    assert len(written.rules) == len(program.mlp.rules)
    resets = [r for r in module.rules if r.var == "count" and r.new == 0]
    assert any(len(r.atom("count").values) > 1 for r in resets if r.atom("count"))
    states = _states(program)
    lowered = _lowered_writes(module, program, states)
    for state, got in zip(states, lowered, strict=True):
        assert got == _symbolic_writes(program, state), state


def test_a_merged_rule_program_compiles_exactly_on_every_backend() -> None:
    program = tally()
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 4, size=int(k)).tolist() for k in rng.integers(1, 9, size=60)]
    layers = 4
    expected = alta.interpret(program, inputs, max_layers=layers)
    assert expected == [tally_reference(x, layers) for x in inputs]
    for backend in base.available():
        model = alta.compile(program, backend=backend, max_layers=layers, strict=True)
        assert model(inputs) == expected, backend


@st.composite
def _rule_programs(draw: Any) -> symbolic.Program:
    """Three small variables and rules over them, some enumerating every old value."""
    ranges = {"a": 2, "b": 3, "c": 3}
    variables = {"a": pb.input_var(2), "b": pb.var(3), "c": pb.var(3, default=1)}
    rules = []
    for _ in range(draw(st.integers(1, 6))):
        var = draw(st.sampled_from(["b", "c"]))
        others = [n for n in ranges if n != var]
        lhs = tuple((n, draw(st.integers(0, ranges[n] - 1))) for n in others if draw(st.booleans()))
        new = draw(st.integers(0, ranges[var] - 1))
        every_old = draw(st.booleans())
        olds = range(ranges[var]) if every_old else [draw(st.integers(0, ranges[var] - 1))]
        rules += [symbolic.Rule(((var, old), *lhs), var, old, new) for old in olds]
    return pb.program_spec_from_rules(variables, {}, rules, "c", 2, name="random_rules")


@settings(max_examples=60, deadline=None)
@given(_rule_programs())
def test_lowered_rules_write_what_the_program_rules_write(program: symbolic.Program) -> None:
    module = _lower(program)
    states = _states(program)
    for state, got in zip(states, _lowered_writes(module, program, states), strict=True):
        want = _symbolic_writes(program, state)
        assert got == want, state


def test_a_conflict_is_counted_and_shown_among_the_rules_as_written() -> None:
    """Two groups of enumerated rules overlap at c == 2, where c starts (a real
    conflict): the warning counts the one pair of rules as written, not the merged pair."""
    variables = {"a": pb.input_var(2), "c": pb.var(3, default=2)}
    rules = [symbolic.Rule((("a", 0),), "c", old, 1) for old in (0, 2)]
    rules += [symbolic.Rule((("a", 0),), "c", old, 0) for old in (1, 2)]
    program = pb.program_spec_from_rules(variables, {}, rules, "c", 2, name="clash")
    with pytest.warns(CompileWarning, match=r"1 pair\(s\) of rules may fire together") as got:
        lowering.lower_with_notes(program, merge_olds=True)
    text = str(got[0].message)
    assert "{2}" in text and "{0, 2}" not in text and "{1, 2}" not in text


def test_ill_typed_rules_are_counted_one_by_one_and_the_first_named() -> None:
    variables = {"a": pb.input_var(2), "c": pb.var(3)}
    rules = [symbolic.Rule((("a", 1),), "c", old, 7) for old in range(3)]
    rules += [symbolic.Rule((("a", 0),), "c", old, 2) for old in range(2)]
    program = pb.program_spec_from_rules(variables, {}, rules, "c", 2, name="bad_writes")
    with pytest.warns(CompileWarning, match=r"dropped 3 ill-typed write\(s\), e\.g\. rule #0 "):
        module = lowering.lower_with_notes(program, merge_olds=True)[0]
    assert [(r.var, r.new) for r in module.rules] == [("c", 2)]


def test_rules_with_lists_for_their_lhs_lower_as_before() -> None:
    """An lhs given as a list (of lists) cannot key a group: those rules are lowered one
    by one, as the interpreter reads them."""
    variables = {"a": pb.input_var(2), "c": pb.var(3)}
    rules = [symbolic.Rule([["a", 0], ["c", old]], "c", old, old + 1) for old in range(2)]  # type: ignore[arg-type]
    program = pb.program_spec_from_rules(variables, {}, rules, "c", 2, name="lists")
    inputs = [[0, 1, 0], [1], [0]]
    expected = alta.interpret(program, inputs, max_layers=3)
    assert expected == [[2, 0, 2], [0], [2]]
    assert alta.compile(program, max_layers=3, strict=True)(inputs) == expected
