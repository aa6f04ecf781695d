"""`canonicalize`: one order for rules and atoms, so printed IR is the same under any hash seed."""

from __future__ import annotations

import operator
from typing import Any, ClassVar

import attrs

from alta.ir import sparse
from alta.ir.types import Level
from alta.passes import base, gc_pause

AtomKey = tuple[int, tuple[Any, ...]]


@attrs.frozen
class CanonicalizePass(base.Pass):
    """Sort atoms and equalities by variable, drop duplicate rules, order rules by the
    variable they write."""

    name: ClassVar[str] = "canonicalize"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        with gc_pause.paused():
            return _canonical(module)


def _canonical(module: sparse.Module) -> sparse.Module:
    names = list(module.variables)
    order = {name: i for i, name in enumerate(names)}
    # Rule programs repeat their atoms many times over: key each atom object once (by
    # identity, which is safe while the module holds them all).
    atom_keys: dict[int, AtomKey] = {}

    def atom_key(atom: sparse.Atom) -> AtomKey:
        if len(atom.values) == 1:
            values: tuple[Any, ...] = (_value_key(next(iter(atom.values))),)
        else:
            values = tuple(sorted(_value_key(v) for v in atom.values))
        key = atom_keys[id(atom)] = (order[atom.var], values)
        return key

    get = atom_keys.get
    keyed: dict[tuple[Any, ...], sparse.Rule] = {}
    for rule in module.rules:
        keys = tuple([get(id(a)) or atom_key(a) for a in rule.atoms])
        ordered = sorted(keys, key=_first)  # (stable: ties stay as they are)
        if ordered != list(keys):
            pairs = sorted(zip(keys, rule.atoms, strict=True), key=lambda p: p[0][0])
            keys = tuple(k for k, _ in pairs)
            rule = attrs.evolve(rule, atoms=tuple(a for _, a in pairs))
        equals: tuple[tuple[int, int], ...] = ()
        if rule.equals:
            ends = ((order[x], order[y]) for x, y in rule.equals)
            equals = tuple(sorted((min(i, j), max(i, j)) for i, j in ends))
            canonical = tuple((names[i], names[j]) for i, j in equals)
            if canonical != rule.equals:
                rule = attrs.evolve(rule, equals=canonical)
        # Equal rules get equal keys (atoms sorted by variable, values by value), and
        # the first of them is kept.
        key = (order[rule.var], _value_key(rule.new), keys, equals, rule.dont_care_none)
        keyed.setdefault(key, rule)
    rules = tuple(rule for _, rule in sorted(keyed.items(), key=lambda item: item[0][:4]))
    same = len(rules) == len(module.rules) and all(
        a is b for a, b in zip(rules, module.rules, strict=True)
    )
    return module if same else attrs.evolve(module, rules=rules)


_first = operator.itemgetter(0)


def _value_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if isinstance(value, frozenset):
        return (1, len(value), tuple(sorted(value)))
    return (2, value)
