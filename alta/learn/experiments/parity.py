"""Claims (a) and (b): parity, three programs, trace vs end-to-end supervision.

Trace supervision trains the MLP of the compiled Universal Transformer from the traces of
the training inputs (lengths 1-20). End-to-end training fits a Universal and a standard
Transformer shaped like the compiled model (widened to at least `MIN_WIDTH`: the
relative program's d_model of 8 is too narrow to train from scratch) on the answers
only. All are tested on lengths 21-48 (the absolute and sum-mod-2 programs are built for
inputs of at most 50 tokens).
"""

from __future__ import annotations

from typing import Any

from alta.learn.experiments import Experiment, common
from alta.learn.sweep import Job

PROGRAMS = {
    "absolute": ("parity_sequential_absolute", "absolute"),
    "relative": ("parity_sequential_relative", "relative"),
    "sum_mod_2": ("parity_sum_mod_2", "relative"),
}
TRAIN = tuple(range(1, 21))
TEST = tuple(range(21, 49))
MIN_WIDTH = 64


def mlp_config(quick: bool) -> dict[str, Any]:
    """The trace-supervised MLP: the paper's defaults, with a little input noise (so
    that small errors do not compound over 20-48 layers) and far fewer steps."""
    steps = 1500 if quick else 10_000
    return {"noise_std": 0.1, "schedule": {"lr": 1e-2, "warmup_steps": 100, "steps": steps}}


def e2e_config(quick: bool) -> dict[str, Any]:
    steps = 200 if quick else 3000
    return {"schedule": {"lr": 1e-3, "warmup_steps": 50, "steps": steps}}


def settings(quick: bool) -> list[tuple[Any, dict[str, Any]]]:
    split = common.Split(TRAIN, TEST, 16 if quick else 64, 8 if quick else 32)
    ut_layers = 8 if quick else max(TRAIN) + 1
    out: list[tuple[Any, dict[str, Any]]] = []
    for short, (case_name, positions) in PROGRAMS.items():
        base = {"case_name": case_name, "split": split}
        out.append(
            (common.trace_run, {**base, "setting": f"{short}/trace/ut", "mlp": mlp_config(quick)})
        )
        for kind, universal, layers in (("ut", True, ut_layers), ("std", False, 4)):
            model = {
                "universal": universal,
                "layers": layers,
                "positions": positions,
                "min_width": MIN_WIDTH,
            }
            kwargs = {**base, "model": model, "train_config": e2e_config(quick)}
            out.append((common.end_to_end_run, {**kwargs, "setting": f"{short}/e2e/{kind}"}))
    return out


def jobs(quick: bool, seeds: int) -> list[Job]:
    return common.jobs(settings(quick), seeds)


EXPERIMENT = Experiment(
    name="parity",
    claim=(
        "(a) end-to-end training prefers layer-cheap shortcuts, trace supervision learns the "
        "sequential algorithm; (b) only the relative program generalises past the trained "
        "lengths"
    ),
    jobs=jobs,
    train_lengths=(min(TRAIN), max(TRAIN)),
    buckets=((1, 20), (21, 25), (26, 30), (31, 35), (36, 40), (41, 48)),
)
