"""`%x == %y` in rules (fold-equalities), on programs written for this test.

Each program is checked against a plain-Python reference through the interpreter, and
every installed backend against the interpreter, with and without the fold. The IR2
forms are checked through text: printing, parsing, the verifier and the passes that
rewrite rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import alta
from alta import lang as pb
from alta import passes
from alta.backends import base
from alta.errors import VerifyError
from alta.interp import sparse as interp_sparse
from alta.ir import dense, parser

N, STEPS = 12, 4
NO_FOLD = passes.DEFAULT_PIPELINE.replace("fold-equalities,", "")


def bump_at_pointers() -> alta.ir.symbolic.Program:
    """For s in 0..STEPS-1, add 1 (mod N) to the cell whose index is held at cell s: the
    paper's SUBLEQ idiom, `if position == b`, spelled out over every shared value."""
    variables = {
        "mem": pb.input_var(N),
        "pos": pb.position_var(N),
        "ptr": pb.var(N, default=0),
    }
    heads = {"addr": pb.qkv("ptr", "pos", "mem")}
    mlp = pb.MLPBuilder(variables, heads)
    for ptr in mlp.get("ptr"):
        if ptr < STEPS:
            mlp.set("ptr", ptr + 1)
            for p, addr in mlp.get("pos", "addr"):
                if p == addr:
                    for m in mlp.get("mem"):
                        mlp.set("mem", (m + 1) % N)
    return pb.program_spec_from_rules(
        variables, heads, mlp.rules, "mem", N, N, pb.halt_spec("ptr", STEPS), name="bump"
    )


def bump_reference(tokens: list[int]) -> list[int]:
    mem = list(tokens)
    for s in range(min(STEPS, len(mem))):
        a = mem[s]
        if a < len(mem):
            mem[a] = (mem[a] + 1) % N
    return mem


def bump_inputs(n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, N, size=int(k)).tolist() for k in rng.integers(1, N + 1, size=n)]


def repeats() -> alta.ir.symbolic.Program:
    """A Python function: count, up to 7, the layers at which a token equals its left
    neighbour's token read afresh (the neighbour is None at position 0)."""

    def count(z: Any) -> None:
        if z["pos"] > 0 and z["left"] == z["tok"] and z["n"] < 7:
            z["n"] = z["n"] + 1

    variables = {"tok": pb.input_var(6), "n": pb.var(8, default=0), "pos": pb.position_var(9)}
    heads = {"left": pb.v_relative("tok", -1)}
    return pb.program_spec(variables, heads, count, "n", 6, 9, name="repeats")


def repeats_reference(tokens: list[int], layers: int) -> list[int]:
    return [min(7, layers) if i > 0 and tokens[i - 1] == t else 0 for i, t in enumerate(tokens)]


def _equalities(model: alta.Model) -> int:
    assert model.sparse_ir is not None
    return sum(len(r.equals) for r in model.sparse_ir.rules)


def test_enumerated_pointer_writes_fold_and_stay_exact_on_every_backend() -> None:
    program, inputs = bump_at_pointers(), bump_inputs(80)
    expected = alta.interpret(program, inputs)
    assert expected == [bump_reference(x) for x in inputs]
    folded, unfolded = alta.compile(program), alta.compile(program, pipeline=NO_FOLD)
    assert _equalities(folded) > 0 and _equalities(unfolded) == 0
    assert folded.stats["rules"] * 5 < unfolded.stats["rules"]
    assert sum(folded.stats["mlp_widths"]) < sum(unfolded.stats["mlp_widths"])
    assert any(s.encoding == dense.BINARY for s in folded.ir.layout)  # codes compared too
    assert unfolded(inputs) == expected
    one_hot = passes.ONE_HOT_PIPELINE
    assert "fold-equalities" in one_hot
    assert alta.compile(program, pipeline=one_hot)(inputs) == expected
    for backend in base.available():
        assert alta.compile(program, backend=backend)(inputs) == expected, backend


def test_folded_model_is_exact_in_its_certified_half_dtype() -> None:
    program, inputs = bump_at_pointers(), bump_inputs(30, seed=1)
    model = alta.compile(program, dtype="float16")
    assert "float16" in model.stats["certified_dtypes"]
    assert model(inputs) == [bump_reference(x) for x in inputs]


def test_a_function_comparing_two_reads_folds_and_stays_exact() -> None:
    program = repeats()
    rng = np.random.default_rng(2)
    inputs = [rng.integers(0, 3, size=int(k)).tolist() for k in rng.integers(1, 10, size=60)]
    layers = 5
    expected = alta.interpret(program, inputs, max_layers=layers)
    assert expected == [repeats_reference(x, layers) for x in inputs]
    model = alta.compile(program, max_layers=layers)
    assert _equalities(model) > 0
    for backend in base.available():
        got = alta.compile(program, backend=backend, max_layers=layers)(inputs)
        assert got == expected, backend


