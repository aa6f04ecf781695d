"""`merge-equal-variables`: read one variable where several provably hold the same value.

Two variables are *copies* when they have the same kind, domain, declared range,
nullability and init table (the same source and the same entries), neither is a head
output, and no rule writes either of them. Then they hold equal values at every layer:

* at layer 0 each is its init table looked up by the same token or position (or the same
  constant), so they are equal at every position;
* a variable changes only when a rule writes it or, for head outputs, when a head does;
  neither happens to a copy, so each keeps its layer-0 value at every later layer.

So every read of a copy (a rule's atom, a head's query, key or value) may read the group's
representative instead: in every reachable state the two reads give the same value, and
the model computes the same thing. A copy nobody reads then has no purpose and is dropped,
except the output and the halt variable, which are observed from outside: those stay
declared (with their reads redirected) and one of them becomes the representative.

A rule that tested two copies now tests the representative twice; its atoms are
conjoined (the intersection of their value sets), and a rule whose intersection is empty
can never fire, so it goes (before the merge it fired only where the copies differed,
which no reachable state has). An equality of two copies, `%x == %y`, says only that
they are defined. The result may hold duplicate rules: `canonicalize` and
`minimize-rules` after it take care of those.

A Python MLP over copies is cheaper still to merge before its rules exist:
`lower-symbolic-to-sparse` already explores such copies as one variable. This pass
catches the rest: rule programs (`program_spec_from_rules`) and modules written as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from alta.ir import sparse
from alta.ir.types import Level
from alta.passes import base, context


@attrs.frozen
class MergeEqualVariablesPass(base.Pass):
    """Redirect reads of provably equal variables to one representative (IR2)."""

    name: ClassVar[str] = "merge-equal-variables"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        result = merge_equal(module)
        if result is not module:
            ctx = context.current()
            ctx.record("variables", len(module.variables), len(result.variables))
            ctx.record("rules", len(module.rules), len(result.rules))
        return result


def copy_groups(module: sparse.Module) -> list[list[str]]:
    """Groups (two or more, in layout order) of variables equal at every layer."""
    written = {rule.var for rule in module.rules}
    groups: dict[Any, list[str]] = {}
    for name, var in module.variables.items():
        if var.is_head_output or name in written:
            continue
        key = (var.kind, var.values, var.init, var.nullable, var.range)
        groups.setdefault(key, []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def representatives(module: sparse.Module) -> dict[str, str]:
    """Each copy -> the variable read in its place (the output or halt variable, if the
    group holds one, else the first in layout order)."""
    keep = _observed(module)
    rename: dict[str, str] = {}
    for names in copy_groups(module):
        rep = next((n for n in names if n in keep), names[0])
        rename.update({n: rep for n in names if n != rep})
    return rename


def _observed(module: sparse.Module) -> set[str]:
    return {module.output} | ({module.halt.var} if module.halt else set())


def merge_equal(module: sparse.Module) -> sparse.Module:
    rename = representatives(module)
    if not rename:
        return module
    keep = _observed(module)
    rules = []
    for rule in module.rules:
        merged = _merge_atoms(rule, rename, module.variables)
        if merged is not None:
            rules.append(merged)
    return attrs.evolve(
        module,
        variables={n: v for n, v in module.variables.items() if n not in rename or n in keep},
        heads=tuple(_rename_head(h, rename) for h in module.heads),
        rules=tuple(rules),
    )


def _rename_head(head: sparse.Head, rename: dict[str, str]) -> sparse.Head:
    query, key, value = (rename.get(v, v) for v in (head.query, head.key, head.value))
    if (query, key, value) == (head.query, head.key, head.value):
        return head
    return attrs.evolve(head, query=query, key=key, value=value)


def _merge_atoms(
    rule: sparse.Rule, rename: dict[str, str], variables: Mapping[str, sparse.Variable]
) -> sparse.Rule | None:
    """`rule` reading representatives, its atoms on one variable conjoined; None when
    they contradict (the rule fired only where copies differ). An equality of two copies
    becomes an atom: the representative is defined."""
    if not any(v in rename for v in rule.reads()):
        return rule
    values: dict[str, frozenset[Any]] = {}

    def conjoin(var: str, allowed: frozenset[Any]) -> bool:
        values[var] = values[var] & allowed if var in values else allowed
        return bool(values[var])

    for atom in rule.atoms:
        if not conjoin(rename.get(atom.var, atom.var), atom.values):
            return None
    equals = []
    for x, y in rule.equals:
        x, y = rename.get(x, x), rename.get(y, y)
        if x != y:
            equals.append((x, y))
        elif not conjoin(x, frozenset(variables[x].values)):
            return None
    atoms = tuple(sparse.Atom(var, vals) for var, vals in sorted(values.items()))
    return attrs.evolve(rule, atoms=atoms, equals=tuple(equals))
