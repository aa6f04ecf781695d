"""A user pass: drop rules that write the value their variable already holds."""

from __future__ import annotations

from typing import ClassVar

import attrs

from alta import passes
from alta.ir import sparse


@passes.register
@attrs.frozen
class DropNoopRulesPass(passes.Pass):
    """Drop rules whose atom on their own variable already pins the value they write."""

    name: ClassVar[str] = "drop-noop-rules"
    level: ClassVar[str] = "sparse"
    var: str | None = None  # only rules that write this variable; None: every rule

    def run(self, module: sparse.Module) -> sparse.Module:
        kept = tuple(rule for rule in module.rules if not self.is_noop(rule))
        if len(kept) == len(module.rules):
            return module  # nothing changed: return the very same object
        return attrs.evolve(module, rules=kept)

    def is_noop(self, rule: sparse.Rule) -> bool:
        own = rule.atom(rule.var)
        wanted = self.var is None or rule.var == self.var
        return wanted and own is not None and own.values == {rule.new}
