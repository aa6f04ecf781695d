"""SCAN's length split: trace supervision of the SCAN program, and its rule coverage.

The paper's claim: a program minimal for the training set can be learned from its traces.
Each seed samples `Sample.train` commands from the length split's training side (outputs
of at most 22 actions) and `Sample.test` from its test side (24-48 actions); "length" in
the tables is the number of output actions. Trace supervision trains the MLP on the
traces of the training sample, for the full compiled program and for the program minimal
for that sample, and the learned model runs exactly the layers the interpreter needs on
each input (SCAN halts by itself; the depth varies from 8 to 88 layers per command).
Coverage compares the rules (as lowered, unmerged) the two samples fire, and, once, the
rules the whole training side and the whole test side fire.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from alta import compiler, passes, programs
from alta.data import scan as scan_data
from alta.learn.experiments import Experiment, common
from alta.learn.sweep import Job
from alta.programs import scan_task

CASE = "scan"
#: Test-only rules whose IR2 text a row keeps (the counts are always complete).
SHOWN_RULES = 5
#: Commands per sparse-interpreter batch when covering a whole side of the split.
BATCH = 500

Commands = Sequence[scan_data.Command]


@attrs.frozen
class Sample:
    """How many commands to draw (without replacement) from each side of the split."""

    train: int
    test: int

    def draw(self, seed: int) -> tuple[list[scan_data.Command], list[scan_data.Command]]:
        """The training sample from `seed`, the test sample from `seed + TEST_SEED`."""
        split = scan_data.split("length")
        return _pick(split.train, self.train, seed), _pick(
            split.test, self.test, seed + common.TEST_SEED
        )


def _pick(pool: Commands, n: int, seed: int) -> list[scan_data.Command]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return [pool[int(k)] for k in sorted(chosen)]


def _rows(commands: Commands) -> list[list[int]]:
    return [scan_task.encode(c.text) for c in commands]


def depths(program: Any, commands: Commands) -> list[int]:
    """The layers the interpreter runs on each command (it halts by itself)."""
    from alta import interp

    return [int(n) for n in interp.run(program, _rows(commands)).layers]


def accuracy(
    commands: Commands, layers: Sequence[int], predict: Callable[[list[list[int]], int], Any]
) -> dict[str, Any]:
    """Exact-match accuracy overall and per output length; `predict(rows, depth)` runs a
    batch whose commands all need `depth` layers."""
    groups: dict[int, list[int]] = defaultdict(list)
    for k, depth in enumerate(layers):
        groups[depth].append(k)
    right = [False] * len(commands)
    for depth, ks in sorted(groups.items()):
        outputs = predict(_rows([commands[k] for k in ks]), depth)
        for k, out in zip(ks, outputs, strict=True):
            right[k] = scan_task.decode(out) == commands[k].actions
    by_length: dict[int, list[bool]] = defaultdict(list)
    for c, ok in zip(commands, right, strict=True):
        by_length[len(c.actions)].append(ok)
    return {
        "accuracy": sum(right) / max(1, len(commands)),
        "by_length": {str(n): float(np.mean(v)) for n, v in sorted(by_length.items())},
    }


def trace_run(
    setting: str, sample: Sample, mlp: dict[str, Any], seed: int, *, minimal: bool = False
) -> dict[str, Any]:
    """Trace supervision on the training sample's traces (of the full compiled program,
    or of the one minimal for the sample), judged on both samples; also the compiled
    model's own test accuracy (the minimal one may lack rules a test input needs)."""
    from alta.learn import coverage, optim, plugged, trace_mlp
    from alta.traces import trace

    start = time.perf_counter()
    program = programs.get(CASE).build()
    train, test = sample.draw(seed)
    if minimal:
        model = coverage.minimal_program(program, _rows(train))
    else:
        model = compiler.compile(program, pipeline=passes.ONE_HOT_PIPELINE)
    traces = trace(program, _rows(train), None, model=model)
    records = len(traces)
    config = trace_mlp.MLPConfig(**{**mlp, "schedule": optim.Schedule(**mlp.get("schedule", {}))})
    trained = trace_mlp.train_mlp(traces, config, seed=seed)
    step_train = step_exactness(traces, trained)
    del traces
    step_test = np.mean(
        [
            step_exactness(trace(program, _rows(test[i : i + 10]), None, model=model), trained)
            for i in range(0, len(test), 10)
        ]
    )
    learned = plugged.PluggedModel(model, trained)
    train_layers, test_layers = depths(program, train), depths(program, test)

    def predict(batch: list[list[int]], layers: int) -> list[Any]:
        return learned(batch, max_layers=layers)

    def compiled(batch: list[list[int]], layers: int) -> list[Any]:
        return common._lenient(model, batch, layers)

    return common.row(
        setting,
        seed,
        accuracy(train, train_layers, predict),
        accuracy(test, test_layers, predict),
        history=trained.history,
        records=records,
        step_train=step_train,
        step_test=float(step_test),
        d_model=model.ir.d_model,
        compiled_test_accuracy=accuracy(test, test_layers, compiled)["accuracy"],
        seconds=time.perf_counter() - start,
    )


