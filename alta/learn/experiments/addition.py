"""Claim (d): addition learned from traces, tested on more digits than trained.

The addition program has no positional embeddings (relative heads and pointer
dereferencing), so its compiled attention works at any length; whether the learned MLP
does depends on whether the training traces cover its rules (see `minimality`).
"""

from __future__ import annotations

from typing import Any

from alta.learn.experiments import Experiment, common
from alta.learn.sweep import Job

CASE = "addition"
TRAIN = (1, 2, 3, 4, 5)
TEST = (6, 7, 8, 10, 12)


def mlp_config(quick: bool) -> dict[str, Any]:
    """Wider and longer than parity's: the addition MLP has ~230 rules to learn (the quick
    size is far too short to learn them; it checks the pipeline and the coverage)."""
    steps = 2000 if quick else 40_000
    return {
        "hidden": (256, 256),
        "noise_std": 0.1,
        "schedule": {"lr": 1e-2, "warmup_steps": 200, "steps": steps},
    }


def settings(quick: bool) -> list[tuple[Any, dict[str, Any]]]:
    split = common.Split(TRAIN, TEST, 100 if quick else 400, 10 if quick else 50)
    return [
        (
            common.trace_run,
            {
                "case_name": CASE,
                "split": split,
                "setting": "addition/trace/ut",
                "mlp": mlp_config(quick),
            },
        )
    ]


def jobs(quick: bool, seeds: int) -> list[Job]:
    return common.jobs(settings(quick), seeds)


EXPERIMENT = Experiment(
    name="addition",
    claim="(d) addition can be learned from traces and generalises to more digits",
    jobs=jobs,
    train_lengths=(min(TRAIN), max(TRAIN)),
    buckets=((1, 5), (6, 8), (9, 12)),
)
