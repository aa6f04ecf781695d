"""The optimisation passes: properties over random programs (text goldens: tests/passes/goldens/)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import strategies
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import alta
from alta import lang as pb
from alta.interp import sparse as sparse_interpreter
from alta.ir import sparse
from alta.passes import canonicalize, dce, minimize_rules, prune_values
from alta.passes import lower_sparse_to_dense as to_dense
from alta.passes import lower_symbolic_to_sparse as to_sparse
from alta.programs import parity

CANON = canonicalize.CanonicalizePass()
MINIMIZE = minimize_rules.MinimizeRulesPass()
PRUNE = prune_values.PruneValuesPass()
DCE = dce.DeadCodeEliminationPass()
SPARSE_PASSES = [CANON, MINIMIZE, PRUNE, DCE]


def _parity_full_product() -> Any:
    """Parity's rules as MLPBuilder writes them over all four variables (6 rules), over the
    library's variables and heads (its own rules condition on fewer)."""
    variables, heads = parity.relative_parts()
    mlp = pb.MLPBuilder(variables, heads)
    for done, done_left, own, left in mlp.get("done", "done_left", "parity", "parity_left"):
        if done != 1 and done_left == 1:
            mlp.set("parity", own ^ left)
            mlp.set("done", 1)
    return pb.program_spec_from_rules(
        variables, heads, mlp.rules, "parity", 3, halt=pb.halt_spec("done", 1), name="parity"
    )


def _tiny() -> Any:
    variables = {
        "x": pb.input_var(4, init_fn=lambda t: 2 * t),
        "y": pb.var(3),
        "unused": pb.var(2),
    }

    def ffn(z: Any) -> None:
        if z["x"] == 2:
            z["y"] = 1
            z["unused"] = 1

    return pb.program_spec(variables, {}, ffn, "y", 2, name="tiny")


# The text goldens of these passes are in tests/passes/goldens/ (test_pass_goldens.py):
# canonicalize and minimize-rules on parity's full-product rules, prune-values and dce on
# `_tiny`.


def test_prune_values_and_dce_narrow_the_model() -> None:
    module = CANON.run(to_sparse.lower(_tiny()))
    pruned = DCE.run(PRUNE.run(module))
    assert list(PRUNE.run(module).variables) == ["x", "y", "unused"]  # dce removes it
    assert list(pruned.variables) == ["x", "y"]
    assert list(DCE.run(module).variables) == ["x", "y"]
    assert to_dense.lower(module).d_model == 4 + 3 + 2
    assert to_dense.lower(pruned).d_model == 2 + 2


def test_dataset_minimisation_keeps_only_fired_rules() -> None:
    module = CANON.run(MINIMIZE.run(to_sparse.lower(_parity_full_product())))
    # On all-zero bits parity never changes: neither parity rule fires, only `done`'s.
    zeros = [[2, 0, 0, 0], [2, 0]]
    reduced = minimize_rules.MinimizeRulesPass(inputs=zeros).run(module)
    assert [r.var for r in reduced.rules] == ["done"]
    assert sparse_interpreter.run(reduced, zeros).outputs == alta.interpret(
        parity.build_sequential_relative(), zeros
    )
    stats = minimize_rules.MinimizeRulesPass(inputs=zeros).statistics(module, reduced)
    assert any("coverage" in line for line in stats)


# ----------------------------------------------------------------------------- properties


def _lowered(program: Any) -> sparse.Module:
    return CANON.run(to_sparse.lower(program))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fuzz_passes_keep_outputs_and_never_grow(data: st.DataObject) -> None:
    program = data.draw(strategies.programs(), label="program")
    seqs = data.draw(st.lists(strategies.inputs(program), min_size=1, max_size=4))
    max_layers = data.draw(st.integers(1, 5))
    kept, _ = strategies.expected(program, seqs, max_layers)
    assume(kept)
    module = _lowered(program)
    batch = [seq for seq, _ in kept]
    for p in SPARSE_PASSES:
        after = p.run(module)
        got = sparse_interpreter.run(after, batch, max_layers).outputs
        for (seq, want), out in zip(kept, got, strict=True):
            assert strategies.outputs_agree(program, out, want), (p.name, seq, out, want)
        assert len(after.rules) <= len(module.rules), p.name
        assert to_dense.lower(after).d_model <= to_dense.lower(module).d_model, p.name
        assert p.run(after) is after, f"{p.name} is not idempotent"
        module = after


def test_pass_returns_same_object_when_nothing_changes() -> None:
    module = _lowered(parity.build_sequential_relative())
    minimal = CANON.run(MINIMIZE.run(module))
    for p in SPARSE_PASSES:
        once = p.run(minimal)
        assert p.run(once) is once


def test_printed_ir_is_identical_under_any_hash_seed() -> None:
    script = textwrap.dedent("""
        import alta
        from alta import programs
        for name in ["parity_sequential_relative", "sort_unique", "addition_rules"]:
            model = alta.compile(programs.get(name).build())
            print(model.sparse_ir)
            print(model.ir)
    """)
    texts = []
    for seed in ("0", "12345"):
        env = {"PYTHONHASHSEED": seed, "PATH": ""}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        texts.append(out.stdout)
    assert texts[0] == texts[1]
    assert "alta.dense @" in texts[0]
