"""The two kinds of run every experiment is made of, as picklable sweep jobs.

A job returns one row: the setting's name, the seed, task accuracy on the training and
test inputs (overall and per task length), the loss history, and the seconds it took.
Data are drawn per seed (`alta.learn.data.inputs`): the training set from `seed`, the
test set from `seed + TEST_SEED`, so seeds vary the data as well as the initialisation.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import attrs

from alta import compiler, passes, programs
from alta.learn import data
from alta.learn.sweep import Job

#: Offset of the test set's data seed from the run's seed.
TEST_SEED = 1000


def _ints(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@attrs.frozen
class Split:
    """Task lengths of the training and test inputs, and how many inputs per length."""

    train: tuple[int, ...] = attrs.field(converter=_ints)
    test: tuple[int, ...] = attrs.field(converter=_ints)
    train_per_length: int = 32
    test_per_length: int = 16

    def draw(self, case_name: str, seed: int) -> tuple[list[data.Example], list[data.Example]]:
        train = data.inputs(case_name, self.train, self.train_per_length, seed)
        test = data.inputs(case_name, self.test, self.test_per_length, seed + TEST_SEED)
        return train, test


def layers_for(case_name: str, tokens: Sequence[int], budget: int = 64) -> int:
    """The layers the program runs on `tokens` in the interpreter: the learned model gets
    exactly the depth the algorithm needs, so a learned MLP that fails to halt is judged
    on its answer after that depth, not on drift over extra layers."""
    case = programs.get(case_name)
    if case.max_layers is not None:
        return case.max_layers
    if case.layers is not None:
        return max(1, case.layers(list(tokens)))
    return budget


def accuracy_by_length(
    case_name: str, examples: Sequence[data.Example], predict: Any
) -> dict[str, Any]:
    """Task accuracy overall and per length; `predict(rows, max_layers)` gives the
    program outputs of a batch of one length (so one depth fits all of them)."""
    case = programs.get(case_name)
    groups: dict[int, list[data.Example]] = defaultdict(list)
    for ex in examples:
        groups[ex.length].append(ex)
    by_length: dict[str, float] = {}
    hits = 0
    for n, group in sorted(groups.items()):
        rows = [list(ex.tokens) for ex in group]
        outputs = predict(rows, max(layers_for(case_name, r) for r in rows))
        ok = sum(case.decode(out) == ex.answer for ex, out in zip(group, outputs, strict=True))
        by_length[str(n)] = ok / len(group)
        hits += ok
    return {"accuracy": hits / max(1, len(examples)), "by_length": by_length}


def row(
    setting: str, seed: int, train: dict[str, Any], test: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """One result row; `by_length` merges the training and the test lengths."""
    return {
        "setting": setting,
        "seed": seed,
        "train_accuracy": train["accuracy"],
        "test_accuracy": test["accuracy"],
        "by_length": {**train["by_length"], **test["by_length"]},
        **extra,
    }


def trace_run(
    setting: str,
    case_name: str,
    split: Split,
    mlp: dict[str, Any],
    seed: int,
    *,
    pipeline: str = passes.ONE_HOT_PIPELINE,
    minimal: bool = False,
) -> dict[str, Any]:
    """Trace supervision: trace the training inputs, train an MLP on them, plug it into
    the compiled model (the data-minimal one with `minimal=True`) and evaluate."""
    from alta.learn import coverage, optim, plugged, trace_mlp
    from alta.traces import trace

    start = time.perf_counter()
    case = programs.get(case_name)
    program = case.build()
    train, test = split.draw(case_name, seed)
    rows = [list(ex.tokens) for ex in train]
    if minimal:
        model = coverage.minimal_program(program, rows, case.max_layers)
    else:
        model = compiler.compile(program, pipeline=pipeline)
    traces = trace(program, rows, case.max_layers, model=model)
    schedule = optim.Schedule(**mlp.get("schedule", {}))
    config = trace_mlp.MLPConfig(**{**mlp, "schedule": schedule})
    trained = trace_mlp.train_mlp(traces, config, seed=seed)
    learned = plugged.PluggedModel(model, trained)

    def predict(batch: list[list[int]], layers: int) -> list[Any]:
        return learned(batch, max_layers=layers)

    def compiled(batch: list[list[int]], layers: int) -> list[Any]:
        return _lenient(model, batch, layers)

    return row(
        setting,
        seed,
        accuracy_by_length(case_name, train, predict),
        accuracy_by_length(case_name, test, predict),
        history=trained.history,
        records=len(traces),
        compiled_test_accuracy=accuracy_by_length(case_name, test, compiled)["accuracy"],
        seconds=time.perf_counter() - start,
    )


def _lenient(model: Any, batch: list[list[int]], layers: int) -> list[Any]:
    """The compiled model's outputs; a sequence it cannot finish (a data-minimal program
    lacks the rules a test input needs) counts as a wrong answer, not a crash."""
    from alta.errors import AltaError

    try:
        return list(model(batch, max_layers=layers))
    except AltaError:
        out: list[Any] = []
        for seq in batch:
            try:
                out.append(model(seq, max_layers=layers))
            except AltaError:
                out.append([None] * len(seq))
        return out


def end_to_end_run(
    setting: str,
    case_name: str,
    split: Split,
    model: dict[str, Any],
    train_config: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """End-to-end training of a Transformer shaped like the compiled model (`model`:
    `universal`, `layers`, `positions`, `min_width`) on input/answer pairs only."""
    from alta.learn import end_to_end, optim, transformer

    start = time.perf_counter()
    compiled = compiler.compile(programs.get(case_name).build(), pipeline=passes.ONE_HOT_PIPELINE)
    train, test = split.draw(case_name, seed)
    config = transformer.compiled_shape(
        compiled,
        universal=model["universal"],
        layers=model["layers"],
        outputs=end_to_end.answer_map(case_name).outputs,
        positions=model["positions"],
        max_length=max(len(ex.tokens) for ex in train + test) + 1,
    )
    if config.d_model < model.get("min_width", 0):
        config = transformer.wider(config, model["min_width"])
    schedule = optim.Schedule(**train_config.get("schedule", {}))
    settings = end_to_end.TrainConfig(**{**train_config, "schedule": schedule})
    trained = end_to_end.train_end_to_end(case_name, train, config, settings, seed=seed)
    return row(
        setting,
        seed,
        _e2e_accuracy(trained.accuracy(train)),
        _e2e_accuracy(trained.accuracy(test)),
        history=trained.history,
        d_model=config.d_model,
        seconds=time.perf_counter() - start,
    )


def _e2e_accuracy(result: dict[str, Any]) -> dict[str, Any]:
    by_length = {str(n): acc for n, acc in result["by_length"].items()}
    return {"accuracy": result["accuracy"], "by_length": by_length}


def jobs(settings: Sequence[tuple[Any, dict[str, Any]]], seeds: int) -> list[Job]:
    """One job per (setting, seed): `settings` holds (function, its keyword arguments)."""
    return [
        Job(fn, {**kwargs, "seed": seed}, name=f"{kwargs['setting']}/seed{seed}")
        for fn, kwargs in settings
        for seed in range(seeds)
    ]
