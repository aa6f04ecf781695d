"""Matplotlib figures of a `View`: residual heatmaps, attention patterns, decoded values.

Figures are built with `matplotlib.figure.Figure`, not pyplot, so making one leaves no
global state behind (a notebook shows the returned figure; a page saves it as a PNG).
matplotlib is the `viz` extra, imported only here and only when a figure is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from alta.errors import AltaError
from alta.ir import sparse
from alta.show.views import View, same

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Grids show at most this many layers (evenly spaced, first and last included).
GRID_LAYERS = 12
_MISMATCH, _MATCH = "#f4a6a6", "#ffffff"


class VizError(AltaError):
    """Pictures need matplotlib, which `alta` does not require."""


def new_figure(width: float, height: float) -> Figure:
    """An empty figure, or a `VizError` saying how to install matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise VizError(
            "alta show needs matplotlib: pip install 'alta[viz]' (or pip install matplotlib)"
        ) from None
    return Figure(figsize=(width, min(height, 60.0)), layout="constrained")


def pick_layers(v: View, layers: Any = None, cap: int = GRID_LAYERS) -> list[int]:
    """The layers a grid shows: `layers` (checked), else at most `cap`, evenly spaced."""
    total = v.layers + 1
    if layers is not None:
        chosen = [int(k) for k in np.atleast_1d(np.asarray(layers)).tolist()]
        bad = [k for k in chosen if not 0 <= k < total]
        if bad:
            raise VizError(f"layer {bad[0]} is not in 0..{v.layers} of this run of '{v.name}'")
        return chosen
    if total <= cap:
        return list(range(total))
    return sorted(set(np.linspace(0, total - 1, cap).round().astype(int).tolist()))


def residual_figure(v: View, layers: Any = None) -> Figure:
    """The residual stream after the embedding and each layer: dims (labelled
    variable=value) down, positions across, one heatmap per layer."""
    chosen = pick_layers(v, layers)
    cols = min(len(chosen), 4)
    rows = -(-len(chosen) // cols)
    d = v.residuals.shape[2]
    fig = new_figure(2.2 + 1.2 * cols * max(2, len(v.tokens)) / 3, 1.0 + rows * (0.9 + 0.16 * d))
    fig.suptitle(f"'{v.name}': the residual stream (rows: dims, columns: positions)")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    scale = max(1.0, float(np.abs(v.residuals).max()))
    image = None
    for ax, k in zip(axes.flat, chosen, strict=False):
        image = ax.imshow(
            v.residuals[k].T, aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale,
            interpolation="nearest",
        )  # fmt: skip
        ax.set_title("embedding" if k == 0 else f"after layer {k}", fontsize=9)
        _position_ticks(ax, v)
        ax.set_yticks(range(d), v.labels, fontsize=7)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="residual value")
    return fig


