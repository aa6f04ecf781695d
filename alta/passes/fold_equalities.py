"""`fold-equalities`: one rule that tests `%x == %y` where rules repeat over shared values.

Rule programs spell "if position == b" by enumeration: one rule per value v, with atoms
`%position in {v}, %b in {v}` and everything else the same. Over the values D of such a
group the rules fire exactly where `%x == %y` and `%x in D` hold (the union over v in D of
x = v and y = v), so one rule with that equality replaces them all.

The lowering gives each compared pair one expansion unit per value both may hold
(docs/encodings.md), shared by every rule that compares it. So a pair is folded only where
it saves more rules than it adds units, and a variable's rules only when every one of them
pins that pair: then all of them share the equality, and `minimize-rules` (which runs
after this pass in the default pipeline) minimises them together as before.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any, ClassVar

import attrs

from alta.ir import sparse
from alta.ir.types import Level
from alta.passes import base, context

Pair = tuple[str, str]


@attrs.frozen
class FoldEqualitiesPass(base.Pass):
    """Replace rules that enumerate `x = v, y = v` over shared values with `%x == %y`."""

    name: ClassVar[str] = "fold-equalities"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        result = fold(module)
        if result is not module:
            context.current().record("rules", len(module.rules), len(result.rules))
        return result


def fold(module: sparse.Module) -> sparse.Module:
    pairs = _Pairs(module)
    by_var: dict[str, list[int]] = defaultdict(list)
    for i, rule in enumerate(module.rules):
        by_var[rule.var].append(i)
    plans: dict[Pair, list[dict[tuple[Any, ...], dict[Any, int]]]] = defaultdict(list)
    for indices in by_var.values():
        best = max(
            (_plan(module, pairs, indices, pair) for pair in pairs.common(indices)),
            key=lambda plan: (len(indices) - len(plan[1]), plan[0]),
            default=None,
        )
        if best is not None and len(best[1]) < len(indices):
            plans[best[0]].append(best[1])
    replaced: dict[int, sparse.Rule | None] = {}  # rule index -> its fold, or None: gone
    for pair, groups_of_vars in plans.items():
        saved = sum(len(m) - 1 for groups in groups_of_vars for m in groups.values())
        if saved <= len(_shared(module, pair)):
            continue  # the pair's equality units would outnumber the rules saved
        for groups in groups_of_vars:
            for key, members in groups.items():
                first, *rest = sorted(members.values())
                var = module.rules[first].var
                replaced[first] = _folded(module, pair, var, key, frozenset(members), pairs)
                replaced.update(dict.fromkeys(rest))
    if not replaced:
        return module
    kept = (replaced.get(i, rule) for i, rule in enumerate(module.rules))
    rules = tuple(rule for rule in kept if rule is not None)
    return attrs.evolve(module, rules=rules)


def _plan(
    module: sparse.Module, pairs: _Pairs, indices: list[int], pair: Pair
) -> tuple[Pair, dict[tuple[Any, ...], dict[Any, int]]]:
    """The groups of the rules `indices` (one variable's) under `pair`: (the rest of the
    rule) -> {shared value v: index of the rule with x = y = v}. A duplicate rule (same
    group, same v) goes with its group."""
    groups: dict[tuple[Any, ...], dict[Any, int]] = defaultdict(dict)
    for i in indices:
        rule = module.rules[i]
        value, rest = pairs.of(i)[pair]
        members = groups[(rule.new, rule.dont_care_none, rule.equals, rest)]
        members[value if value not in members else (value, i)] = i
    return pair, groups


class _Pairs:
    """Per rule, the pairs of variables its atoms pin to one shared value, with the value
    and the rest of its atoms (as small ints, one per distinct atom: rule programs share
    atom objects, and hashing atoms is slow). Worked out on demand, rule by rule."""

    def __init__(self, module: sparse.Module) -> None:
        self.module = module
        self.categorical = {n for n, v in module.variables.items() if v.kind == sparse.CATEGORICAL}
        self.seen: dict[int, tuple[int, tuple[Any, str, int] | None]] = {}
        self.tokens: dict[sparse.Atom, int] = {}
        self.atoms_of: dict[int, sparse.Atom] = {}
        self.memo: dict[int, dict[Pair, tuple[Any, frozenset[int]]]] = {}

    def common(self, indices: list[int]) -> list[Pair]:
        """The pairs every one of these rules pins (none, mostly, found early): those of
        the first rule, then a cheap test per pair of each next rule."""
        shared = list(self.of(indices[0]))
        rules = self.module.rules
        for i in indices[1:]:
            if not shared:
                break
            shared = [(x, y) for x, y in shared if _pins(rules[i], x, y)]
        return sorted(shared)

    def of(self, i: int) -> dict[Pair, tuple[Any, frozenset[int]]]:
        found = self.memo.get(i)
        if found is None:
            found = self.memo[i] = self._pairs(self.module.rules[i])
        return found

    def _pairs(self, rule: sparse.Rule) -> dict[Pair, tuple[Any, frozenset[int]]]:
        keyed = []
        singles = []
        for atom in rule.atoms:
            known = self.seen.get(id(atom))
            if known is None:
                token = self.tokens.setdefault(atom, len(self.tokens))
                self.atoms_of[token] = atom
                single = None
                if len(atom.values) == 1 and atom.var in self.categorical:
                    value = next(iter(atom.values))
                    single = None if value is None else (value, atom.var, token)
                known = self.seen[id(atom)] = (token, single)
            keyed.append(known[0])
            if known[1] is not None and known[1][1] != rule.var:
                singles.append(known[1])
        if len(singles) < 2 or len({s[0] for s in singles}) == len(singles):
            return {}  # no two atoms test one value
        singles.sort()
        out = {}
        for a, b in itertools.combinations(singles, 2):
            if a[0] == b[0]:
                out[(a[1], b[1])] = (a[0], frozenset(keyed) - {a[2], b[2]})
        return out


def _pins(rule: sparse.Rule, x: str, y: str) -> bool:
    """Whether `rule`'s atoms pin `x` and `y` to one (defined) value."""
    a, b = rule.atom(x), rule.atom(y)
    return (
        a is not None
        and b is not None
        and len(a.values) == 1
        and a.values == b.values
        and None not in a.values
    )


def _shared(module: sparse.Module, pair: Pair) -> set[Any]:
    x, y = (module.variables[n] for n in pair)
    return set(x.values) & set(y.values)


def _folded(
    module: sparse.Module,
    pair: Pair,
    var: str,
    key: tuple[Any, ...],
    members: frozenset[Any],
    pairs: _Pairs,
) -> sparse.Rule:
    """The rule of one group: its other atoms, `%x == %y`, and `%x in D` unless D holds
    every value the two share."""
    new, dont_care_none, equals, rest = key
    values = frozenset(v for v in members if not isinstance(v, tuple))
    atoms = [pairs.atoms_of[t] for t in sorted(rest)]
    if not _shared(module, pair) <= values:
        atoms.append(sparse.Atom(pair[0], values))
    return sparse.Rule(tuple(atoms), var, new, dont_care_none, (*equals, pair))
