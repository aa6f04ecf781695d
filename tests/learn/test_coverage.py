"""Rule coverage and the data-minimal program (claim (c) of the learnability issue)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from alta import interpret, programs
from alta.errors import LearnError
from alta.interp import sparse as interp_sparse
from alta.learn import coverage, data, optim


def _rows(case: str, lengths: range, seed: int) -> list[list[int]]:
    return [list(ex.tokens) for ex in data.inputs(case, lengths, 8, seed)]


def test_sum_mod_2_test_only_rules_are_fired_by_test_and_not_train() -> None:
    case = programs.get("parity_sum_mod_2")
    train, test = _rows(case.name, range(1, 6), 0), _rows(case.name, range(6, 9), 1)
    cov = coverage.coverage(case.build(), train, test, case.max_layers)
    module = coverage.unmerged(case.build()).sparse_ir
    assert module is not None
    fired_train = interp_sparse.run(module, train, 1).fired
    fired_test = interp_sparse.run(module, test, 1).fired
    assert cov.test_only == fired_test - fired_train
    assert cov.test_only  # more ones than any training input holds: unseen buckets
    assert cov.as_dict()["test_only_rules"] == [cov.rules[i] for i in sorted(cov.test_only)]
    # Each rule as its IR2 line, as `alta opt` prints it (not a Python repr).
    printed = str(module)
    assert all(text.startswith(f"rule #{i} : ") for i, text in enumerate(cov.rules))
    assert all(text in printed for text in cov.rules)


def test_absolute_positions_are_test_only_values_and_relative_has_none() -> None:
    absolute = programs.get("parity_sequential_absolute")
    cov = coverage.coverage(
        absolute.build(), _rows(absolute.name, range(1, 6), 0), _rows(absolute.name, range(6, 9), 1)
    )
    # Its rules never read the position, so no rule is test-only, but the MLP sees new
    # position values it was never trained on.
    assert not cov.test_only
    assert ("idx", 7) in cov.test_only_values
    relative = programs.get("parity_sequential_relative")
    cov = coverage.coverage(
        relative.build(), _rows(relative.name, range(1, 6), 0), _rows(relative.name, range(6, 9), 1)
    )
    assert not cov.test_only and not cov.test_only_values


def test_minimal_program_fires_only_training_rules_and_agrees_on_train() -> None:
    case = programs.get("parity_sum_mod_2")
    program = case.build()
    train = _rows(case.name, range(1, 6), 0)
    minimal = coverage.minimal_program(program, train, case.max_layers)
    counts = coverage.rule_counts(program, minimal)
    assert counts["minimal"] <= counts["full"] <= counts["unmerged"]
    assert minimal.sparse_ir is not None
    fired = interp_sparse.run(minimal.sparse_ir, train, 1).fired
    assert fired == frozenset(range(len(minimal.sparse_ir.rules)))
    assert minimal(train, max_layers=1) == interpret(program, train, max_layers=1)
    # A test input with more ones than any training input needs a rule it dropped.
    assert minimal([[1] * 7 + [2]], max_layers=1) != interpret(
        program, [[1] * 7 + [2]], max_layers=1
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.inputs("scan", [2], 3, 0), "no length-controlled input maker"),
        (lambda: data.inputs("parity_sum_mod_2", [-1], 3, 0), "lengths are ints >= 0, got -1"),
        (lambda: data.inputs("parity_sum_mod_2", [2], 0, 0), "per_length must be at least 1"),
        (
            lambda: coverage.minimal_program(programs.get("parity_sum_mod_2").build(), []),
            "the training set is empty",
        ),
        (
            lambda: optim.make_optimizer([], "sgd", optim.Schedule()),  # type: ignore[arg-type]
            "unknown optimizer 'sgd'",
        ),
    ],
)
def test_bad_arguments_are_learn_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    """They were plain ValueErrors (numpy's "negative dimensions" for a length of -1)."""
    with pytest.raises(LearnError, match=message):
        call()


def test_numpy_lengths_are_the_lengths_they_hold() -> None:
    made = data.inputs("parity_sum_mod_2", np.arange(2, 4), 3, 0)
    assert made == data.inputs("parity_sum_mod_2", [2, 3], 3, 0)
    assert {x.length for x in made} == {2, 3}
