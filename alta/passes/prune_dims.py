"""`prune-dims`: a narrower model computing the same thing.

On IR2: drop unreachable values from every domain (fewer one-hot dims and bucket units),
fold variables that are constant into the rules that read them (the lowering then gives
them no dims; heads read them through biases), and drop dead variables.
On IR3: drop MLP units that never fire or whose output nothing reads, fold units that are
always on into the next bias, and fuse away an expansion layer that only copies 0/1 dims.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from alta.ir import analysis, dense, sparse
from alta.passes import base, dce


@base.register
@attrs.frozen
class PruneDimsPass(base.Pass):
    """Remove unreachable values, constants and dead parts (IR2) or dead units (IR3)."""

    name: ClassVar[str] = "prune-dims"
    level: ClassVar[str] = "sparse"
    levels: ClassVar[tuple[str, ...]] = ("sparse", "dense")

    def run(self, module: Any) -> Any:
        if isinstance(module, dense.Module):
            return prune_dense(module)
        return prune_sparse(module)

    def statistics(self, before: Any, after: Any) -> list[str]:
        if isinstance(before, dense.Module):
            return [f"mlp widths {list(before.mlp_widths)} -> {list(after.mlp_widths)}"]
        size = sum(len(v.values) for v in before.variables.values())
        new_size = sum(len(v.values) for v in after.variables.values())
        return [
            f"domain values {size} -> {new_size}",
            f"rules {len(before.rules)} -> {len(after.rules)}",
        ]


# ----------------------------------------------------------------------------- IR2


def prune_sparse(module: sparse.Module) -> sparse.Module:
    reach = analysis.reachable_values(module)
    constants = _constants(module, reach)
    variables = {n: _narrow(module, v, reach[n], constants) for n, v in module.variables.items()}
    rules = []
    for rule in module.rules:
        if rule.var in constants:
            continue  # a constant is never changed, so every write to it is a no-op
        atoms = []
        for atom in rule.atoms:
            values = atom.values & frozenset(variables[atom.var].values)
            if atom.var in constants:
                values = atom.values & {constants[atom.var]}
                if values:
                    continue
            if not values:
                break
            atoms.append(atom if values == atom.values else attrs.evolve(atom, values=values))
        else:
            rules.append(
                rule
                if len(atoms) == len(rule.atoms)
                and all(a is b for a, b in zip(atoms, rule.atoms, strict=True))
                else attrs.evolve(rule, atoms=tuple(atoms))
            )
    same = len(rules) == len(module.rules) and all(
        a is b for a, b in zip(rules, module.rules, strict=True)
    )
    same &= all(variables[n] is v for n, v in module.variables.items())
    pruned = module if same else attrs.evolve(module, variables=variables, rules=tuple(rules))
    return dce.eliminate_dead(pruned)


def _constants(module: sparse.Module, reach: analysis.Reachable) -> dict[str, Any]:
    keep = {module.output} | ({module.halt.var} if module.halt else set())
    return {
        n: next(iter(reach[n]))
        for n, v in module.variables.items()
        if len(reach[n]) == 1 and None not in reach[n] and not v.is_head_output and n not in keep
    }


def _narrow(
    module: sparse.Module, var: sparse.Variable, reach: frozenset[Any], constants: dict[str, Any]
) -> sparse.Variable:
    keep = set(reach) - {None}
    if module.halt is not None and module.halt.var == var.name:
        keep.add(module.halt.value)
    values = tuple(v for v in var.values if v in keep)
    init = var.init
    if var.name in constants and init.source != "const":
        init = sparse.Init("const", (constants[var.name],))
    nullable = None in reach
    if values == var.values and init is var.init and nullable == var.nullable:
        return var
    return attrs.evolve(var, values=values, init=init, nullable=nullable or var.is_head_output)


# ----------------------------------------------------------------------------- IR3


def prune_dense(module: dense.Module) -> dense.Module:
    weights = dict(module.weights)
    layers = list(module.loop.mlp.layers)
    changed = False
    if len(layers) == 3 and _fuse_identity(module, weights, layers):
        layers = layers[1:]
        changed = True
    for i in range(len(layers) - 1):
        changed |= _drop_units(weights, layers[i], layers[i + 1])
    if not changed:
        return module
    mlp = dense.MLP(tuple(layers))
    used = {n for n in weights if not n.startswith("mlp.")} | {
        n for layer in layers for n in (layer.w, layer.b)
    }
    return attrs.evolve(
        module,
        weights={n: w for n, w in weights.items() if n in used},
        loop=attrs.evolve(module.loop, mlp=mlp),
    )


def _drop_units(weights: dict[str, np.ndarray], layer: dense.MLPLayer, nxt: dense.MLPLayer) -> bool:
    """Drop units that are always 0 or feed nothing; fold always-1 units into the next bias."""
    w, b, w_next = weights[layer.w], weights[layer.b], weights[nxt.w]
    no_input = ~w.any(axis=0)
    const = np.where(no_input, np.clip(b, 0.0, 1.0), 0.0)
    dead = (no_input) | ~w_next.any(axis=1)
    if not dead.any():
        return False
    weights[nxt.b] = weights[nxt.b] + const @ w_next
    keep = ~dead
    weights[layer.w], weights[layer.b] = w[:, keep], b[keep]
    weights[nxt.w] = w_next[keep]
    return True


def _fuse_identity(
    module: dense.Module, weights: dict[str, np.ndarray], layers: list[dense.MLPLayer]
) -> bool:
    """An expansion layer whose units each copy one 0/1 dim can be folded into the next."""
    first, second = layers[0], layers[1]
    w, b = weights[first.w], weights[first.b]
    binary: set[int] = set()
    for slot in module.layout:
        dims = range(slot.start, slot.stop)
        binary.update(dims if slot.kind != sparse.NUMERICAL else dims[1:])
    for j in range(w.shape[1]):
        nz = np.flatnonzero(w[:, j])
        if b[j] != 0 or len(nz) != 1 or w[nz[0], j] != 1.0 or int(nz[0]) not in binary:
            return False
    weights[second.w] = w @ weights[second.w]
    return True
