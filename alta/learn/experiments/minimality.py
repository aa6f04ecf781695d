"""Claim (c): a program minimal for the training set is what trace supervision learns.

Per program and seed: the rules (as lowered, unmerged) fired by the training and by the
test inputs, the MLP-input values seen only on test inputs, and the rule counts of the
program as written, as compiled, and minimal for the training set. Then trace
supervision with the full and with the minimal compiled model, and the minimal compiled
model itself, on the test inputs. Prediction: where test inputs fire rules no training
input fires, the minimal program fails, and so does trace supervision of either.
Addition runs twice: with few training inputs (rules left unfired) and with many.
"""

from __future__ import annotations

import time
from typing import Any

from alta import programs
from alta.learn.experiments import Experiment, common, parity
from alta.learn.experiments import addition as addition_exp
from alta.learn.sweep import Job


def coverage_run(setting: str, case_name: str, split: common.Split, seed: int) -> dict[str, Any]:
    """Rule coverage of train vs test and the rule counts (no training)."""
    from alta.learn import coverage

    start = time.perf_counter()
    case = programs.get(case_name)
    program = case.build()
    train, test = split.draw(case_name, seed)
    train_rows = [list(ex.tokens) for ex in train]
    test_rows = [list(ex.tokens) for ex in test]
    cov = coverage.coverage(program, train_rows, test_rows, case.max_layers)
    minimal = coverage.minimal_program(program, train_rows, case.max_layers)
    counts = coverage.rule_counts(program, minimal)
    summary = cov.as_dict()
    return {
        "setting": setting,
        "seed": seed,
        "train_accuracy": None,  # nothing is trained: the table shows '–'
        "test_accuracy": None,
        "by_length": {},
        "rules_unmerged": counts["unmerged"],
        "rules_full": counts["full"],
        "rules_minimal": counts["minimal"],
        "fired_train": summary["fired_train"],
        "fired_test": summary["fired_test"],
        "test_only_rules": summary["test_only"],
        "test_only_values": sum(len(v) for v in summary["test_only_values"].values()),
        "coverage": summary,
        "seconds": time.perf_counter() - start,
    }


def _cases(quick: bool) -> list[tuple[str, str, common.Split, dict[str, Any]]]:
    per = 16 if quick else 64
    par = common.Split(parity.TRAIN, parity.TEST, per, 8 if quick else 32)
    mlp = parity.mlp_config(quick)
    add_mlp = addition_exp.mlp_config(quick)
    test = 10 if quick else 50
    few = common.Split(addition_exp.TRAIN, addition_exp.TEST, 10, test)
    many = common.Split(addition_exp.TRAIN, addition_exp.TEST, 100 if quick else 400, test)
    return [
        *((short, case, par, mlp) for short, (case, _) in parity.PROGRAMS.items()),
        ("addition-few", "addition", few, add_mlp),
        ("addition-many", "addition", many, add_mlp),
    ]


def settings(quick: bool) -> list[tuple[Any, dict[str, Any]]]:
    out: list[tuple[Any, dict[str, Any]]] = []
    for short, case_name, split, mlp in _cases(quick):
        base = {"case_name": case_name, "split": split}
        out.append((coverage_run, {**base, "setting": f"{short}/coverage"}))
        for minimal in (False, True):
            name = f"{short}/trace/{'minimal' if minimal else 'full'}"
            out.append(
                (common.trace_run, {**base, "setting": name, "mlp": mlp, "minimal": minimal})
            )
    return out


def jobs(quick: bool, seeds: int) -> list[Job]:
    return common.jobs(settings(quick), seeds)


EXPERIMENT = Experiment(
    name="minimality",
    claim=(
        "(c) a program minimal for the training set is a stable target of trace supervision; "
        "rules fired only by test inputs predict failure"
    ),
    jobs=jobs,
    train_lengths=(1, 20),
    buckets=((1, 5), (6, 12), (21, 30), (31, 48)),
)
