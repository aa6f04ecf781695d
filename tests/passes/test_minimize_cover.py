"""minimize-rules on explicit rule programs: the minimised rules agree with the lowered
ones on every state of the per-variable reachable values, and beat pairwise merging.

The programs are written here as `MLPBuilder` enumerations (like the paper's rule
programs), over a few small variables, some with values no run reaches and one head
output (None reachable). Every state of the product of reachable values is checked, with
`interp.sparse.rule_matches` evaluating the atoms.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import attrs
import numpy as np
import pytest

from alta import lang as pb
from alta.interp import sparse as interp_sparse
from alta.interp import state as st
from alta.ir import analysis, sparse
from alta.passes import canonicalize, minimize_rules
from alta.passes import lower_symbolic_to_sparse as to_sparse

MINIMIZE = minimize_rules.MinimizeRulesPass()
KEEP = object()  # no rule writes the variable, or the one that fires writes what it holds
UNDEFINED = -1  # a write of None (`w` may then hold None)


def _random_program(seed: int) -> Any:
    """Enumerated rules over small variables. `c` only ever holds 0 or its rules' values
    (its range is larger), `h` is a head output and `w` may be written None (None is
    reachable for both). Each written variable gets a random table of writes, or the
    value of the first of a few random boxes that holds the state (regions, which
    merging pairs of rules does poorly on)."""
    rng = random.Random(seed)
    variables = {
        "a": pb.input_var(3),
        "b": pb.input_var(3, init_fn=lambda t: (t + 1) % 3),
        "c": pb.var(4),
        "w": pb.input_var(3, init_fn=lambda t: t // 2),
    }
    heads = {"h": pb.qkv("a", "a", "b")}
    mlp = pb.MLPBuilder(variables, heads)
    names = ["a", "b", "c", "w", "h"]
    for written in rng.sample(["b", "c", "w"], 2):
        reads = rng.sample([n for n in names if n != written], rng.randint(1, 3))
        values = [*range(2 if written == "c" else 3), *([UNDEFINED] * (written == "w"))]
        boxes = [
            ([set(rng.sample(range(3), rng.randint(1, 2))) for _ in reads], rng.choice(values))
            for _ in range(rng.randint(1, 4))
        ]
        tabled = rng.random() < 0.3
        for combo in mlp.get(*reads):
            combo = combo if len(reads) > 1 else (combo,)
            new = rng.choice([None, None, *values]) if tabled else _box(boxes, combo)
            if new is not None:
                mlp.set(written, None if new is UNDEFINED else new)
    return pb.program_spec_from_rules(variables, heads, mlp.rules, "w", 3, name=f"r{seed}")


def _box(boxes: list[tuple[list[set[int]], int]], combo: tuple[int, ...]) -> int | None:
    """The value of the first box that holds `combo`, or None."""
    for sides, value in boxes:
        if all(v in side for v, side in zip(combo, sides, strict=True)):
            return value
    return None


def _grid(rules: list[tuple[dict[str, set[int]], int]]) -> sparse.Module:
    """IR2 over `a` and `b` (0..2, from the token, every pair reachable) and `w` (0 or
    1), with `rules` given as (atoms, value written to `w`)."""
    variables = {
        "a": pb.input_var(3, init_fn=lambda t: t % 3),
        "b": pb.input_var(3, init_fn=lambda t: t // 3),
        "w": pb.var(2),
    }
    mlp = pb.MLPBuilder(variables, {})
    mlp.set("w", 1)  # any rule: the lowering gives the domains, `rules` replace it
    module = to_sparse.lower(pb.program_spec_from_rules(variables, {}, mlp.rules, "w", 9))
    return attrs.evolve(
        module,
        rules=tuple(
            sparse.Rule(tuple(sparse.Atom(n, frozenset(v)) for n, v in atoms.items()), "w", new)
            for atoms, new in rules
        ),
    )


def _effects(module: sparse.Module, reach: analysis.Reachable) -> dict[str, list[Any]]:
    """For each written variable, its write in every state of the reachable product (in
    `itertools.product` order): the value, or KEEP. Asserts at most one rule fires."""
    names = list(module.variables)
    states = list(itertools.product(*(sorted(reach[n], key=_order) for n in names)))
    layout = interp_sparse.ModuleLayout.of(module)
    raw = {
        n: np.asarray([st.encode(layout.vars[n], s[k]) for s in states])
        for k, n in enumerate(names)
    }
    hits = interp_sparse.rule_matches(module, layout.vars, raw)
    out: dict[str, list[Any]] = {}
    for var in {r.var for r in module.rules}:
        k = names.index(var)
        ids = [i for i, r in enumerate(module.rules) if r.var == var]
        effects = []
        for s, row in zip(states, hits, strict=True):
            fired = [module.rules[i].new for i in ids if row[i]]
            assert len(fired) <= 1, f"two rules write {var} in state {s}"
            effects.append(KEEP if not fired or fired[0] == s[k] else fired[0])
        out[var] = effects
    return out


def _order(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def _check_equivalent(before: sparse.Module, after: sparse.Module) -> None:
    reach = analysis.reachable_values(before)
    want, got = _effects(before, reach), _effects(after, reach)
    for var in want.keys() | got.keys():
        states = len(next(iter(want.values())))
        assert got.get(var, [KEEP] * states) == want.get(var, [KEEP] * states), var


def _pairwise_size(module: sparse.Module) -> int:
    """How many rules the earlier minimize-rules left: merge rules that write one value
    and differ in one atom, drop atoms that hold every reachable value, repeat."""
    reach = analysis.reachable_values(module)
    rules = [
        r
        for r in module.rules
        if analysis.can_fire(r, reach) and r.allows(r.var, reach[r.var]) - {r.new}
    ]
    while True:
        groups: dict[Any, list[sparse.Rule]] = {}
        for r in rules:
            key = (r.var, r.new, r.dont_care_none, tuple(a.var for a in r.atoms))
            groups.setdefault(key, []).append(r)
        merged = [m for group in groups.values() for m in _merge_one_atom(group)]
        merged = list(dict.fromkeys(_drop_full_atoms(r, reach) for r in merged))
        if merged == rules:
            return len(rules)
        rules = merged


def _merge_one_atom(group: list[sparse.Rule]) -> list[sparse.Rule]:
    for k in range(len(group[0].atoms)):
        buckets: dict[Any, list[sparse.Rule]] = {}
        for r in group:
            buckets.setdefault(r.atoms[:k] + r.atoms[k + 1 :], []).append(r)
        if any(len(b) > 1 for b in buckets.values()):
            return [
                attrs.evolve(
                    b[0],
                    atoms=(
                        *rest[:k],
                        sparse.Atom(
                            b[0].atoms[k].var, frozenset().union(*(r.atoms[k].values for r in b))
                        ),
                        *rest[k:],
                    ),
                )
                for rest, b in buckets.items()
            ]
    return group


def _drop_full_atoms(rule: sparse.Rule, reach: analysis.Reachable) -> sparse.Rule:
    def full(atom: sparse.Atom) -> bool:
        none_ok = None not in reach[atom.var] or (rule.dont_care_none and atom.var != rule.var)
        return reach[atom.var] - {None} <= atom.values and none_ok

    return attrs.evolve(rule, atoms=tuple(a for a in rule.atoms if not full(a)))


@pytest.mark.parametrize("seed", range(40))
def test_minimised_rules_agree_on_every_reachable_state(seed: int) -> None:
    module = canonicalize.CanonicalizePass().run(to_sparse.lower(_random_program(seed)))
    minimised = MINIMIZE.run(module)
    _check_equivalent(module, minimised)
    assert len(minimised.rules) <= _pairwise_size(module)
    minimize_rules._DONE.clear()  # minimise again, not from the memo of the first run
    assert MINIMIZE.run(minimised) is minimised


def test_no_op_writes_are_dont_cares() -> None:
    """`if w == 0: w := 1` where a < 2 (the paper's `_set_from_zero`), `w := 1` where
    a == 2: writing 1 where w already is 1 changes nothing, so one rule does both."""
    module = _grid([({"a": {0, 1}, "w": {0}}, 1), ({"a": {2}}, 1)])
    minimised = MINIMIZE.run(module)
    _check_equivalent(module, minimised)
    assert _pairwise_size(module) == 2
    assert [(r.atoms, r.new) for r in minimised.rules] == [((), 1)]


def test_cubes_that_no_two_merge_become_one() -> None:
    """A pinwheel of five rules tiles the 3 x 3 grid; no two differ in one atom only."""
    boxes = [({0, 1}, {0}), ({2}, {0, 1}), ({1, 2}, {2}), ({0}, {1, 2}), ({1}, {1})]
    module = _grid([({"a": a, "b": b, "w": {0}}, 1) for a, b in boxes])
    minimised = MINIMIZE.run(module)
    _check_equivalent(module, minimised)
    assert _pairwise_size(module) == 5
    assert [(r.atoms, r.new) for r in minimised.rules] == [((), 1)]


def test_a_rule_that_may_fire_with_another_is_not_widened_into_it() -> None:
    """Rules that overlap (undefined behaviour where both fire) are merged pairwise only."""
    module = _grid([({"a": {0, 1}}, 1), ({"a": {1, 2}, "b": {0}}, 1)])
    minimised = MINIMIZE.run(module)
    assert len(minimised.rules) == 2


def test_random_programs_shrink_below_pairwise_merging() -> None:
    smaller = 0
    for seed in range(200):
        module = canonicalize.CanonicalizePass().run(to_sparse.lower(_random_program(seed)))
        smaller += len(MINIMIZE.run(module).rules) < _pairwise_size(module)
    assert smaller >= 2
