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
from typing import Any

from alta.ir import analysis, sparse
from alta.ir.analysis import Reachable

Pair = tuple[sparse.Value, sparse.Value]

#: A pair whose fixed point takes more rule checks than this is not refined.
MAX_WORK = 2_000_000


class JointReach:
    """Reachable value pairs of variable pairs, computed on demand and memoised."""

    def __init__(
        self, module: sparse.Module, reach: Reachable, base: JointReach | None = None
    ) -> None:
        self.module, self.reach, self.base = module, reach, base
        self.writers: dict[str, list[sparse.Rule]]
        if base is not None:
            self.writers = base.writers
        else:
            self.writers = defaultdict(list)
            firable = analysis.FiringCheck(reach)
            for rule in module.rules:
                if firable(rule):
                    self.writers[rule.var].append(rule)
        self.memo: dict[tuple[str, str], frozenset[Pair] | None] = {}
        #: (u, w) -> for each value of u, the values of w held with it (`given`)
        self.by_first: dict[tuple[str, str], dict[sparse.Value, frozenset[sparse.Value]]] = {}
        self.untracked: set[tuple[str, str]] = set()
        #: (u, v, values of u, values of v) -> whether no held pair has both
        self.apart: dict[tuple[str, str, frozenset[Any], frozenset[Any]], bool] = {}

    def with_pairs(self) -> JointReach:
        """A second round: while tracking (u, v), a third variable w tested by a rule is
        limited to the values this round's pairs (u, w) and (v, w) allow."""
        return JointReach(self.module, self.reach, base=self)

    def given(self, u: str, a: sparse.Value, w: str) -> frozenset[sparse.Value]:
        """The values w may hold while u holds a (all reachable ones when not tracked)."""
        by_value = self.by_first.get((u, w))
        if by_value is None:
            held = self.pairs(u, w)
            grouped: dict[sparse.Value, set[sparse.Value]] = defaultdict(set)
            for x, y in held or ():
                grouped[x].add(y)
            by_value = {x: frozenset(ys) for x, ys in grouped.items()}
            self.by_first[(u, w)] = by_value if held is not None else {}
            if held is None:
                self.untracked.add((u, w))
        if (u, w) in self.untracked:
            return self.reach[w]
        return by_value.get(a, frozenset())

    def pairs(self, u: str, v: str) -> frozenset[Pair] | None:
        """The (u, v) values held together at some layer start; None when not tracked."""
        key = (u, v)
        if key not in self.memo:
            if (v, u) in self.memo:  # the fixed point is symmetric: transpose it
                other = self.memo[(v, u)]
                self.memo[key] = None if other is None else frozenset((x, y) for y, x in other)
            else:
                self.memo[key] = self._fixed_point(u, v)
        return self.memo[key]

    def separates(self, a: sparse.Rule, b: sparse.Rule) -> bool:
        """True when some pair of variables, one tested only by each rule, proves that the
        two rules never fire at once. Pairs already known are tried first, then those with
        the fewest value pairs (the cheapest fixed points), so that one proof spares the
        costlier ones. An equality of one rule that the other's atoms contradict is a
        proof too."""
        if _equality_apart(a, b, self.reach) or _equality_apart(b, a, self.reach):
            return True
        atoms_a = {atom.var: atom.values for atom in a.atoms}
        atoms_b = {atom.var: atom.values for atom in b.atoms}
        reach, memo = self.reach, self.memo
        candidates = sorted(
            itertools.product(atoms_a.keys() - atoms_b, atoms_b.keys() - atoms_a),
            key=lambda p: (
                p not in memo and p[::-1] not in memo,
                len(reach[p[0]]) * len(reach[p[1]]),
                p,
            ),
        )
        for u, v in candidates:
            key = (u, v, atoms_a[u], atoms_b[v])  # many rule pairs differ only elsewhere
            apart = self.apart.get(key)
            if apart is None:
                held = self.pairs(u, v)
                apart = held is not None and not any(
                    x in atoms_a[u] and y in atoms_b[v] for x, y in held
                )
                self.apart[key] = apart
            if apart:
                return True
        return False

    def _fixed_point(self, u: str, v: str) -> frozenset[Pair] | None:
        variables = self.module.variables
        if variables[u].is_head_output or variables[v].is_head_output:
            return None
        xs, ys = self.writers[u], self.writers[v]
        # Each writer's atoms as a dict, made once: the loop below reads them many times.
        atoms = {id(r): {a.var: a.values for a in r.atoms} for r in (*xs, *ys)}
        third = {w for r in (*xs, *ys) for w in atoms[id(r)]} - {u, v}
        by_x = _index(xs, u, self.reach[u], atoms)
        by_y = _index(ys, v, self.reach[v], atoms)
        held = set(self._initial(u, v))
        todo = list(held)
        work = 0
        while todo:
            a, b = todo.pop()
            local = {**self.reach, u: frozenset({a}), v: frozenset({b})}
            if self.base is not None:
                for w in third:
                    local[w] = self.reach[w] & self.base.given(u, a, w) & self.base.given(v, b, w)
            fire_x: list[sparse.Rule] = []
            fire_y: list[sparse.Rule] = []
            for rules, fire, other, value in ((by_x[a], fire_x, v, b), (by_y[b], fire_y, u, a)):
                for r in rules:
                    tested = atoms[id(r)]
                    if other in tested and value not in tested[other]:
                        continue
                    work += 1
                    if all(not vals.isdisjoint(local[w]) for w, vals in tested.items()):
                        fire.append(r)
            # A rule with equalities (`%x == %y`) may not fire: it never forces a write.
            stay_x = not any(not r.equals and _must_fire(atoms[id(r)], local) for r in fire_x)
            stay_y = not any(not r.equals and _must_fire(atoms[id(r)], local) for r in fire_y)
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
                    if _meet(atoms[id(rx)], atoms[id(ry)], local):
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


