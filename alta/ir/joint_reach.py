"""Reachable *pairs* of values: a relational refinement of `analysis.reachable_values`.

Two rules that test different variables, say `should_reset == 1` and `is_next_nt == 1`,
look compatible to a per-variable analysis even when no run ever holds both values at
once. For such a pair (u, v) this computes the set of (u, v) values that can be held
together at the start of a layer, as a fixed point:

- it starts from the initial state (two token-initialised variables start from the
  same token, two position-initialised ones from the same position);
- from a held pair (a, b), one layer can give (a', b') where a' is the new value of a rule
  writing u, or a itself unless some rule writing u must fire; b' likewise for v; and
  the two rules can fire together while u == a and v == b (per-variable reachability for
  every other variable).

It over-approximates, like the per-variable analysis, so "not reachable" is a proof.
Head outputs are not tracked (they are recomputed every layer): a pair with one is never
refined.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

from alta.ir import analysis, sparse
from alta.ir.analysis import Reachable, can_fire, can_fire_together

Pair = tuple[sparse.Value, sparse.Value]

#: A pair whose fixed point takes more rule checks than this is not refined.
MAX_WORK = 2_000_000


class JointReach:
    """Reachable value pairs of variable pairs, computed on demand and memoised."""

    def __init__(
        self, module: sparse.Module, reach: Reachable, base: JointReach | None = None
    ) -> None:
        self.module, self.reach, self.base = module, reach, base
        self.writers: dict[str, list[sparse.Rule]] = defaultdict(list)
        for rule in module.rules:
            if can_fire(rule, reach):
                self.writers[rule.var].append(rule)
        self.memo: dict[tuple[str, str], frozenset[Pair] | None] = {}

    def with_pairs(self) -> JointReach:
        """A second round: while tracking (u, v), a third variable w tested by a rule is
        limited to the values this round's pairs (u, w) and (v, w) allow."""
        return JointReach(self.module, self.reach, base=self)

    def given(self, u: str, a: sparse.Value, w: str) -> frozenset[sparse.Value]:
        """The values w may hold while u holds a (all reachable ones when not tracked)."""
        held = self.pairs(u, w)
        if held is None:
            return self.reach[w]
        return frozenset(y for x, y in held if x == a)

    def pairs(self, u: str, v: str) -> frozenset[Pair] | None:
        """The (u, v) values held together at some layer start; None when not tracked."""
        key = (u, v)
        if key not in self.memo:
            self.memo[key] = self._fixed_point(u, v)
        return self.memo[key]

    def separates(self, a: sparse.Rule, b: sparse.Rule) -> bool:
        """True when some pair of variables, one tested only by each rule, proves that the
        two rules never fire at once."""
        atoms_a = {atom.var: atom.values for atom in a.atoms}
        atoms_b = {atom.var: atom.values for atom in b.atoms}
        for u, v in itertools.product(atoms_a.keys() - atoms_b, atoms_b.keys() - atoms_a):
            held = self.pairs(u, v)
            if held is not None and not any(x in atoms_a[u] and y in atoms_b[v] for x, y in held):
                return True
        return False

    def _fixed_point(self, u: str, v: str) -> frozenset[Pair] | None:
        variables = self.module.variables
        if variables[u].is_head_output or variables[v].is_head_output:
            return None
        xs, ys = self.writers[u], self.writers[v]
        third = {atom.var for r in (*xs, *ys) for atom in r.atoms} - {u, v}
        by_x = _index(xs, u, self.reach[u])
        by_y = _index(ys, v, self.reach[v])
        held = set(self._initial(u, v))
        todo = list(held)
        work = 0
        while todo:
            a, b = todo.pop()
            local = {**self.reach, u: frozenset({a}), v: frozenset({b})}
            if self.base is not None:
                for w in third:
                    local[w] = self.reach[w] & self.base.given(u, a, w) & self.base.given(v, b, w)
            candidates = [r for r in by_x[a] if _allows(r, v, b)] + [
                r for r in by_y[b] if _allows(r, u, a)
            ]
            work += len(candidates)
            fire_x = [r for r in candidates if r.var == u and can_fire(r, local)]
            fire_y = [r for r in candidates if r.var == v and can_fire(r, local)]
            stay_x = not any(_must_fire(r, local) for r in fire_x)
            stay_y = not any(_must_fire(r, local) for r in fire_y)
            nexts = set()
            if stay_y:
                nexts |= {(r.new, b) for r in fire_x}
            if stay_x:
                nexts |= {(a, r.new) for r in fire_y}
            if stay_x and stay_y:
                nexts.add((a, b))
            for rx, ry in itertools.product(fire_x, fire_y):
                if (rx.new, ry.new) not in nexts:
                    work += 1
                    if can_fire_together(rx, ry, local):
                        nexts.add((rx.new, ry.new))
            if work > MAX_WORK:
                return None  # too costly to track: not refined
            for pair in nexts - held:
                held.add(pair)
                todo.append(pair)
        return frozenset(held)

    def _initial(self, u: str, v: str) -> set[Pair]:
        iu, iv = self.module.variables[u].init, self.module.variables[v].init
        if iu.source == iv.source and iu.source in ("token", "position"):
            return set(zip(iu.table, iv.table, strict=False))
        return set(itertools.product(iu.values(), iv.values()))


def _index(
    rules: list[sparse.Rule], var: str, values: frozenset[sparse.Value]
) -> dict[sparse.Value, list[sparse.Rule]]:
    """For each value of `var`, the rules whose atom on `var` (if any) allows it."""
    return {value: [r for r in rules if _allows(r, var, value)] for value in values}


def _allows(rule: sparse.Rule, var: str, value: sparse.Value) -> bool:
    atom = rule.atom(var)
    return atom is None or value in atom.values


def _must_fire(rule: sparse.Rule, known: Reachable) -> bool:
    """Every value each tested variable may hold satisfies the rule's atom on it."""
    return all(known[atom.var] <= atom.values for atom in rule.atoms)


def unproven_conflicts(
    module: sparse.Module, reach: Reachable | None = None
) -> list[tuple[int, int]]:
    """Rule pairs that write one variable and that neither the per-variable analysis nor
    reachable pairs can prove never fire together."""
    reach = reach if reach is not None else analysis.reachable_values(module)
    rules = module.rules
    pairs = list(analysis.conflicts(module, reach))
    joint = JointReach(module, reach)
    for refined in (joint, joint.with_pairs()):
        if not pairs:
            break
        pairs = [(i, j) for i, j in pairs if not refined.separates(rules[i], rules[j])]
    return pairs
