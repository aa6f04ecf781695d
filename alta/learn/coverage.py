"""Rule coverage: which rules the training inputs fire, which only the test inputs fire.

A rule is learnable from traces only if some training input fires it (reference notes,
§4.3); a program minimal with respect to the training set (every rule fired by some
training input) is the paper's condition for a stable trace-supervised solution. So the
rules fired only by test inputs predict where trace supervision cannot generalise.

Coverage is measured on the rules as lowered (`UNMERGED`), before `minimize-rules`
merges them: merging folds the rule of a never-seen bucket into one of a seen bucket
(sum-mod-2 has one rule per count before, two after), which would hide exactly what
this analysis looks for. Rules that never read a variable cannot see its new values,
so the MLP-input values seen only on test inputs (a position index past the trained
lengths, say) are reported too: the trained MLP never saw those input dims either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from alta import compiler, passes
from alta.errors import LearnError
from alta.interp import sparse as interp_sparse
from alta.interp import state as st
from alta.ir import printer, symbolic
from alta.model import CompiledModel
from alta.passes.minimize_rules import MinimizeRulesPass
from alta.traces import extract

#: The rules as lowered, unmerged (the program the coverage analysis reads).
UNMERGED = "lower-symbolic-to-sparse,canonicalize,lower-sparse-to-dense"
#: The optimising passes after the lowering, one-hot (no `choose-encodings`: learned MLPs
#: read one-hot inputs, as the paper's do), without the default pipeline's
#: `fold-equalities` and `merge-equal-variables`, which `rule_counts`' full program
#: (`ONE_HOT_PIPELINE`) runs: the two agree on programs without copied variables or
#: enumerated equalities. `minimal_program` puts the data-driven `minimize-rules` in
#: front of it.
_REST = (
    "canonicalize,fixpoint(minimize-rules,prune-values),dce,canonicalize,"
    "lower-sparse-to-dense,prune-mlp-units"
)

Inputs = Sequence[Sequence[int]]


@attrs.frozen
class Coverage:
    """Rules (by index into `rules`, their IR2 text) fired by the training and the test
    inputs, and the (variable, value) pairs the MLP read on each."""

    program: str
    rules: tuple[str, ...]
    train: frozenset[int]
    test: frozenset[int]
    values_train: frozenset[tuple[str, Any]]
    values_test: frozenset[tuple[str, Any]]

    @property
    def test_only(self) -> frozenset[int]:
        """Rules that some test input fires and no training input does."""
        return self.test - self.train

    @property
    def test_only_values(self) -> frozenset[tuple[str, Any]]:
        return self.values_test - self.values_train

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts, the test-only rules' text and the test-only values."""
        return {
            "program": self.program,
            "rules": len(self.rules),
            "fired_train": len(self.train),
            "fired_test": len(self.test),
            "test_only": len(self.test_only),
            "test_only_rules": [self.rules[i] for i in sorted(self.test_only)],
            "test_only_values": _value_summary(self.test_only_values),
        }


def unmerged(program: symbolic.Program) -> CompiledModel:
    """`program` compiled with its rules as lowered (no merging), on numpy."""
    return compiler.compile(program, pipeline=UNMERGED)


def coverage(
    program: symbolic.Program,
    train: Inputs,
    test: Inputs,
    max_layers: int | None = None,
    *,
    model: CompiledModel | None = None,
) -> Coverage:
    """The coverage of `model`'s IR2 rules (default: `unmerged(program)`) on `train` vs
    `test`, each run by the sparse interpreter for at most `max_layers` layers."""
    model = model if model is not None else unmerged(program)
    module = model.sparse_ir
    if module is None:
        raise LearnError(f"the model of '{program.name}' does not keep its IR2 rules")
    return Coverage(
        program=program.name,
        rules=tuple(printer.rule_text(i, rule) for i, rule in enumerate(module.rules)),
        train=_fired(module, train, max_layers),
        test=_fired(module, test, max_layers),
        values_train=mlp_values(program, train, max_layers, model),
        values_test=mlp_values(program, test, max_layers, model),
    )


def _fired(module: Any, inputs: Inputs, max_layers: int | None) -> frozenset[int]:
    if not inputs:
        return frozenset()
    return interp_sparse.run(module, [list(x) for x in inputs], max_layers).fired


def mlp_values(
    program: symbolic.Program, inputs: Inputs, max_layers: int | None, model: CompiledModel
) -> frozenset[tuple[str, Any]]:
    """Every (variable, value) the MLP read on `inputs` (None left out)."""
    if not inputs:
        return frozenset()
    t = extract.trace(program, [list(x) for x in inputs], max_layers, model=model, noise=None)
    seen: set[tuple[str, Any]] = set()
    for name, var in t.variables.items():
        for raw in np.unique(t.values_in[name]):
            value = st.decode(var, raw)
            if value is not None:
                seen.add((name, value))
    return frozenset(seen)


def _value_summary(values: frozenset[tuple[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, value in values:
        out.setdefault(name, []).append(value)
    return {name: sorted(vs, key=repr) for name, vs in sorted(out.items())}


def minimal_pipeline(train: Inputs, max_layers: int | None = None) -> str:
    """The default pipeline with a data-driven `minimize-rules` (on `train`) run on the
    unmerged rules, before any merging could hide an unfired rule inside a fired one."""
    first = passes.parse("lower-symbolic-to-sparse")
    data = MinimizeRulesPass(inputs=[tuple(x) for x in train], max_layers=max_layers)
    return f"{passes.print_pipeline([*first, data])},{_REST}"


def minimal_program(
    program: symbolic.Program, train: Inputs, max_layers: int | None = None, **compile_kw: Any
) -> CompiledModel:
    """`program` compiled minimal with respect to `train`: every rule it keeps is fired
    by some training input (the paper's condition for stable trace supervision)."""
    if not train:
        raise LearnError(f"minimal_program('{program.name}'): the training set is empty")
    return compiler.compile(program, pipeline=minimal_pipeline(train, max_layers), **compile_kw)


def rule_counts(program: symbolic.Program, minimal: CompiledModel) -> dict[str, int]:
    """Rules of the program as lowered, as the default pipeline compiles it, and minimal."""
    full = compiler.compile(program, pipeline=passes.ONE_HOT_PIPELINE)
    return {
        "unmerged": len(unmerged(program).sparse_ir.rules),  # type: ignore[union-attr]
        "full": len(full.sparse_ir.rules),  # type: ignore[union-attr]
        "minimal": len(minimal.sparse_ir.rules),  # type: ignore[union-attr]
    }
