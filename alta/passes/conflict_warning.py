"""The compile-time side of rule conflicts: two rules that may fire together on one variable.

Firing both at once is undefined behaviour (docs/semantics.md), which the interpreter
reports when it happens. The compiler cannot refuse a pair it merely fails to separate,
so it tolerates it with one `CompileWarning`; `strict=True` makes that an error.
"""

from __future__ import annotations

import warnings

from alta.errors import CompileWarning
from alta.ir import analysis, joint_reach, printer, sparse


def warn_unproven_conflicts(module: sparse.Module, reach: analysis.Reachable) -> int:
    """Warn once about the rule pairs the analysis cannot prove disjoint; return their count."""
    pairs = joint_reach.unproven_conflicts(module, reach)
    if pairs:
        (i, j), *_ = pairs
        a, b = module.rules[i], module.rules[j]
        warnings.warn(
            f"program '{module.name}': {len(pairs)} pair(s) of rules may fire together and "
            f"write one variable; the analysis cannot rule them out, so the model is built "
            f"anyway, and if both fire the interpreter raises while the model's result is "
            f"undefined. First pair, on '{a.var}':\n    {printer.rule_text(i, a)}\n    "
            f"{printer.rule_text(j, b)}\nPass strict=True to make this an error.",
            CompileWarning,
            stacklevel=3,
        )
    return len(pairs)
