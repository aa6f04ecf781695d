"""`prune-values`: drop domain values no state reaches, and fold constant variables.

Values that no reachable state gives a variable leave its domain (fewer one-hot dims and
bucket units after lowering), and atoms and rules that test only such values go too, as
do rules that cannot fire on reachable values (their writes are not reachable either). A
variable that only ever holds one value becomes a constant: rules that write it are
dropped, atoms that read it are folded into the rules (the lowering then gives it no
dims; heads read it through biases). Variables left unread are not removed here: that is
`dce`'s job, so run `dce` after it (the default pipeline does).
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from alta.ir import analysis, sparse
from alta.ir.types import Level
from alta.passes import base, context


@attrs.frozen
class PruneValuesPass(base.Pass):
    """Drop unreachable domain values and fold variables that are constant (IR2)."""

    name: ClassVar[str] = "prune-values"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        result = prune_sparse(module)
        ctx = context.current()
        ctx.record("domain values", _domain_size(module), _domain_size(result))
        ctx.record("rules", len(module.rules), len(result.rules))
        return result


def _domain_size(module: sparse.Module) -> int:
    return sum(len(v.values) for v in module.variables.values())


def prune_sparse(module: sparse.Module) -> sparse.Module:
    reach = analysis.reachable_values(module)
    constants = _constants(module, reach)
    variables = {n: _narrow(module, v, reach[n], constants) for n, v in module.variables.items()}
    domains = {n: frozenset(v.values) for n, v in variables.items()}
    rules = []
    fires = analysis.FiringCheck(reach)
    for rule in module.rules:
        if rule.var in constants:
            continue  # a constant is never changed, so every write to it is a no-op
        if not fires(rule):
            continue  # what it writes is not in `reach`, so may be pruned from the domain
        pruned = _prune_rule(rule, domains, constants)
        if pruned is not None:
            rules.append(pruned)
    same = len(rules) == len(module.rules) and all(
        a is b for a, b in zip(rules, module.rules, strict=True)
    )
    same &= all(variables[n] is v for n, v in module.variables.items())
    return module if same else attrs.evolve(module, variables=variables, rules=tuple(rules))


def _prune_rule(
    rule: sparse.Rule, domains: dict[str, frozenset[Any]], constants: dict[str, Any]
) -> sparse.Rule | None:
    """`rule` over the narrowed `domains`, atoms on constants folded; None when it can
    never fire. An equality with a constant becomes an atom on the other variable."""
    tests = [(a.var, a.values) for a in rule.atoms]
    equals = []
    for x, y in rule.equals:
        if x in constants or y in constants:
            known, other = (x, y) if x in constants else (y, x)
            tests.append((other, frozenset({constants[known]})))
        elif domains[x].isdisjoint(domains[y]):
            return None
        else:
            equals.append((x, y))
    atoms: dict[str, sparse.Atom] = {}
    for i, (var, allowed) in enumerate(tests):
        values = allowed & domains[var]
        if var in atoms:
            values &= atoms[var].values
        if var in constants:
            values = allowed & {constants[var]}
            if values:
                continue
        if not values:
            return None
        same = i < len(rule.atoms) and values == allowed
        atoms[var] = rule.atoms[i] if same else sparse.Atom(var, values)
    kept = list(atoms.values())
    unchanged = len(kept) == len(rule.atoms) and len(equals) == len(rule.equals)
    if unchanged and all(a is b for a, b in zip(kept, rule.atoms, strict=True)):
        return rule
    return attrs.evolve(rule, atoms=tuple(atoms.values()), equals=tuple(equals))


def _constants(module: sparse.Module, reach: analysis.Reachable) -> dict[str, Any]:
    keep = {module.output} | ({module.halt.var} if module.halt else set())
    return {
        n: next(iter(reach[n]))
        for n, v in module.variables.items()
        if len(reach[n]) == 1 and None not in reach[n] and not v.is_head_output and n not in keep
    }


def _narrow(
    module: sparse.Module, var: sparse.Variable, reach: frozenset[Any], constants: dict[str, Any]
) -> sparse.Variable:
    keep = set(reach) - {None}
    if module.halt is not None and module.halt.var == var.name:
        keep.add(module.halt.value)
    values = tuple(v for v in var.values if v in keep)
    init = var.init
    if var.name in constants and init.source != "const":
        init = sparse.Init("const", (constants[var.name],))
    nullable = None in reach
    if values == var.values and init is var.init and nullable == var.nullable:
        return var
    return attrs.evolve(var, values=values, init=init, nullable=nullable or var.is_head_output)
