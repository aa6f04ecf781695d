"""Pictures of a compiled model on one input: what `alta show` draws.

    v = alta.show.view(model, [2, 1, 0, 1], program=program)  # the data (views.View)
    fig = model.show([2, 1, 0, 1])                  # one layer at a glance, a Figure
    alta.show.write(model, [2, 1, 0, 1], "out/", program=program)  # out/index.html + PNGs

Everything is decoded from the model's own residual stream; with `program` (the IR1 it
was compiled from) the interpreter's values and the rules that fired stand beside it.
matplotlib is the `viz` extra (pip install 'alta[viz]').

Layering: `views`, `figures` and `page` sit just below `alta.model`, so the model's `show`
method can use them; this package's `__init__` and its `cli` sit with the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alta.show import page
from alta.show.figures import VizError, attention_figure, residual_figure, values_figure
from alta.show.views import View, view

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from alta.ir import symbolic
    from alta.model import CompiledModel

__all__ = [
    "View",
    "VizError",
    "attention_figure",
    "figure",
    "residual_figure",
    "values_figure",
    "view",
    "write",
]


def figure(
    model: CompiledModel,
    inputs: Any,
    layer: int | None = None,
    *,
    program: symbolic.Program | None = None,
    max_layers: int | None = None,
) -> Figure:
    """`model.show(inputs)`: one layer (default: the last) of one input, as a Figure."""
    from alta.show import figures

    return figures.figure(view(model, inputs, program, max_layers), layer)


def write(
    model: CompiledModel,
    inputs: Any,
    out: str | Path,
    *,
    program: symbolic.Program | None = None,
    max_layers: int | None = None,
) -> Path:
    """What `alta show` writes: DIR/index.html (self-contained) and its PNGs."""
    return page.write(view(model, inputs, program, max_layers), out)
