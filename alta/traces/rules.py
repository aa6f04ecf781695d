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
from alta.interp import mlp
from alta.interp.sparse import ModuleLayout
from alta.ir import sparse, symbolic
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
    specs = ModuleLayout.of(module).vars
    index: dict[str, np.ndarray] = {}
    fired = np.zeros((len(trace), len(module.rules)), dtype=bool)
    for j, rule in enumerate(module.rules):
        hit = np.ones(len(trace), dtype=bool)
        for atom in rule.atoms:
            if atom.var not in index:
                index[atom.var] = _index(trace, specs[atom.var], atom.var)
            hit &= np.isin(index[atom.var], _allowed(module, specs[atom.var], atom))
        fired[:, j] = hit
    return fired


def fired_rules(trace: Trace, module: sparse.Module | None = None) -> frozenset[int]:
    """The indices of the rules that fired at least once in `trace`."""
    return frozenset(np.flatnonzero(rules_fired(trace, module).any(axis=0)).tolist())


def _index(trace: Trace, spec: symbolic.Var, name: str) -> np.ndarray:
    """Each record's value of `name` as an index into its IR2 domain (-1: None)."""
    if name not in trace.values_in:
        raise TraceError(f"the rules read '{name}', which the traced program does not declare")
    index = mlp.value_index(spec, name, trace.values_in[name])
    return np.where(index >= 0, index, -1)


def _allowed(module: sparse.Module, spec: symbolic.Var, atom: sparse.Atom) -> np.ndarray:
    if isinstance(spec, symbolic.CategoricalVar):
        return np.asarray(sorted(atom.values), dtype=np.int64)
    domain = list(module.variables[atom.var].values)
    return np.asarray([domain.index(v) for v in atom.values if v in domain], dtype=np.int64)
