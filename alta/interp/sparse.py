"""Run an IR2 module directly: the semantics of docs/semantics.md with `var in {...}` rules.

Passes over IR2 are checked with it (a pass must not change what a module computes), and
`minimize-rules{dataset=...}` uses it to find the rules a dataset fires. It shares the
state, attention and halting loop of the IR1 interpreter; only the MLP step is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from alta.errors import InterpreterError, RuleConflictError
from alta.inputs import check_max_layers
from alta.interp import mlp
from alta.interp import state as st
from alta.interp.attention import attend
from alta.interp.loop import changed_rows, loop
from alta.interp.reuse import Reuse
from alta.ir import sparse, symbolic


@attrs.frozen
class SparseRun:
    outputs: list[list[Any]]
    layers: np.ndarray
    fired: frozenset[int]  # indices of the rules that fired at least once


@attrs.frozen
class ModuleLayout:
    """An IR2 module as the shared core reads it (`state.Layout`): each variable's kind,
    range and values as a symbolic value spec, its heads as symbolic heads."""

    name: str
    vars: Mapping[str, symbolic.Var]
    heads: tuple[symbolic.Head, ...]
    output: str
    halt: symbolic.Halt | None
    input_range: int
    position_range: int | None

    @property
    def head_outputs(self) -> frozenset[str]:
        return frozenset(h.output for h in self.heads)

    @classmethod
    def of(cls, module: sparse.Module) -> ModuleLayout:
        return cls(
            module.name,
            {var.name: _spec(var) for var in module.variables.values()},
            tuple(symbolic.Head(h.output, h.query, h.key, h.value, h.mask) for h in module.heads),
            module.output,
            None if module.halt is None else symbolic.Halt(module.halt.var, module.halt.value),
            module.input_range,
            module.position_range,
        )


def _spec(var: sparse.Variable) -> symbolic.Var:
    if var.kind == sparse.CATEGORICAL:
        return symbolic.CategoricalVar(range=var.range, default=None)
    if var.kind == sparse.NUMERICAL:
        return symbolic.NumericalVar(values=tuple(var.values) or None, default=None)
    return symbolic.SetVar(range=var.range, values=tuple(var.values) or None, default=None)


def run(module: sparse.Module, inputs: list[list[int]], max_layers: int | None = None) -> SparseRun:
    """Run a batch with the interpreter's halting loop; also say which rules fired."""
    layout = ModuleLayout.of(module)
    if max_layers is None and module.halt is None:
        raise InterpreterError(f"module '{module.name}' has no halt spec: pass max_layers")
    max_layers = check_max_layers(max_layers)
    tokens, valid = st.pad_inputs(layout, inputs)
    inits = {name: (var.init.source, var.init.table) for name, var in module.variables.items()}
    state = st.initial_state(layout, inits, tokens, valid)
    fired: set[int] = set()

    def layer(
        sub: dict[str, np.ndarray], sub_valid: np.ndarray, k: int, idx: np.ndarray
    ) -> np.ndarray:
        return _layer(module, layout, sub, sub_valid, k, fired, idx)

    result = loop(layout, state, valid, max_layers, layer)
    return SparseRun(result.outputs, result.layers, frozenset(fired))


def _layer(
    module: sparse.Module,
    layout: ModuleLayout,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    fired: set[int],
    batch_index: np.ndarray,
) -> np.ndarray:
    """One layer, updating `state` in place; per row, whether its state changed."""
    after = dict(state)
    reuse = Reuse()  # for this layer only: heads with the same query and key share work
    for head in layout.heads:  # declaration order: chains see earlier heads
        after[head.output] = attend(layout, head, after, valid, layer, False, batch_index, reuse)
    new: dict[str, np.ndarray] = {}  # the written variables, as they will be
    written: dict[str, np.ndarray] = {}  # var -> index of the rule that wrote it, or -1
    hits = rule_matches(module, layout.vars, after) & valid[..., None]
    for i, rule in enumerate(module.rules):
        hit = hits[..., i]
        if not hit.any():
            continue
        fired.add(i)
        writer = written.setdefault(rule.var, np.full(hit.shape, -1))
        clash = hit & (writer >= 0)
        if clash.any():
            b, p = (int(x) for x in np.argwhere(clash)[0])
            raise RuleConflictError(
                f"layer {layer}: rules #{writer[b, p]} and #{i} both fired at sequence "
                f"{batch_index[b]}, position {p} and both write '{rule.var}'"
            )
        writer[hit] = i
        if rule.var not in new:
            new[rule.var] = state[rule.var].copy()
        new[rule.var][hit] = st.encode(layout.vars[rule.var], rule.new)
    new = {n: a for n, a in new.items() if n not in layout.head_outputs}  # cleared at once
    changed = changed_rows(layout, state, new, valid.shape[0])
    for name, array in new.items():
        state[name][...] = array
    return changed


def rule_matches(
    module: sparse.Module, specs: Mapping[str, symbolic.Var], values: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Whether each rule's atoms and equalities all hold on `values` (arrays of one shape, raw as the
    interpreter stores them): bool [*shape, rules]. None matches no atom. The one place
    IR2 atoms are evaluated (the IR2 interpreter, traces, pictures)."""
    shape = next(iter(values.values())).shape
    hits = np.ones((*shape, len(module.rules)), dtype=bool)
    index: dict[str, np.ndarray] = {}
    for i, rule in enumerate(module.rules):
        for atom in rule.atoms:
            spec = specs[atom.var]
            if atom.var not in index:
                index[atom.var] = mlp.value_index(spec, atom.var, values[atom.var])
            if isinstance(spec, symbolic.CategoricalVar):
                allowed = sorted(atom.values)
            else:
                domain = list(module.variables[atom.var].values)
                allowed = [domain.index(v) for v in atom.values if v in domain]
            hits[..., i] &= np.isin(index[atom.var], allowed) & (index[atom.var] >= 0)
        for x, y in rule.equals:  # categorical: the index is the value, -1 for None
            for name in (x, y):
                if name not in index:
                    index[name] = mlp.value_index(specs[name], name, values[name])
            hits[..., i] &= (index[x] == index[y]) & (index[x] >= 0)
    return hits
