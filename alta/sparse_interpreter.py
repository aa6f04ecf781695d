"""Run an IR2 module directly: the semantics of docs/semantics.md with `var in {...}` rules.

Passes over IR2 are checked with it (a pass must not change what a module computes), and
`minimize-rules{dataset=...}` uses it to find the rules a dataset fires.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from alta import interpreter, interpreter_mlp
from alta import interpreter_state as st
from alta.errors import InterpreterError, RuleConflictError
from alta.inputs import check_max_layers
from alta.ir import sparse, symbolic


@attrs.frozen
class SparseRun:
    outputs: list[list[Any]]
    layers: np.ndarray
    fired: frozenset[int]  # indices of the rules that fired at least once


def as_symbolic_shell(module: sparse.Module) -> symbolic.Program:
    """A symbolic program with the module's variables and heads (and no MLP), so that the
    symbolic interpreter's state and attention code can run it."""
    variables = []
    for var in module.variables.values():
        if var.kind == sparse.CATEGORICAL:
            spec: symbolic.Var = symbolic.CategoricalVar(range=var.range, default=None)
        elif var.kind == sparse.NUMERICAL:
            spec = symbolic.NumericalVar(values=tuple(var.values) or None, default=None)
        else:
            spec = symbolic.SetVar(range=var.range, values=tuple(var.values) or None, default=None)
        variables.append((var.name, spec))
    heads = tuple(symbolic.Head(h.output, h.query, h.key, h.value, h.mask) for h in module.heads)
    halt = None if module.halt is None else symbolic.Halt(module.halt.var, module.halt.value)
    return symbolic.Program(
        module.name,
        tuple(variables),
        heads,
        symbolic.RulesMLP(()),
        module.output,
        module.input_range,
        module.position_range,
        halt,
    )


def run(module: sparse.Module, inputs: list[list[int]], max_layers: int | None = None) -> SparseRun:
    """Run a batch with the interpreter's halting loop; also say which rules fired."""
    shell = as_symbolic_shell(module)
    if max_layers is None and module.halt is None:
        raise InterpreterError(f"module '{module.name}' has no halt spec: pass max_layers")
    max_layers = check_max_layers(max_layers)
    tokens, valid = st.pad_inputs(shell, inputs)
    state = _initial(module, shell, tokens, valid)
    fired: set[int] = set()

    def layer(sub: dict[str, np.ndarray], sub_valid: np.ndarray, k: int, idx: np.ndarray) -> Any:
        return _layer(module, shell, sub, sub_valid, k, fired, idx)

    result = interpreter.loop(shell, state, valid, max_layers, layer)
    return SparseRun(result.outputs, result.layers, frozenset(fired))


def _initial(
    module: sparse.Module, shell: symbolic.Program, tokens: np.ndarray, valid: np.ndarray
) -> dict[str, np.ndarray]:
    b, n = tokens.shape
    state = {}
    for name, var in module.variables.items():
        spec = shell.vars[name]
        table: np.ndarray = np.asarray(
            [st.encode(spec, v) for v in var.init.table] or [st.none_of(spec)],
            dtype=st.dtype_of(spec),
        )
        if var.init.source == "token":
            arr = table[tokens]
        elif var.init.source == "position":
            arr = np.broadcast_to(table[np.minimum(np.arange(n), len(table) - 1)], (b, n))
        else:
            arr = np.full((b, n), table[0])
        state[name] = np.where(valid, arr, st.none_of(spec)).astype(st.dtype_of(spec))
    return state


def _layer(
    module: sparse.Module,
    shell: symbolic.Program,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    fired: set[int],
    batch_index: np.ndarray,
) -> dict[str, np.ndarray]:
    after = dict(state)
    for head in shell.heads:
        after[head.output] = interpreter.attend(  # declaration order: chains see earlier heads
            shell, head, after, valid, layer, False, batch_index
        )
    new = {n: a.copy() for n, a in state.items()}
    written: dict[str, np.ndarray] = {}  # var -> index of the rule that wrote it, or -1
    for i, rule in enumerate(module.rules):
        hit = valid.copy()
        for atom in rule.atoms:
            spec = shell.vars[atom.var]
            index = interpreter_mlp.value_index(spec, atom.var, after[atom.var])
            domain = list(module.variables[atom.var].values)
            if isinstance(spec, symbolic.CategoricalVar):
                allowed = sorted(atom.values)
            else:
                allowed = [domain.index(v) for v in atom.values if v in domain]
            hit &= np.isin(index, allowed) & (index >= 0)
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
        new[rule.var][hit] = st.encode(shell.vars[rule.var], rule.new)
    for name in module.clears:
        new[name] = np.full_like(state[name], st.none_of(shell.vars[name]))
    return new
