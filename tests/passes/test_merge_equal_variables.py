"""`merge-equal-variables` and the lowering's reading of unwritten copies as one variable.

The issue's case: five input-initialised copies of the token, read by one MLP function,
compiled to 100,000 rules and 12 M parameters; merged, they cost the rules of one copy.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

import alta
from alta import lang as pb
from alta import passes
from alta.interp import sparse as interp_sparse
from alta.ir import parser, sparse, symbolic
from alta.passes import merge_equal_variables as mev

RANGE = 10


def _copies(k: int, write_copy: bool = False) -> symbolic.Program:
    names = [f"x{i}" for i in range(k)]
    variables: dict[str, symbolic.Var] = {n: pb.input_var(RANGE) for n in names}
    variables["out"] = pb.var(RANGE)

    def ffn(z: object) -> None:
        z["out"] = sum(z[n] for n in names) % RANGE  # type: ignore[index]
        if write_copy:
            z[names[-1]] = (z[names[-1]] + 1) % RANGE  # type: ignore[index]

    return pb.program_spec(variables, {}, ffn, "out", input_range=RANGE, name=f"copies{k}")


def _inputs(n: int = 40, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, RANGE, size=int(rng.integers(1, 6))).tolist() for _ in range(n)]


def test_five_copies_compile_to_the_rules_of_one() -> None:
    one = alta.compile(_copies(1))
    start = time.perf_counter()
    five = alta.compile(_copies(5))
    assert time.perf_counter() - start < 5.0  # was ~16-27 s, 100,000 rules, 12 M params
    assert five.stats["rules"] <= one.stats["rules"]
    assert five.stats["params"] <= one.stats["params"]
    xs = _inputs()
    expected = alta.interpret(_copies(5), xs, max_layers=3)
    assert five(xs, max_layers=3) == expected


def test_lowering_explores_copies_as_one() -> None:
    ctx = passes.PassContext("lower-symbolic-to-sparse")
    with ctx.active():
        lowering = passes.lookup("lower-symbolic-to-sparse")
        module = lowering(merge_copies=True).run(_copies(5))  # type: ignore[misc, call-arg]
    assert len(module.rules) <= RANGE
    assert {a.var for r in module.rules for a in r.atoms} <= {"x0", "out"}
    assert any("4 unwritten copy variable(s)" in line for line in ctx.lines)


def test_a_written_copy_is_explored_as_itself() -> None:
    """The function writes x2: x2 drifts from x0 and x1, so it is not read as x0."""
    program = _copies(3, write_copy=True)
    module = passes.run_pipeline(program, "lower-symbolic-to-sparse{merge-copies=true}")[-1]
    assert any(a.var == "x2" for r in module.rules for a in r.atoms)
    xs = _inputs(seed=1)
    for layers in (1, 2, 3):
        assert alta.compile(program)(xs, max_layers=layers) == alta.interpret(
            program, xs, max_layers=layers
        )


TEXT = """
alta.sparse @copies {
  input_range = 3, position_range = none
  var %a : cat<3> {0, 1, 2} = token[0, 1, 2]
  var %b : cat<3> {0, 1, 2} = token[0, 1, 2]
  var %c : cat<3> {0, 1, 2} = token[0, 1, 2]
  var %d : cat<3> {0, 1, 2} = token[2, 1, 0]
  var %w : cat<3> {0, 1, 2} = token[0, 1, 2]
  var %y : cat<3> {0, 1, 2} = 0
  var %left : cat<3> {0, 1, 2} = head
  head %left = attend(query=%c, key=%b, value=%d, mask={-1})
  rule #0 : %a in {2}, %d in {0} -> %y := 1
  rule #1 : %a in {1}, %b in {0} -> %y := 2
  rule #2 : %b in {1, 2}, %c in {1}, %w in {1} -> %y := 2
  rule #3 : %left in {0}, %b in {0} -> %y := 0
  rule #4 : %y in {1} -> %w := 0
  output %%OUT
}
"""


def _module(output: str = "y") -> sparse.Module:
    return parser.parse_sparse(TEXT.replace("%%OUT", "%" + output))


def test_merges_unwritten_copies_and_conjoins_atoms() -> None:
    module = _module()
    merged = mev.merge_equal(module)
    assert list(merged.variables) == ["a", "d", "w", "y", "left"]  # %w is written: kept
    assert (merged.heads[0].query, merged.heads[0].key) == ("a", "a")
    assert len(merged.rules) == len(module.rules) - 1
    assert merged.rules[1].atoms == (
        sparse.Atom("a", frozenset({1})),
        sparse.Atom("w", frozenset({1})),
    )
    passes.verify(merged)


@pytest.mark.parametrize("output", ["y", "c"])
def test_merging_keeps_what_the_module_computes(output: str) -> None:
    module = _module(output)
    merged = mev.merge_equal(module)
    assert output in merged.variables  # the output is never dropped
    xs = [list(seq) for n in range(1, 5) for seq in itertools.product(range(3), repeat=n)]
    for layers in (1, 2, 3):
        before = interp_sparse.run(module, xs, layers).outputs
        after = interp_sparse.run(merged, xs, layers).outputs
        assert before == after


def test_the_output_becomes_the_representative() -> None:
    merged = mev.merge_equal(_module("c"))
    assert "a" not in merged.variables and "c" in merged.variables
    assert merged.heads[0].key == "c"


def test_nothing_to_merge_returns_the_same_module() -> None:
    module = mev.merge_equal(_module())
    assert mev.merge_equal(module) is module


def test_library_programs_do_not_grow() -> None:
    """The pass is in the default pipeline; it never makes a module bigger."""
    from alta import programs

    for name in ("addition", "parity_sequential_relative", "sort_unique"):
        module = passes.run_pipeline(programs.get(name).build(), "lower-symbolic-to-sparse")[-1]
        merged = mev.merge_equal(module)
        assert len(merged.rules) <= len(module.rules)
        assert len(merged.variables) <= len(module.variables)
