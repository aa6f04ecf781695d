"""How well a learned MLP, and the model it is plugged into, do.

Per vector (the paper's trace metrics, tolerance 0.1): a vector is right when every
element is within `tol` of the target; element accuracy counts elements. Per variable:
how often the predicted vector decodes to another value than the trace's. Per task: how
often the model's outputs decode to the reference answer, overall and per input length.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from alta import programs
from alta.errors import LearnError
from alta.ir import dense, sparse
from alta.learn import data
from alta.traces.trace import Trace

#: Sequences per model call in `evaluate`.
EVAL_BATCH = 256


def _close(pred: Any, target: Any, tol: float) -> np.ndarray:
    """[..., d] bool: elements within `tol`; torch tensors are accepted too."""
    p = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred, dtype=np.float64)
    t = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target, dtype=np.float64)
    if p.shape != t.shape:
        raise LearnError(f"predictions have shape {p.shape} but targets {t.shape}")
    if not tol >= 0:
        raise LearnError(f"tol must be >= 0, got {tol!r}")
    return np.abs(p - t) <= tol


def vector_accuracy(pred: Any, target: Any, tol: float = 0.1) -> float:
    """Fraction of vectors (rows of the last axis) whose every element is within `tol`;
    NaN when there are none."""
    close = _close(pred, target, tol)
    rows = close.reshape(-1, close.shape[-1]) if close.ndim else close.reshape(1, 1)
    return float(rows.all(axis=1).mean()) if len(rows) else float("nan")


def element_accuracy(pred: Any, target: Any, tol: float = 0.1) -> float:
    """Fraction of elements within `tol`; NaN when there are none."""
    close = _close(pred, target, tol)
    return float(close.mean()) if close.size else float("nan")


def decode_errors(trace: Trace, pred_out: np.ndarray, tol: float = 0.1) -> dict[str, float]:
    """Per variable of the compiled layout: the fraction of records where `pred_out`
    [records, d_model] decodes (`alta.ir.dense.decode`) to another value than the
    trace's MLP output. Categorical and set values must match exactly; a numerical one
    must be within `tol`, and defined exactly when the trace's is."""
    pred = np.asarray(pred_out, dtype=np.float64)
    if pred.shape != trace.vector_out.shape:
        raise LearnError(
            f"pred_out has shape {pred.shape} but the trace of '{trace.program}' has "
            f"{trace.vector_out.shape}"
        )
    out: dict[str, float] = {}
    for slot in trace.layout:
        if not slot.width:  # a folded constant: nothing to decode
            continue
        got, want = dense.decode(slot, pred), dense.decode(slot, trace.vector_out)
        if slot.kind == sparse.NUMERICAL:
            undefined = np.isnan(got) | np.isnan(want)
            wrong = np.where(undefined, np.isnan(got) != np.isnan(want), np.abs(got - want) > tol)
        else:
            wrong = got != want
        out[slot.var] = float(wrong.mean()) if len(wrong) else float("nan")
    return out


def task_accuracy(
    case_name: str, examples: Sequence[data.Example], outputs: Sequence[list[Any]]
) -> float:
    """Fraction of `examples` whose model outputs decode (the library case's `decode`)
    to the example's answer; NaN for no examples."""
    if len(examples) != len(outputs):
        raise LearnError(f"{len(examples)} examples but {len(outputs)} outputs")
    decode = programs.get(case_name).decode
    right = [_decodes_to(decode, out, ex.answer) for ex, out in zip(examples, outputs, strict=True)]
    return float(np.mean(right)) if right else float("nan")


def _decodes_to(decode: Callable[[list[Any]], Any], outputs: list[Any], answer: Any) -> bool:
    """A learned model may write None or values the decoder cannot read: that is wrong,
    not an error."""
    try:
        return bool(decode(outputs) == answer)
    except (TypeError, ValueError, KeyError, IndexError):
        return False


def evaluate(
    model: Callable[..., Any],
    case_name: str,
    examples: Sequence[data.Example],
    max_layers: int | None = None,
) -> dict[str, Any]:
    """Task accuracy of `model` (a `CompiledModel`, `PluggedModel` or anything called
    like them) on `examples`: {"accuracy", "count", "by_length": {length: accuracy}}.
    Examples run in batches of one length, so no batch pads much."""
    by_length: dict[int, list[data.Example]] = defaultdict(list)
    for ex in examples:
        by_length[ex.length].append(ex)
    kwargs = {} if max_layers is None else {"max_layers": max_layers}
    right: dict[int, list[bool]] = {}
    decode = programs.get(case_name).decode
    for length in sorted(by_length):
        group = by_length[length]
        right[length] = []
        for start in range(0, len(group), EVAL_BATCH):
            chunk = group[start : start + EVAL_BATCH]
            outputs = model([list(ex.tokens) for ex in chunk], **kwargs)
            right[length] += [
                _decodes_to(decode, out, ex.answer) for ex, out in zip(chunk, outputs, strict=True)
            ]
    every = [r for rs in right.values() for r in rs]
    return {
        "accuracy": float(np.mean(every)) if every else float("nan"),
        "count": len(every),
        "by_length": {n: float(np.mean(rs)) for n, rs in right.items()},
    }
