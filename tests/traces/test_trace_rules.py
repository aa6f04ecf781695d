"""`rules_fired`: a rule reported at a record holds there, and the rules a batch fires
are those the IR2 interpreter reports for the compiled sparse IR."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import alta
from alta import programs
from alta.interp import sparse as sparse_interp
from alta.ir import sparse
from alta.traces import TraceError, fired_rules, rules_fired

NAMES = ["parity_sequential_relative_rules", "addition", "sort_unique", "zeros_below"]


def _holds(atom: sparse.Atom, value: Any, domain: tuple[Any, ...], kind: str) -> bool:
    """An atom on a decoded value; a number matches the value of its domain nearest to it."""
    if value is None:
        return False
    if kind == sparse.NUMERICAL:
        nearest = min(domain, key=lambda v: abs(v - value))
        return nearest in atom.values
    return value in atom.values


@pytest.mark.parametrize("name", NAMES)
def test_fired_rules_hold_at_their_records(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    t = alta.trace(program, batch, model=model)
    module = model.sparse_ir
    fired = rules_fired(t)
    assert fired.shape == (len(t), len(module.rules)) and fired.any()
    for i, j in zip(*np.nonzero(fired), strict=True):
        assignment = t.assignment_in(int(i))
        for atom in module.rules[j].atoms:
            var = module.variables[atom.var]
            assert _holds(atom, assignment[atom.var], var.values, var.kind), (i, j, atom)


@pytest.mark.parametrize("name", NAMES)
def test_fired_set_matches_the_sparse_interpreter(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    max_layers = None if name == "zeros_below" else programs.get(name).max_layers
    t = alta.trace(program, batch, max_layers, model=model)
    expect = sparse_interp.run(model.sparse_ir, batch, max_layers).fired
    assert fired_rules(t) == expect
    assert fired_rules(t, model.sparse_ir) == expect


def test_a_bare_ir3_trace_needs_its_rules(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    t = alta.trace(program, batch, model=model.ir)
    with pytest.raises(TraceError, match="module="):
        rules_fired(t)
    assert rules_fired(t, model.sparse_ir).shape[0] == len(t)