def attention_figure(v: View, layers: Any = None) -> Figure:
    """Each head's attention in each layer: queries down, keys (then the null slot) across."""
    chosen = [k for k in pick_layers(v, layers) if k > 0] or [min(1, v.layers)]
    heads = v.heads
    fig = new_figure(1.0 + 2.6 * max(1, len(heads)), 0.8 + 2.4 * len(chosen))
    fig.suptitle(f"'{v.name}': attention per head and layer")
    if not heads or v.layers == 0:
        fig.text(0.5, 0.5, "no attention heads" if not heads else "no layer ran", ha="center")
        return fig
    axes = fig.subplots(len(chosen), len(heads), squeeze=False)
    n = len(v.tokens)
    image = None
    for r, k in enumerate(chosen):
        for c, head in enumerate(heads):
            ax = axes[r, c]
            image = ax.imshow(
                v.attention[head][k - 1], cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest"
            )
            ax.set_title(f"{head}, layer {k}", fontsize=9)
            ax.set_xlabel("key", fontsize=8)
            ax.set_ylabel("query", fontsize=8)
            ax.set_xticks(range(n + 1), [*map(str, range(n)), "null"], fontsize=7)
            ax.set_yticks(range(n), [f"{i}:{t}" for i, t in enumerate(v.tokens)], fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    return fig


def values_figure(v: View, layer: int | None = None) -> Figure:
    """The decoded value of every variable at every position in one layer (default: the
    last), a cell red where the interpreter's value differs (shown after a '≠')."""
    k = v.layers if layer is None else pick_layers(v, layer)[0]
    fig = new_figure(1.8 + 0.9 * len(v.tokens), 0.9 + 0.28 * (len(v.variables) + 1))
    ax = fig.add_subplot()
    _values_table(ax, v, k)
    return fig


def figure(v: View, layer: int | None = None) -> Figure:
    """One layer at a glance (default: the last): its residual heatmap, its heads'
    attention and the decoded values; what `CompiledModel.show` returns."""
    k = v.layers if layer is None else pick_layers(v, layer)[0]
    d, n, heads = v.residuals.shape[2], len(v.tokens), max(1, len(v.heads))
    fig = new_figure(
        3.0 + 0.6 * n + 2.4 * heads, 1.5 + max(0.16 * d, 2.4 + 0.28 * len(v.variables))
    )
    fig.suptitle(f"'{v.name}' on {list(v.tokens)}: " + ("embedding" if k == 0 else f"layer {k}"))
    halves: Any = fig.subfigures(1, 2, width_ratios=[1, 2])  # an array of two SubFigures
    left, right = halves
    ax = left.add_subplot()
    scale = max(1.0, float(np.abs(v.residuals[k]).max()))
    ax.imshow(v.residuals[k].T, aspect="auto", cmap="RdBu_r", vmin=-scale, vmax=scale)
    ax.set_yticks(range(d), v.labels, fontsize=7)
    _position_ticks(ax, v)
    ax.set_title("residual stream", fontsize=9)
    top, bottom = right.subfigures(2, 1, height_ratios=[1, 1.4])
    for ax, head in zip(top.subplots(1, heads, squeeze=False)[0], v.heads or ("",), strict=True):
        if not head or k == 0:
            ax.set_axis_off()
            continue
        ax.imshow(v.attention[head][k - 1], cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_title(f"attention: {head}", fontsize=9)
        ax.set_xticks(range(n + 1), [*map(str, range(n)), "null"], fontsize=7)
    _values_table(bottom.add_subplot(), v, k)
    return fig


def _values_table(ax: Any, v: View, k: int) -> None:
    ax.set_axis_off()
    got = v.compiled[k]
    want = v.interpreted[k] if v.interpreted is not None else None
    cells, colours = [], []
    for name in v.variables:
        row, row_colours = [], []
        for i, value in enumerate(got[name]):
            text = fmt(value)
            other = want.get(name) if want is not None else None
            bad = other is not None and not same(value, other[i])
            row.append(f"{text} ≠ {fmt(other[i])}" if bad and other is not None else text)
            row_colours.append(_MISMATCH if bad else _MATCH)
        cells.append(row)
        colours.append(row_colours)
    table = ax.table(
        cellText=cells,
        cellColours=colours,
        rowLabels=list(v.variables),
        colLabels=[f"{i}:{t}" for i, t in enumerate(v.tokens)],
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    side = "model" if want is None else "model (red: ≠ interpreter)"
    ax.set_title(f"decoded values, {'embedding' if k == 0 else f'layer {k}'}: {side}", fontsize=9)


def fmt(value: Any) -> str:
    """A decoded value as the IR prints it ('none' for None; sets as {a, b})."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    return sparse.fmt_value(value)


def _position_ticks(ax: Any, v: View) -> None:
    ax.set_xticks(range(len(v.tokens)), [f"{i}:{t}" for i, t in enumerate(v.tokens)], fontsize=7)
    ax.set_xlabel("position:token", fontsize=8)