def _equality_apart(a: sparse.Rule, b: sparse.Rule, reach: Reachable) -> bool:
    """Some `%x == %y` of `a` cannot hold where both rules' atoms do: no defined value is
    left to both x and y."""
    for x, y in a.equals:
        xs = a.allows(x, b.allows(x, reach[x]))
        ys = a.allows(y, b.allows(y, reach[y]))
        if (xs & ys) <= {None}:
            return True
    return False


def _index(
    rules: list[sparse.Rule],
    var: str,
    values: frozenset[sparse.Value],
    atoms: dict[int, dict[str, frozenset[sparse.Value]]],
) -> dict[sparse.Value, list[sparse.Rule]]:
    """For each value of `var`, the rules whose atom on `var` (if any) allows it."""
    out: dict[sparse.Value, list[sparse.Rule]] = {value: [] for value in values}
    for r in rules:
        allowed = atoms[id(r)].get(var)
        for value in values if allowed is None else allowed & values:
            out[value].append(r)
    return out


def _must_fire(atoms: dict[str, frozenset[sparse.Value]], known: Reachable) -> bool:
    """Every value each tested variable may hold satisfies the rule's atom on it."""
    return all(known[var] <= values for var, values in atoms.items())


def _meet(
    a: dict[str, frozenset[sparse.Value]], b: dict[str, frozenset[sparse.Value]], known: Reachable
) -> bool:
    """No variable both rules test separates them among its `known` values (each can fire
    on its own: the caller checked)."""
    for var, values in a.items():
        other = b.get(var)
        if other is not None and (values & other).isdisjoint(known[var]):
            return False
    return True


def unproven_conflicts(
    module: sparse.Module, reach: Reachable | None = None
) -> list[tuple[int, int]]:
    """Rule pairs that write one variable and that neither the per-variable analysis nor
    reachable pairs can prove never fire together."""
    reach = reach if reach is not None else analysis.reachable_values(module)
    rules = module.rules
    pairs = list(analysis.conflicts(module, reach))
    if not pairs:
        return pairs  # (the usual case: spare indexing every rule's writers)
    joint = JointReach(module, reach)
    for refined in (joint, joint.with_pairs()):
        if not pairs:
            break
        pairs = [(i, j) for i, j in pairs if not refined.separates(rules[i], rules[j])]
    return pairs
