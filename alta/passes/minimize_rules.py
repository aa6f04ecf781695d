"""`minimize-rules`: fewer, wider rules that write the same in every reachable state.

- Drop rules that can never fire (an atom with no reachable value) and rules that only
  ever write the value their variable already holds.
- Per written variable, two-level minimisation over multi-valued cubes (`rule_cubes`:
  one mask per tested variable over its reachable values): merge cubes that write one
  value and differ in one variable, then, when the rules are disjoint, expand and reduce
  them Espresso-style (`expand_cubes`), with the states where the variable already
  holds the value written as don't-cares. An atom that covers its variable's whole
  reachable domain is no atom. Rules writing one variable stay disjoint. Rules under
  equalities (`%x == %y`) are minimised only where every rule writing the variable has
  the same ones.
With `dataset=` (a JSON file with a list of token lists) or `inputs=` (in text,
`inputs="2 1 0 1;2 1 1"`: sequences separated by ';', tokens by spaces), rules
that the module never fires on those inputs are dropped too: the program that is minimal
with respect to that data (the paper's condition for stable trace supervision).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, ClassVar

import attrs

from alta import progress
from alta.interp import sparse as interp_sparse
from alta.ir import analysis, sparse
from alta.ir.types import Level
from alta.passes import base, context, expand_cubes, gc_pause, rule_cubes


@attrs.frozen
class MinimizeRulesPass(base.Pass):
    """Merge and drop rules without changing what any reachable state computes."""

    name: ClassVar[str] = "minimize-rules"
    level: ClassVar[Level] = Level.SPARSE
    dataset: str | None = attrs.field(
        default=None,
        metadata={"help": "JSON file with a list of token lists; keep only rules they fire"},
    )
    max_layers: int | None = attrs.field(
        default=None, metadata={"help": "layers to run on `dataset`/`inputs`"}
    )
    inputs: tuple[tuple[int, ...], ...] | None = attrs.field(
        default=None,
        converter=lambda x: None if x is None else tuple(tuple(s) for s in x),
        metadata={"help": 'inputs given inline, e.g. inputs="2 1 0 1;2 1 1"'},
    )

    def run(self, module: sparse.Module) -> sparse.Module:
        rules = module.rules
        samples = self._samples()
        if samples is not None:
            fired = fired_rules(module, samples, self.max_layers)
            rules = tuple(r for i, r in enumerate(rules) if i in fired)
        with gc_pause.paused():
            rules = minimize(
                attrs.evolve(module, rules=rules) if rules is not module.rules else module
            )
        ctx = context.current()
        ctx.record("rules", len(module.rules), len(rules))
        if samples is not None:
            ctx.note(
                f"dataset coverage: {len(fired)} of {len(module.rules)} rules fired on "
                f"{len(samples)} inputs"
            )
        if rules == module.rules:
            return module
        return attrs.evolve(module, rules=rules)

    def _samples(self) -> list[list[int]] | None:
        if self.inputs is not None:
            return [list(s) for s in self.inputs]
        if self.dataset is not None:
            with open(self.dataset) as f:
                return [list(s) for s in json.load(f)]
        return None


def fired_rules(
    module: sparse.Module, inputs: list[list[int]], max_layers: int | None
) -> frozenset[int]:
    """Indices of the rules that fire at least once when the module runs on `inputs`."""
    return interp_sparse.run(module, inputs, max_layers).fired


def minimize(module: sparse.Module) -> tuple[sparse.Rule, ...]:
    reach = analysis.reachable_values(module)
    by_var: dict[str, list[sparse.Rule]] = defaultdict(list)
    for rule in module.rules:
        by_var[rule.var].append(rule)
    out: list[sparse.Rule] = []
    # A large rule set takes seconds; past one, a bar counts the rules done.
    with progress.task(f"minimize-rules: {len(module.rules)} rules", len(module.rules)) as bar:
        for var, rules in by_var.items():
            out.extend(minimize_variable(var, rules, reach))
            bar.advance(len(rules))
    return tuple(out)


def minimize_variable(
    var: str, rules: list[sparse.Rule], reach: analysis.Reachable
) -> list[sparse.Rule]:
    """The rules writing `var`, minimised as a disjoint multi-valued cover when they are
    disjoint (`expand_cubes`), else by merging cubes that differ in one variable, until
    that gives no fewer rules or atoms (so a second run changes nothing); `rules` itself
    when the first does not."""
    if len({r.equals for r in rules}) > 1:
        return _live(var, rules, reach)
    key = _key(var, rules, reach)
    done = _DONE.get(key)
    if done is not None:
        return done[1]
    start = tuple(rules)
    while True:
        new = _minimize_once(var, rules, reach)
        if _cost(new) >= _cost(rules):
            break
        rules = new
    _DONE[key] = (start, rules)
    _DONE[_key(var, rules, reach)] = (tuple(rules), rules)  # the result is its own result
    while sum(len(held) for held, _ in _DONE.values()) > _DONE_RULES:
        del _DONE[next(iter(_DONE))]  # the oldest first
    return rules


def _live(var: str, rules: list[sparse.Rule], reach: analysis.Reachable) -> list[sparse.Rule]:
    """Rules under different equalities (`%x == %y`) fire on no common cube space, so
    they are not merged: only those that can never fire, or that only rewrite the value
    held, go. (Rules that all share their equalities are minimised as usual: the
    equalities are one more conjunct of every rule, before and after.)"""
    out = []
    for rule in rules:
        olds = rule.allows(var, reach[var]) - {rule.new}
        if olds and analysis.can_fire(rule, reach):
            out.append(rule)
    return out


def _key(var: str, rules: list[sparse.Rule], reach: analysis.Reachable) -> tuple[Any, ...]:
    """The rules by identity (hashing thousands of rules costs more than a minimisation
    that finds nothing), and the reachable values of what they test."""
    tested = sorted({a.var for r in rules for a in r.atoms} - {var})
    return (var, tuple(map(id, rules)), tuple((n, reach[n]) for n in (var, *tested)))


#: Recent results of `minimize_variable`, each with the rules it was asked about (held,
#: so that their ids in the key stay theirs). In `fixpoint(minimize-rules,prune-values)`
#: the second round mostly sees the rules the first one returned, over the same
#: reachable values: this spares minimising them again (a second for the paper's SUBLEQ).
#: At most `_DONE_RULES` rules are held, a few megabytes.
_DONE: dict[tuple[Any, ...], tuple[tuple[sparse.Rule, ...], list[sparse.Rule]]] = {}
_DONE_RULES = 100_000


def _minimize_once(
    var: str, rules: list[sparse.Rule], reach: analysis.Reachable
) -> list[sparse.Rule]:
    space = rule_cubes.Space(var, rules, reach)
    cover: dict[Any, list[rule_cubes.Cube]] = defaultdict(list)
    for rule in rules:  # duplicates become one cube
        cube = space.cube(rule)
        # Rules that can never fire go, and so do those that write only the value held.
        if cube is not None and cube[0] & ~space.bit_of(0, rule.new):
            cover[rule.new].append(cube)
    cover = rule_cubes.merge_pairs(cover)
    ref = expand_cubes.Reference(cover, space)
    if rule_cubes.disjoint(ref.cubes, ref.index):
        cover = expand_cubes.minimize(cover, ref)
    # else rules may fire together (undefined behaviour there): only the merged pairs,
    # which fire exactly where the rules they replace do.
    equals = rules[0].equals if rules else ()
    return [
        sparse.Rule(space.atoms(c), var, value, space.none_free, equals)
        for value, cubes in cover.items()
        for c in cubes
    ]


def _cost(rules: list[sparse.Rule]) -> tuple[int, int]:
    return len(rules), sum(len(r.atoms) for r in rules)
