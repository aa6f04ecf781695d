"""The interpreter builds a rules program's table once per program, not once per call."""

from __future__ import annotations

import gc
import weakref

import alta
from alta.interp import symbolic as interp_symbolic
from alta.programs import parity


def test_rule_table_is_built_once_per_program_and_dropped_with_it() -> None:
    program = parity.build_sequential_relative(rules=True)
    table = interp_symbolic.mlp_step(program)
    assert interp_symbolic.mlp_step(program) is table
    other = parity.build_sequential_relative(rules=True)
    assert other == program and interp_symbolic.mlp_step(other) is not table
    ref = weakref.ref(program)
    del program, table
    gc.collect()
    assert ref() is None  # the cache does not keep a program alive


def test_cached_table_gives_the_same_answers_as_a_fresh_one() -> None:
    program = parity.build_sequential_relative(rules=True)
    bits = [[2, 1, 0, 1, 1], [2, 0], [2, 1, 1]]
    first = alta.interpret(program, bits)
    second = alta.interpret(program, bits)
    assert first == second
    assert [row[-1] for row in first] == [sum(b[1:]) % 2 for b in bits]
