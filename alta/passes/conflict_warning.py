"""The compile-time side of rule conflicts: two rules that may fire together on one variable.

Firing both at once is undefined behaviour (docs/semantics.md), which the interpreter
reports when it happens. The compiler cannot refuse a pair it merely fails to separate,
so it tolerates it with one `CompileWarning`; `strict=True` makes that an error.
"""

from __future__ import annotations

import warnings
from typing import Any

import attrs

from alta.errors import CompileWarning
from alta.ir import analysis, joint_reach, printer, sparse


def warn_unproven_conflicts(module: sparse.Module, reach: analysis.Reachable) -> int:
    """Warn once about the rule pairs the analysis cannot prove disjoint; return their count.

    The rules are first checked merged over their old values (`_merged_olds`) when that
    halves them, as for a rule program that enumerates every old value of the variable
    it writes: when no merged pair may conflict, no pair of their parts may. Otherwise
    the pairs are found (and counted) among the rules themselves."""
    coarse = _merged_olds(module)
    halved = 2 * len(coarse.rules) <= len(module.rules)
    if halved and not joint_reach.unproven_conflicts(coarse, reach):
        return 0
    pairs = joint_reach.unproven_conflicts(module, reach)
    if pairs:
        (i, j), *_ = pairs
        a, b = module.rules[i], module.rules[j]
        warnings.warn(
            f"program '{module.name}': {len(pairs)} pair(s) of rules may fire together and "
            f"write one variable; the analysis cannot rule them out, so the model is built "
            f"anyway, and if both fire the interpreter raises while the model's result is "
            f"undefined. First pair, on '{a.var}':\n    {printer.rule_text(i, a)}\n    "
            f"{printer.rule_text(j, b)}\nPass strict=True to make this an error.",
            CompileWarning,
            stacklevel=3,
        )
    return len(pairs)


def _merged_olds(module: sparse.Module) -> sparse.Module:
    """`module` with the rules that differ only in their atom on the variable they write
    (its old value) merged into one, which fires exactly where they do: a merged pair
    is separated wherever its parts are, by the same atoms. `module` itself when none
    merge."""
    groups: dict[tuple[Any, ...], list[sparse.Rule]] = {}
    for rule in module.rules:
        rest = tuple(id(a) for a in rule.atoms if a.var != rule.var)  # atoms live on
        key = (rule.var, type(rule.new), rule.new, rule.dont_care_none, rule.equals, rest)
        groups.setdefault(key, []).append(rule)
    if len(groups) == len(module.rules):
        return module
    rules = []
    for parts in groups.values():
        first = parts[0]
        if len(parts) == 1:
            rules.append(first)
            continue
        olds = [r.atom(r.var) for r in parts]
        if any(o is None for o in olds):
            return module  # parts that may fire together: count them one by one
        sets = [o.values for o in olds if o is not None]
        values = frozenset().union(*sets)
        if len(values) < sum(map(len, sets)):
            return module
        atoms = [a if a.var != first.var else sparse.Atom(a.var, values) for a in first.atoms]
        rules.append(attrs.evolve(first, atoms=tuple(atoms)))
    return attrs.evolve(module, rules=tuple(rules))
