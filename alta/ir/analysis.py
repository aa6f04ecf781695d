"""Analyses on IR2: reachable values, satisfiability, rule conflicts.

They over-approximate: every variable is treated on its own, so "reachable" means "some
run may hold it", and two rules "can fire together" unless some variable separates them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping

from alta.ir import sparse

Reachable = Mapping[str, frozenset[sparse.Value]]


def reachable_values(module: sparse.Module) -> dict[str, frozenset[sparse.Value]]:
    """The values (None included) each variable may hold at the start of some layer or MLP."""
    reach: dict[str, set[sparse.Value]] = {}
    for name, var in module.variables.items():
        reach[name] = {None} if var.is_head_output else set(var.init.values())
    numeric_heads = {
        h.output for h in module.heads if module.variables[h.output].kind == sparse.NUMERICAL
    }
    for name in numeric_heads:
        reach[name] = {None, *module.variables[name].values}
    changed = True
    while changed:
        changed = False
        for head in module.heads:
            if head.output in numeric_heads:
                continue
            new = reach[head.value] - reach[head.output]
            if new:
                reach[head.output] |= new
                changed = True
        for rule in module.rules:
            if rule.new in reach[rule.var]:
                continue
            if can_fire(rule, reach):  # type: ignore[arg-type]
                reach[rule.var].add(rule.new)
                changed = True
    return {n: frozenset(v) for n, v in reach.items()}


def can_fire(rule: sparse.Rule, reach: Reachable) -> bool:
    """Some reachable value satisfies every atom (each variable on its own)."""
    return all(atom.values & reach[atom.var] for atom in rule.atoms)


def can_fire_together(a: sparse.Rule, b: sparse.Rule, reach: Reachable) -> bool:
    """No variable separates the two rules' atoms among its reachable values."""
    atoms_b = {atom.var: atom.values for atom in b.atoms}
    for atom in a.atoms:
        other = atoms_b.get(atom.var)
        if other is not None and not (atom.values & other & reach[atom.var]):
            return False
    return can_fire(a, reach) and can_fire(b, reach)


def conflicts(module: sparse.Module, reach: Reachable | None = None) -> Iterator[tuple[int, int]]:
    """Pairs of rule indices that write one variable and can fire together."""
    reach = reach if reach is not None else reachable_values(module)
    by_var: dict[str, list[int]] = defaultdict(list)
    for i, rule in enumerate(module.rules):
        by_var[rule.var].append(i)
    for var, members in by_var.items():
        # Rules pinned to one old value of `var` only meet rules pinned to the same one.
        pinned: dict[sparse.Value, list[int]] = defaultdict(list)
        free: list[int] = []
        for i in members:
            atom = module.rules[i].atom(var)
            if atom is not None and len(atom.values) == 1:
                pinned[next(iter(atom.values))].append(i)
            else:
                free.append(i)
        groups = [[*g, *free] for g in pinned.values()] or [free]
        seen: set[tuple[int, int]] = set()
        for group in groups:
            group.sort()
            for x, i in enumerate(group):
                for j in group[x + 1 :]:
                    if (i, j) in seen:
                        continue
                    seen.add((i, j))
                    if can_fire_together(module.rules[i], module.rules[j], reach):
                        yield i, j
