"""Experiment results as files: JSON (every row), a markdown table, PNG plots.

The table gives, per setting, the mean ± standard deviation over seeds of the training
accuracy, the test accuracy, the accuracy in each test-length bucket, and of any other
numeric field the rows share (rule counts, seconds). The plots: accuracy against input
length (mean, with a band of ± one standard deviation), and the loss curves.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alta import folders
from alta.errors import LearnError

if TYPE_CHECKING:
    from alta.learn.experiments import Experiment

#: Row fields that are not summarised as extra columns.
_SKIP = {"setting", "seed", "train_accuracy", "test_accuracy", "by_length", "history"}


def prepare(out: Path) -> Path:
    """Make the results folder `out` before the jobs run (`alta.folders`), or a LearnError."""
    why = folders.unwritable(out)
    if why:
        raise LearnError(f"results folder '{out}' {why}")
    return out


def write(
    out: Path, stem: str, experiment: Experiment, rows: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Path]:
    """`out/stem.json`, `out/stem.md`, `out/stem-length.png` and `out/stem-loss.png`."""
    prepare(out)
    files = {
        "json": out / f"{stem}.json",
        "markdown": out / f"{stem}.md",
        "length": out / f"{stem}-length.png",
        "loss": out / f"{stem}-loss.png",
    }
    files["json"].write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=_plain))
    files["markdown"].write_text(markdown(experiment, rows, meta, files))
    plot_lengths(files["length"], experiment, rows)
    plot_losses(files["loss"], rows)
    return files


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=repr)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def by_setting(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["setting"]].append(r)
    return dict(groups)


def spread(values: list[float | None]) -> str:
    """'mean ± std' (population std over seeds), or '–' when there are none (None)."""
    known = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not known:
        return "–"
    mean, std = float(np.mean(known)), float(np.std(known))
    if all(v.is_integer() for v in known) and max(abs(v) for v in known) > 1:
        return f"{mean:.1f} ± {std:.1f}"
    return f"{mean:.2f} ± {std:.2f}"


def bucket_accuracy(row: dict[str, Any], low: int, high: int) -> float:
    accs = [a for n, a in row["by_length"].items() if low <= int(n) <= high]
    return float(np.mean(accs)) if accs else math.nan


def extra_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Numeric fields beyond the accuracies, in first-seen order over every row."""
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in _SKIP))
    return [k for k in keys if all(isinstance(r.get(k), (int, float)) for r in rows if k in r)]


def markdown(
    experiment: Experiment, rows: list[dict[str, Any]], meta: dict[str, Any], files: dict[str, Path]
) -> str:
    buckets = experiment.buckets
    extras = extra_columns(rows)
    head = ["setting", "seeds", "train acc", "test acc"]
    head += [f"len {lo}–{hi}" for lo, hi in buckets] + extras
    lines = [
        f"# {experiment.name}{' (quick)' if meta.get('quick') else ''}",
        "",
        f"Claim: {experiment.claim}.",
        "",
        f"{meta.get('jobs')} jobs, {meta.get('seeds')} seeds; wall {meta.get('wall_seconds', 0):.0f} s,"
        f" {meta.get('cpu_seconds', 0):.0f} s of job time. Mean ± std over seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for setting, group in by_setting(rows).items():
        cells = [setting, str(len(group))]
        cells += [spread([r["train_accuracy"] for r in group])]
        cells += [spread([r["test_accuracy"] for r in group])]
        cells += [spread([bucket_accuracy(r, lo, hi) for r in group]) for lo, hi in buckets]
        cells += [spread([r[k] for r in group if k in r]) for k in extras]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"![accuracy by length]({files['length'].name})", ""]
    lines += [f"![loss curves]({files['loss'].name})", ""]
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lengths(path: Path, experiment: Experiment, rows: list[dict[str, Any]]) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for setting, group in by_setting(rows).items():
        lengths = sorted({int(n) for r in group for n in r["by_length"]})
        if not lengths:
            continue
        accs = np.array([[r["by_length"].get(str(n), np.nan) for n in lengths] for r in group])
        mean, std = np.nanmean(accs, axis=0), np.nanstd(accs, axis=0)
        ax.plot(lengths, mean, marker=".", label=setting)
        ax.fill_between(lengths, mean - std, mean + std, alpha=0.15)
    low, high = experiment.train_lengths
    ax.axvspan(low - 0.5, high + 0.5, color="grey", alpha=0.1, label="trained lengths")
    ax.set(xlabel="input length", ylabel="task accuracy", ylim=(-0.02, 1.02))
    ax.set_title(f"{experiment.name}: accuracy by input length (mean ± std over seeds)")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_losses(path: Path, rows: list[dict[str, Any]]) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for setting, group in by_setting(rows).items():
        curves = [np.asarray(r["history"], dtype=float) for r in group if r.get("history")]
        if not curves:
            continue
        steps = curves[0][:, 0]
        same = [c[:, 1] for c in curves if len(c) == len(steps)]
        ax.plot(steps, np.mean(same, axis=0), label=setting)
    ax.set(xlabel="step", ylabel="training loss (mean over seeds)", yscale="log")
    ax.set_title("learning curves (trace: MSE; end-to-end: cross-entropy)")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
