"""Reachable value pairs (`alta.ir.joint_reach`) over-approximate every run: each pair of
values that two variables hold together in a real run is among the computed pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from alta import interp, programs
from alta.interp import state as st
from alta.ir import analysis, joint_reach
from alta.passes import lower_symbolic_to_sparse

SMALL = ["parity_sequential_relative_rules", "parity_sum_mod_2", "addition_rules", "sort_unique"]


@pytest.mark.parametrize("name", SMALL)
def test_observed_pairs_are_reachable_pairs(name: str) -> None:
    case = programs.get(name)
    program = case.build()
    module = lower_symbolic_to_sparse.lower(program)
    joint = joint_reach.JointReach(module, analysis.reachable_values(module)).with_pairs()
    names = [n for n, v in module.variables.items() if not v.is_head_output][:8]
    inputs = [list(x) for x in case.generate(np.random.default_rng(0), 30)]
    observed: dict[tuple[str, str], set[tuple[object, object]]] = {}
    for layers in range(1, 1 + min(case.max_layers or 12, 12)):
        result = interp.run(program, inputs, max_layers=layers)
        valid = np.arange(result.state[names[0]].shape[1])[None, :] < result.lengths[:, None]
        for u, w in itertools.permutations(names, 2):
            us = [st.decode(program.vars[u], x) for x in result.state[u][valid]]
            ws = [st.decode(program.vars[w], x) for x in result.state[w][valid]]
            observed.setdefault((u, w), set()).update(zip(us, ws, strict=True))
    checked = 0
    for (u, w), seen in observed.items():
        pairs = joint.pairs(u, w)
        if pairs is not None:
            assert seen <= pairs, (u, w, sorted(map(str, seen - pairs))[:5])
            checked += 1
    assert checked > 0


def test_pairs_separate_flags_set_from_one_token() -> None:
    from alta import lang as pb
    from alta.ir import symbolic

    variables = {
        "tok": pb.input_var(3),
        "a": pb.input_var(2, init_fn=lambda t: t == 1),
        "b": pb.input_var(2, init_fn=lambda t: t == 2),
        "y": pb.var(3),
    }
    rules = [
        symbolic.Rule((("a", 1), ("y", 0)), "y", 0, 1),
        symbolic.Rule((("b", 1), ("y", 0)), "y", 0, 2),
    ]
    program = pb.program_spec_from_rules(variables, {}, rules, "y", input_range=3)
    module = lower_symbolic_to_sparse.lower(program)
    assert list(analysis.conflicts(module)) == [(0, 1)]  # per variable: not separated
    joint = joint_reach.JointReach(module, analysis.reachable_values(module))
    assert joint.pairs("a", "b") == {(0, 0), (1, 0), (0, 1)}
    assert joint_reach.unproven_conflicts(module) == []
