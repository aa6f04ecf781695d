"""`choose-encodings`: pick each variable's residual encoding, one-hot or a binary code (IR2).

The choice (`alta.passes.lower_sparse_to_dense.encodings`, docs/encodings.md) is recorded
in `Module.codes`, which `lower-sparse-to-dense` lays out; without this pass every variable
is one-hot and every nullable number keeps its "defined" dim. Run it last on IR2: a pass that changes domains or heads after it may make a
code inconsistent, which the verifier reports.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from alta.ir import analysis, sparse
from alta.ir.types import Level
from alta.passes import base, context
from alta.passes.lower_sparse_to_dense import constants, encodings


@attrs.frozen
class ChooseEncodingsPass(base.Pass):
    """Code a class of joined variables in binary where it is much narrower than one-hot,
    and drop the "defined" dim of numbers whose None nothing reads."""

    name: ClassVar[str] = "choose-encodings"
    level: ClassVar[Level] = Level.SPARSE

    def run(self, module: sparse.Module) -> sparse.Module:
        codes = encodings.choose(module, constants(module), analysis.reachable_values(module))
        live = {n: codes[n] for n in module.variables if n in codes}  # declaration order
        context.current().record("coded variables", len(module.codes), len(live))
        if live == dict(module.codes):
            return module
        return attrs.evolve(module, codes=live)
