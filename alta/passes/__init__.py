"""Passes over the three IRs, the pass manager, and the default pipeline.

    from alta import passes
    pm = passes.PassManager.parse(passes.DEFAULT_PIPELINE, instrumentations=[passes.TimePasses()])
    module = pm.run(program)

Write your own pass by subclassing `Pass` (see CONTRIBUTING.md, "Writing a pass"); it
records its statistics in `passes.context.current()` (a `PassContext`) as it runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alta.passes.base import (
    LEVELS,
    Pass,
    available,
    level_of,
    lookup,
    register,
    registered,
    unregister,
)
from alta.passes.context import PassContext
from alta.passes.fixpoint import Fixpoint
from alta.passes.instrument import (
    Instrumentation,
    PassStatistics,
    PrintIR,
    TimePasses,
    list_passes,
)
from alta.passes.manager import PassManager, verify
from alta.passes.pipeline import parse, print_pipeline

__all__ = [
    "DEFAULT_PIPELINE",
    "LEVELS",
    "ONE_HOT_PIPELINE",
    "Fixpoint",
    "Instrumentation",
    "Pass",
    "PassContext",
    "PassManager",
    "PassStatistics",
    "PrintIR",
    "TimePasses",
    "available",
    "level_of",
    "list_passes",
    "lookup",
    "parse",
    "print_pipeline",
    "register",
    "registered",
    "run_pipeline",
    "unregister",
    "verify",
]

#: The pipeline `alta.compile` and `alta opt` run unless told otherwise.
DEFAULT_PIPELINE = (
    "lower-symbolic-to-sparse{merge-copies=true merge-olds=true},fold-equalities,canonicalize,"
    "merge-equal-variables,"
    "fixpoint(minimize-rules,prune-values),dce,canonicalize,choose-encodings,"
    "lower-sparse-to-dense,prune-mlp-units"
)

#: The default pipeline without `choose-encodings`: every variable one-hot, the residual
#: layout trace supervision learns from (as in the paper).
ONE_HOT_PIPELINE = DEFAULT_PIPELINE.replace("choose-encodings,", "")


def run_pipeline(
    module: Any,
    text: str,
    instrument: Instrumentation | Iterable[Instrumentation] | None = None,
    *,
    verify_each: bool = True,
) -> list[Any]:
    """Run the pipeline `text` on `module`; return the module after each pass, input first."""
    pm = PassManager.parse(
        text, start_level=level_of(module), verify_each=verify_each, instrumentations=instrument
    )
    return pm.stages(module)
