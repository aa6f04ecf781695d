"""The compile-time side of a numerical head averaging a None value.

The interpreter gives None for the mean when a selected value is None, and strict mode
reports it; a compiled model averages that value as 0 (docs/semantics.md, "Undefined
behaviour"). The compiler cannot tell which positions a head will select, so it warns
once when the value a numerical head averages may be None; `strict=True` makes that an
error.
"""

from __future__ import annotations

import warnings

from alta.errors import CompileWarning
from alta.ir import analysis, sparse


def warn_none_means(module: sparse.Module, reach: analysis.Reachable) -> int:
    """Warn once about the numerical heads whose value may be None; return their count."""
    heads = [
        h
        for h in module.heads
        if module.variables[h.output].kind == sparse.NUMERICAL and None in reach[h.value]
    ]
    if heads:
        names = ", ".join(f"'{h.output}' (value '{h.value}')" for h in heads[:3])
        warnings.warn(
            f"program '{module.name}': {len(heads)} numerical head(s) may average a None "
            f"value: {names}{' ...' if len(heads) > 3 else ''}. The interpreter then gives "
            "None (strict mode reports it) while the model averages the None as 0. Give "
            "the value a defined value wherever the head may select it. "
            "Pass strict=True to make this an error.",
            CompileWarning,
            stacklevel=3,
        )
    return len(heads)
