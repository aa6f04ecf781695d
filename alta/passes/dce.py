"""`dce`: drop variables, heads and rules that nothing reaching the output or halt reads."""

from __future__ import annotations

from typing import ClassVar

import attrs

from alta.ir import sparse
from alta.ir.types import Level
from alta.passes import base, context


@attrs.frozen
class DeadCodeEliminationPass(base.Pass):
    """Remove what cannot influence the output or the halting test."""

    name: ClassVar[str] = "dce"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        result = eliminate_dead(module)
        ctx = context.current()
        ctx.record("variables", len(module.variables), len(result.variables))
        ctx.record("heads", len(module.heads), len(result.heads))
        ctx.record("rules", len(module.rules), len(result.rules))
        return result


def live_variables(module: sparse.Module) -> set[str]:
    """The output, the halt variable, and everything a live rule or head reads."""
    live = {module.output} | ({module.halt.var} if module.halt else set())
    while True:
        reads = set(live)
        for rule in module.rules:
            if rule.var in live:
                reads.update(rule.reads())
                reads.add(rule.var)
        for head in module.heads:
            if head.output in live:
                reads.update((head.query, head.key, head.value))
        if reads == live:
            return live
        live = reads


def eliminate_dead(module: sparse.Module) -> sparse.Module:
    live = live_variables(module)
    if len(live) == len(module.variables):
        return module
    return attrs.evolve(
        module,
        variables={n: v for n, v in module.variables.items() if n in live},
        heads=tuple(h for h in module.heads if h.output in live),
        rules=tuple(r for r in module.rules if r.var in live),
    )
