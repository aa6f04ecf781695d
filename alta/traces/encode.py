"""Interpreter states as residual vectors, in the layout of a compiled model.

The encoding is `alta.ir.dense.encode` (the one the compiler builds its embeddings and
MLP from), vectorised over records: categorical one-hot, set multi-hot, numerical value
plus a defined flag, None as zeros. So a trace vector is the compiled model's residual at
that point, exactly, wherever the interpreter and the model agree (docs/semantics.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from alta.errors import TraceError
from alta.interp import state as st
from alta.ir import dense, sparse, symbolic


@attrs.frozen
class Encoder:
    """The slots of a compiled layout (folded constants, of width 0, left out), and the
    program's variables whose raw interpreter values fill them."""

    d_model: int
    slots: tuple[dense.Slot, ...]
    variables: Mapping[str, symbolic.Var]

    @classmethod
    def of(
        cls, d_model: int, layout: tuple[dense.Slot, ...], variables: Mapping[str, symbolic.Var]
    ) -> Encoder:
        """Check that every slot names a variable of the program, of the same kind."""
        for slot in layout:
            var = variables.get(slot.var)
            if var is None:
                raise TraceError(
                    f"the compiled layout has a slot for '{slot.var}', which the program does "
                    "not declare; trace a program with the model compiled from it"
                )
            if var.kind != slot.kind:
                raise TraceError(
                    f"variable '{slot.var}' is {var.kind} in the program but {slot.kind} in the "
                    "compiled layout; trace a program with the model compiled from it"
                )
        if layout and max(s.stop for s in layout) > d_model:
            raise TraceError(f"the compiled layout is wider than d_model = {d_model}")
        return cls(d_model, tuple(s for s in layout if s.width), variables)

    def encode(self, values: Mapping[str, np.ndarray], records: int) -> np.ndarray:
        """Raw values ([records] per variable, as the interpreter holds them) as vectors
        [records, d_model]."""
        out = np.zeros((records, self.d_model))
        for slot in self.slots:
            raw = values[slot.var]
            part = out[:, slot.start : slot.stop]
            if slot.encoding == dense.BINARY:
                bits = (raw[:, None] >> np.arange(slot.bits)[None, :]) & 1
                part[:] = np.where(np.isin(raw, slot.values)[:, None], 2.0 * bits - 1.0, 0.0)
            elif slot.kind == sparse.CATEGORICAL:
                _one_hot(part, raw, slot.values)
            elif slot.kind == sparse.SET:
                members = np.asarray(slot.values, dtype=np.int64)
                bits = (raw[:, None] >> members[None, :]) & 1
                part[:] = np.where(raw[:, None] >= 0, bits, 0)
            else:
                defined = ~np.isnan(raw)
                part[:, 0] = np.where(defined, raw, 0.0)
                if slot.width == 2:
                    part[:, 1] = defined
        return out

    def undefined(self, values: Mapping[str, np.ndarray], records: int) -> np.ndarray:
        """[records, d_model] bool: the dims of every variable that is None in that record."""
        out = np.zeros((records, self.d_model), dtype=bool)
        for slot in self.slots:
            none = st.is_none(self.variables[slot.var], values[slot.var])
            out[:, slot.start : slot.stop] = none[:, None]
        return out


def _one_hot(part: np.ndarray, raw: np.ndarray, values: tuple[int, ...]) -> None:
    """Set part[r, k] = 1 where raw[r] == values[k]; values outside the slot give zeros."""
    if not values:
        return
    lookup = np.full(max(values) + 2, -1, dtype=np.int64)  # the last entry: out of the slot
    lookup[np.asarray(values, dtype=np.int64)] = np.arange(len(values))
    column = lookup[np.where((raw >= 0) & (raw <= max(values)), raw, len(lookup) - 1)]
    rows = np.flatnonzero(column >= 0)
    part[rows, column[rows]] = 1.0
