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
    """Pairs of rule indices (sorted) that write one variable and can fire together.

    Rules writing one variable are split by the values of a variable most of them test (a
    rule without an atom on it goes to every part) until parts are small; only rules in
    one part can fire together. Rules pinned to distinct values of some variable, as
    those of one Python function are, are thus never compared pairwise.
    """
    reach = reach if reach is not None else reachable_values(module)
    rules = module.rules
    by_var: dict[str, list[int]] = defaultdict(list)
    for i, rule in enumerate(rules):
        if can_fire(rule, reach):
            by_var[rule.var].append(i)
    found: set[tuple[int, int]] = set()
    for members in by_var.values():
        _split(rules, members, reach, frozenset(), found)
    yield from sorted(found)


_LEAF = 8


def _split(
    rules: tuple[sparse.Rule, ...],
    members: list[int],
    reach: Reachable,
    used: frozenset[str],
    found: set[tuple[int, int]],
) -> None:
    while len(members) > _LEAF:
        counts: dict[str, int] = defaultdict(int)
        for i in members:
            for tested in rules[i].atoms:
                if tested.var not in used:
                    counts[tested.var] += 1
        if not counts:
            break
        var = max(counts, key=lambda v: (counts[v], v))
        used = used | {var}
        parts: dict[sparse.Value, list[int]] = defaultdict(list)
        free: list[int] = []
        for i in members:
            atom = rules[i].atom(var)
            if atom is None:
                free.append(i)
            else:
                for value in atom.values & reach[var]:
                    parts[value].append(i)
        groups = [sorted({*part, *free}) for part in parts.values()] or [free]
        if all(len(group) == len(members) for group in groups):
            continue  # `var` separates nothing here: try the next one
        for group in groups:
            _split(rules, group, reach, used, found)
        return
    for x, i in enumerate(members):
        for j in members[x + 1 :]:
            if (i, j) not in found and can_fire_together(rules[i], rules[j], reach):
                found.add((i, j))
