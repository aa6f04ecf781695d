"""Analyses on IR2: reachable values, satisfiability, rule conflicts.

They over-approximate: every variable is treated on its own, so "reachable" means "some
run may hold it", and two rules "can fire together" unless some variable separates them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

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
    """Some reachable value satisfies every atom, and each equality's two variables may
    hold one defined value (each variable on its own)."""
    return all(atom.values & reach[atom.var] for atom in rule.atoms) and _equals_can_hold(
        rule, reach
    )


def _equals_can_hold(rule: sparse.Rule, reach: Reachable) -> bool:
    return all(not (reach[x] & reach[y]) <= {None} for x, y in rule.equals)


class FiringCheck:
    """`can_fire` for many rules that share their atoms (as rule programs' rules do):
    each atom object is checked once. Use it while the rules are alive (it keys atoms by
    identity)."""

    def __init__(self, reach: Reachable) -> None:
        self.reach = reach
        self.atoms: dict[int, bool] = {}

    def __call__(self, rule: sparse.Rule) -> bool:
        known = self.atoms
        for atom in rule.atoms:
            ok = known.get(id(atom))
            if ok is None:
                ok = known[id(atom)] = not atom.values.isdisjoint(self.reach[atom.var])
            if not ok:
                return False
        return not rule.equals or _equals_can_hold(rule, self.reach)


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

    For the rules writing one variable, an index holds, per tested variable and value,
    the set of rules that allow it (as an int bitset); the rules that can fire with rule
    j are then the AND, over j's atoms, of the OR over the atom's values. So the rules
    are never compared pairwise: tens of thousands of them take a fraction of a second.
    """
    reach = reach if reach is not None else reachable_values(module)
    rules = module.rules
    by_var: dict[str, list[int]] = defaultdict(list)
    firable = FiringCheck(reach)
    for i, rule in enumerate(rules):
        if firable(rule):
            by_var[rule.var].append(i)
    found: list[tuple[int, int]] = []
    for members in by_var.values():
        found.extend(_overlaps([rules[i] for i in members], members, reach))
    yield from sorted(found)


def _overlaps(
    rules: list[sparse.Rule], ids: list[int], reach: Reachable
) -> Iterator[tuple[int, int]]:
    """The pairs (ids, sorted) of `rules` that no variable separates."""
    n = len(rules)
    # Rule programs share atom objects: work out each one's reachable values once.
    values_of: dict[int, list[sparse.Value]] = {}
    allowing: dict[str, dict[sparse.Value, list[int]]] = defaultdict(lambda: defaultdict(list))
    tested: dict[str, set[int]] = defaultdict(set)
    for j, rule in enumerate(rules):
        for atom in rule.atoms:
            values = values_of.get(id(atom))
            if values is None:
                values = values_of[id(atom)] = list(atom.values & reach[atom.var])
            tested[atom.var].add(j)
            for value in values:
                allowing[atom.var][value].append(j)
    sets = {
        var: (
            bitset((j for j in range(n) if j not in tested[var]), n),
            {v: bitset(js, n) for v, js in by_value.items()},
        )
        for var, by_value in allowing.items()
    }
    meets_of: dict[int, int] = {}  # id(atom) -> the rules it can fire with
    everything = (1 << n) - 1
    for j, rule in enumerate(rules):
        together = everything
        for atom in rule.atoms:
            meets = meets_of.get(id(atom))
            if meets is None:
                whole, by_value = sets[atom.var]
                meets = whole
                for value in values_of[id(atom)]:
                    meets |= by_value[value]
                meets_of[id(atom)] = meets
            together &= meets
        together >>= j + 1  # pairs with later rules only
        while together:
            low = together & -together
            yield ids[j], ids[j + low.bit_length()]
            together ^= low


def bitset(members: Iterable[int], n: int) -> int:
    """The int with bit j set for each j in `members`, all j below n (built at once: bit
    by bit would copy the int each time)."""
    members = list(members)
    if not members:
        return 0
    flags = np.zeros(n, dtype=bool)
    flags[members] = True
    return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")
