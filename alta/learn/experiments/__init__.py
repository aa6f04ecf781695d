"""`alta experiment NAME`: one command per claim of the paper's learnability section.

Each experiment module defines an `Experiment`: its settings at two sizes (`quick`, which
fits a 2-core CPU in minutes, and full), turned into one sweep job per (setting, seed).
`run` sends the jobs through `alta.learn.sweep` (a process pool, or Ray) and hands the
rows to `alta.learn.report`, which writes JSON, a markdown table and PNG plots.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from alta.errors import UsageError
from alta.learn import sweep

#: Experiment name -> module that defines `EXPERIMENT`.
_MODULES = {
    "parity": "alta.learn.experiments.parity",
    "addition": "alta.learn.experiments.addition",
    "minimality": "alta.learn.experiments.minimality",
    "scan-length": "alta.learn.experiments.scan_length",
}


@attrs.frozen(kw_only=True)
class Experiment:
    """`jobs(quick, seeds)` builds the sweep; `buckets` are the test-length ranges the
    table reports; `train_lengths` marks the trained range on the plots."""

    name: str
    claim: str
    jobs: Callable[[bool, int], list[sweep.Job]]
    train_lengths: tuple[int, int]
    buckets: tuple[tuple[int, int], ...]
    columns: tuple[str, ...] = ()


def names() -> list[str]:
    return sorted(_MODULES)


def get(name: str) -> Experiment:
    if name not in _MODULES:
        raise UsageError(f"unknown experiment '{name}'; known: {', '.join(names())}")
    experiment: Experiment = importlib.import_module(_MODULES[name]).EXPERIMENT
    return experiment


def run(
    name: str,
    *,
    seeds: int = 5,
    quick: bool = False,
    out: str | Path = "experiment-results",
    workers: int | None = None,
    ray_address: str | None = None,
    experiment: Experiment | None = None,
) -> dict[str, Path]:
    """Run experiment `name` and write its results under `out`; returns the files."""
    from alta.learn import report

    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    experiment = experiment or get(name)
    folder = report.prepare(Path(out))  # before the jobs: no work is lost to a bad --out
    jobs = experiment.jobs(quick, seeds)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = sweep.run(jobs, workers=workers, ray_address=ray_address)
    meta = {
        "experiment": experiment.name,
        "claim": experiment.claim,
        "quick": quick,
        "seeds": seeds,
        "jobs": len(jobs),
        "workers": workers,
        "ray_address": ray_address,
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": sum(r.get("seconds", 0.0) for r in rows),
    }
    stem = f"{experiment.name}-quick" if quick else experiment.name
    return report.write(folder, stem, experiment, rows, meta)
