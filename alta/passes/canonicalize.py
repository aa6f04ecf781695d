"""`canonicalize`: one order for rules and atoms, so printed IR is the same under any hash seed."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from alta.ir import sparse
from alta.ir.types import Level
from alta.passes import base


@attrs.frozen
class CanonicalizePass(base.Pass):
    """Sort atoms by variable, drop duplicate rules, order rules by written variable."""

    name: ClassVar[str] = "canonicalize"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        order = {name: i for i, name in enumerate(module.variables)}
        rules = tuple(
            sorted(
                dict.fromkeys(
                    attrs.evolve(r, atoms=tuple(sorted(r.atoms, key=lambda a: order[a.var])))
                    for r in module.rules
                ),
                key=lambda r: (order[r.var], _value_key(r.new), _atoms_key(r, order)),
            )
        )
        return module if rules == module.rules else attrs.evolve(module, rules=rules)


def _value_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if isinstance(value, frozenset):
        return (1, len(value), tuple(sorted(value)))
    return (2, value)


def _atoms_key(rule: sparse.Rule, order: dict[str, int]) -> tuple[Any, ...]:
    return tuple((order[a.var], tuple(sorted(_value_key(v) for v in a.values))) for a in rule.atoms)