TEXT = """
alta.sparse @eq {
  input_range = 4, position_range = 4
  var %b : cat<4> {0, 1, 2, 3} = token[0, 1, 2, 3]
  var %c : cat<4> {0, 1, 2, 3} = token[0, 1, 2, 3]
  var %p : cat<4> {0, 1, 2, 3} = position[0, 1, 2, 3]
  var %k : cat<4> {2} = 2
  var %x : num {0.0, 1.0} = 0.0
  var %m : cat<3> {0, 1, 2} = 0
  RULES
  halt %m == 2
  output %m
}
"""


def _module(*rules: str) -> Any:
    lines = "\n  ".join(f"rule #{i} : {r}" for i, r in enumerate(rules))
    return parser.parse(TEXT.replace("RULES", lines))


def test_equalities_print_parse_and_run_in_the_ir2_interpreter() -> None:
    module = _module("%m in {0}, %b == %p -> %m := 1", "%m in {1}, %c == %p -> %m := 2")
    assert "%b == %p" in str(module)
    assert str(parser.parse(str(module))) == str(module)
    inputs = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 1], [2]]
    run = interp_sparse.run(module, inputs, max_layers=3)
    # Position i holds token i: both rules fire where t == i, one after the other.
    assert run.outputs == [[2, 2, 2, 2], [0, 0, 0, 0], [0, 2], [0]]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("%b == %q -> %m := 1", "unknown variable '%q'"),
        ("%b == %x -> %m := 1", "'==' compares '%x', which is numerical"),
        ("%b == %b -> %m := 1", "'%b' is compared with itself"),
        ("%b == %p, %p == %b -> %m := 1", "'%p == %b' appears twice"),
        ("%b == %p, %m in {0, none} -> %m := 1", "the atom on '%m' lists none"),
    ],
)
def test_the_verifier_refuses_bad_equalities_and_none_atoms(rule: str, message: str) -> None:
    with pytest.raises(VerifyError, match=message) as info:
        _module(rule)
    assert "rule #0" in str(info.value)


def _run(module: Any, pipeline: str) -> Any:
    return passes.run_pipeline(module, pipeline)[-1]


def test_passes_rewrite_equalities_of_copies_and_constants() -> None:
    module = _module(
        "%m in {0}, %b == %c -> %m := 1",  # copies: %b == %c just says both are defined
        "%m in {1}, %k == %p -> %m := 2",  # a constant: %p in {2}
    )
    merged = _run(module, "merge-equal-variables")
    assert "==" not in str(merged).split("rule #0")[1].split("\n")[0]
    pruned = _run(module, "prune-values")
    assert "rule #1 : %m in {1}, %p in {2} -> %m := 2" in str(pruned)
    inputs = [[0, 1, 2, 3], [3, 3, 3]]
    want = interp_sparse.run(module, inputs, max_layers=3).outputs
    for rewritten in (merged, pruned, _run(module, "minimize-rules,dce,canonicalize")):
        assert interp_sparse.run(rewritten, inputs, max_layers=3).outputs == want


def test_minimize_rules_keeps_rules_under_an_equality_but_drops_dead_ones() -> None:
    module = _module("%m in {0}, %b == %p -> %m := 1", "%m in {2}, %b in {1} -> %m := 0")
    out = _run(module, "minimize-rules")
    assert len(out.rules) == 1 and out.rules[0].equals == (("b", "p"),)


def test_ir2_text_with_equalities_compiles_exactly_on_every_backend() -> None:
    module = _module(
        "%m in {0}, %b == %p -> %m := 1",
        "%m in {1}, %c == %p, %k in {2} -> %m := 2",
        "%m in {2}, %b in {0}, %p in {0} -> %m := 1",
    )
    inputs = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 1], [2], [3, 1, 2, 0], [0, 0, 0, 0]]
    want = interp_sparse.run(module, inputs, max_layers=5).outputs
    ir2_passes = passes.DEFAULT_PIPELINE.split(",", 1)[1]
    for backend in base.available():
        model = alta.compile(module, backend=backend, pipeline=ir2_passes, max_layers=5)
        assert model(inputs, allow_unhalted=True) == want, backend


def test_rules_an_equality_keeps_apart_are_not_reported_as_conflicts() -> None:
    """`%b == %p` cannot hold where the other rule pins b = 1 and p = 2: strict mode
    (which refuses rules that may fire together) compiles the pair, exactly."""
    module = _module("%m in {0}, %b == %p -> %m := 1", "%m in {0}, %b in {1}, %p in {2} -> %m := 2")
    inputs = [[0, 1, 1, 3], [2, 2, 1], [3]]
    want = interp_sparse.run(module, inputs, max_layers=2).outputs
    assert want == [[1, 1, 2, 1], [0, 0, 2], [0]]
    ir2_passes = passes.DEFAULT_PIPELINE.split(",", 1)[1]
    model = alta.compile(module, pipeline=ir2_passes, max_layers=2, strict=True)
    assert model(inputs, allow_unhalted=True) == want
