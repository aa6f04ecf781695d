"""Which IR2 rules fired where: the rule coverage a trace set exercises.

A rule is learnable from traces only if some trace fires it (reference notes, §4.3), so
comparing the rules fired on training and test inputs predicts where trace supervision
can generalise. Rules are evaluated as `alta.interp.sparse` does: an atom `var in
{values}` holds when the MLP input's value (its bucket, for a number) is one of them;
None matches nothing.
"""

from __future__ import annotations

import numpy as np

from alta.errors import TraceError
from alta.interp import sparse as interp_sparse
from alta.interp.sparse import ModuleLayout
from alta.ir import sparse
from alta.traces.trace import Trace


def rules_fired(trace: Trace, module: sparse.Module | None = None) -> np.ndarray:
    """[records, rules] bool: rule j of `module` (default: the IR2 the trace's model was
    compiled from) fires on record i's MLP input."""
    module = module if module is not None else trace.sparse_ir
    if module is None:
        raise TraceError(
            "this trace does not know its IR2 rules (it was laid out by a bare IR3 module or "
            "read from disk); pass module=, e.g. the compiled model's sparse_ir"
        )
    missing = sorted({v for r in module.rules for v in r.reads()} - set(trace.values_in))
    if missing:
        raise TraceError(
            f"the rules read '{missing[0]}', which the traced program does not declare"
        )
    return interp_sparse.rule_matches(module, ModuleLayout.of(module).vars, trace.values_in)


def fired_rules(trace: Trace, module: sparse.Module | None = None) -> frozenset[int]:
    """The indices of the rules that fired at least once in `trace`."""
    return frozenset(np.flatnonzero(rules_fired(trace, module).any(axis=0)).tolist())