def step_exactness(traces: Any, trained: Any) -> float:
    """The share of records on which one learned MLP step, from the exact input, decodes
    to the right value in every variable: a one-step check that needs no rollout."""
    import torch

    from alta.ir import dense

    with torch.inference_mode():
        got = trained.apply(torch.from_numpy(traces.vector_in)).numpy()
    ok = np.ones(len(got), dtype=bool)
    for slot in (s for s in traces.layout if s.width):
        want, have = dense.decode(slot, traces.vector_out), dense.decode(slot, got)
        if want.dtype.kind == "f":  # numerical: near enough (SCAN has none)
            ok &= np.isclose(want, have, atol=0.1, equal_nan=True)
        else:
            ok &= want == have
    return float(ok.mean())


def fired(module: Any, rows: Sequence[Sequence[int]], batch: int = BATCH) -> frozenset[int]:
    """The rules of `module` that some input fires, run in batches (bounded memory)."""
    from alta.interp import sparse as interp_sparse

    out: set[int] = set()
    for i in range(0, len(rows), batch):
        chunk = [list(r) for r in rows[i : i + batch]]
        out |= interp_sparse.run(module, chunk, None).fired
    return frozenset(out)


def coverage_run(setting: str, sample: Sample | None, seed: int) -> dict[str, Any]:
    """Rules fired by the training vs the test commands (no training): the two samples of
    `seed`, or with `sample=None` the whole training and test sides of the split (rules
    only: the MLP-input values of 20,910 traces would not fit in memory)."""
    from alta.learn import coverage

    start = time.perf_counter()
    program = programs.get(CASE).build()
    model = coverage.unmerged(program)
    rules = tuple(str(r) for r in model.sparse_ir.rules)  # type: ignore[union-attr]
    extra: dict[str, Any] = {}
    if sample is None:
        split = scan_data.split("length")
        train_set = fired(model.sparse_ir, _rows(split.train))
        test_set = fired(model.sparse_ir, _rows(split.test))
        commands = (len(split.train), len(split.test))
    else:
        train, test = sample.draw(seed)
        cov = coverage.coverage(program, _rows(train), _rows(test), model=model)
        train_set, test_set = cov.train, cov.test
        commands = (len(train), len(test))
        minimal = coverage.minimal_program(program, _rows(train))
        counts = coverage.rule_counts(program, minimal)
        extra = {
            "rules_full": counts["full"],
            "rules_minimal": counts["minimal"],
            "test_only_values": sum(len(v) for v in cov.as_dict()["test_only_values"].values()),
        }
    test_only = sorted(test_set - train_set)
    return {
        "setting": setting,
        "seed": seed,
        "train_accuracy": None,  # nothing is trained: the table shows '–'
        "test_accuracy": None,
        "by_length": {},
        "commands_train": commands[0],
        "commands_test": commands[1],
        "rules_unmerged": len(rules),
        "fired_train": len(train_set),
        "fired_test": len(test_set),
        "test_only_rules": len(test_only),
        **extra,
        "rules_train": sorted(train_set),
        "rules_test": sorted(test_set),
        "test_only_text": [rules[i] for i in test_only[:SHOWN_RULES]],
        "seconds": time.perf_counter() - start,
    }


@attrs.frozen
class Size:
    """One size of the experiment: the samples, the MLP, and whether to cover the whole
    split (one job: it does not depend on the seed)."""

    sample: Sample
    mlp: dict[str, Any]
    cover_all: bool = True


def size(quick: bool) -> Size:
    """Quick fits a 2-core CPU (about 2 min and 1.1 GB a job; covering the whole split
    takes ~20 CPU-minutes more, so only the full size does); full is a GPU-sized run
    (~6 GB of traces a job)."""
    steps, hidden = (2000, (512, 512)) if quick else (30_000, (1024, 1024))
    schedule = {"lr": 1e-2, "warmup_steps": 100, "steps": steps}
    mlp = {"hidden": hidden, "noise_std": 0.1, "undefined_noise": None, "schedule": schedule}
    if quick:
        return Size(Sample(30, 40), mlp, cover_all=False)
    return Size(Sample(400, 400), mlp)


def build_jobs(spec: Size, seeds: int) -> list[Job]:
    """Coverage and trace supervision (full, minimal) per seed; the whole-split coverage
    once."""
    base = {"sample": spec.sample}
    settings: list[tuple[Any, dict[str, Any]]] = [
        (coverage_run, {**base, "setting": "coverage/sample"}),
        (trace_run, {**base, "setting": "trace/full", "mlp": spec.mlp}),
        (trace_run, {**base, "setting": "trace/minimal", "mlp": spec.mlp, "minimal": True}),
    ]
    out = common.jobs(settings, seeds)
    if spec.cover_all:
        kwargs = {"setting": "coverage/all", "sample": None, "seed": 0}
        out.insert(0, Job(coverage_run, kwargs, name="coverage/all"))
    return out


def jobs(quick: bool, seeds: int) -> list[Job]:
    return build_jobs(size(quick), seeds)


EXPERIMENT = Experiment(
    name="scan-length",
    claim=(
        "a program minimal for the training set can be learned from its traces: trace "
        "supervision on SCAN's length split (train <= 22 actions, test 24-48), with the "
        "rules fired by train vs test"
    ),
    jobs=jobs,
    train_lengths=(1, scan_data.LENGTH_CUTOFF),
    buckets=((1, 22), (24, 30), (31, 40), (41, 48)),
)
