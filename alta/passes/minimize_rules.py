"""`minimize-rules`: fewer, wider rules that fire in exactly the same reachable states.

Repeated to a fixpoint:
- drop rules that can never fire (an atom with no reachable value) and rules that only
  ever write the value their variable already holds;
- merge rules that write the same value and differ in one atom into an `in {...}` atom;
- drop an atom that covers its variable's whole reachable domain.
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
from alta.ir import analysis, sparse, symbolic
from alta.ir.types import Level
from alta.passes import base, context


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
        rules = minimize(attrs.evolve(module, rules=rules) if rules is not module.rules else module)
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
    rules = tuple(dict.fromkeys(r for r in module.rules if _useful(r, reach)))
    # A large rule set takes seconds; past one, a bar counts the rules merged away.
    with progress.task(f"minimize-rules: {len(module.rules)} rules", len(module.rules)) as bar:
        bar.advance(len(module.rules) - len(rules))
        while True:
            new = _drop_full_atoms(_merge(rules, bar), reach)
            new = tuple(dict.fromkeys(new))
            if new == rules:
                return rules
            rules = new


def _useful(rule: sparse.Rule, reach: analysis.Reachable) -> bool:
    if not analysis.can_fire(rule, reach):
        return False
    return bool(rule.allows(rule.var, reach[rule.var]) - {rule.new})


def _merge(
    rules: tuple[sparse.Rule, ...], bar: progress.Bar | None = None
) -> tuple[sparse.Rule, ...]:
    """Merge rules that agree on everything but the values of one atom."""
    bar = bar or progress.Bar("", None, 0.0, live=False)
    changed = True
    while changed:
        changed = False
        groups: dict[Any, list[int]] = defaultdict(list)
        for i, rule in enumerate(rules):
            groups[
                (
                    rule.var,
                    symbolic.value_order(rule.new),
                    rule.dont_care_none,
                    tuple(a.var for a in rule.atoms),
                )
            ].append(i)
        out: list[sparse.Rule] = []
        for members in groups.values():
            merged = _merge_group([rules[i] for i in members])
            changed |= len(merged) < len(members)
            bar.advance(len(members) - len(merged))
            out.extend(merged)
        rules = tuple(out)
    return rules


def _merge_group(group: list[sparse.Rule]) -> list[sparse.Rule]:
    for k in range(len(group[0].atoms)):
        buckets: dict[Any, list[sparse.Rule]] = defaultdict(list)
        for rule in group:
            buckets[rule.atoms[:k] + rule.atoms[k + 1 :]].append(rule)
        if all(len(b) == 1 for b in buckets.values()):
            continue
        merged = []
        for rest, members in buckets.items():
            values = frozenset().union(*(m.atoms[k].values for m in members))
            atom = sparse.Atom(members[0].atoms[k].var, values)
            merged.append(attrs.evolve(members[0], atoms=(*rest[:k], atom, *rest[k:])))
        return merged
    return group


def _drop_full_atoms(
    rules: tuple[sparse.Rule, ...], reach: analysis.Reachable
) -> tuple[sparse.Rule, ...]:
    out = []
    for rule in rules:
        keep = []
        for atom in rule.atoms:
            values = reach[atom.var] - {None}
            none_ok = None not in reach[atom.var] or (rule.dont_care_none and atom.var != rule.var)
            if values <= atom.values and none_ok:
                continue
            keep.append(atom)
        out.append(rule if len(keep) == len(rule.atoms) else attrs.evolve(rule, atoms=tuple(keep)))
    return tuple(out)
