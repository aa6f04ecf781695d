"""`Trace`: what the interpreter's MLP saw and wrote, per sequence, layer and position.

A trace is columns, not objects: one row (record) per (sequence, layer, position) that a
run reached, with the raw interpreter values of every variable before and after the MLP
and their residual vectors in the compiled layout. That keeps 10^5 records cheap; decoded
Python values are there on request (`record`, `assignment_in`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import attrs
import numpy as np

from alta.errors import TraceError
from alta.interp import state as st
from alta.ir import dense, sparse, symbolic
from alta.traces import noise as noise_mod
from alta.traces.encode import Encoder


class Record(NamedTuple):
    """One record, decoded: the MLP's input and output assignments and their vectors."""

    sequence: int
    layer: int
    position: int
    mlp_in: dict[str, Any]
    mlp_out: dict[str, Any]
    vector_in: np.ndarray
    vector_out: np.ndarray


@attrs.frozen(eq=False)
class Trace:
    """Records sorted by (sequence, layer, position); arrays have one row per record.

    `sequence` is a global index: sequence `s` is `inputs[s - first_sequence]` (a trace
    made batch by batch numbers its sequences on). A sequence has records for the layers
    the interpreter ran on it: none after it halts or reaches a fixed point.
    `vector_in` is the compiled model's residual after attention, `vector_out` after the
    MLP (head outputs cleared), both before any noise; `vectors_in()` adds the noise
    (`noise`, drawn from `seed`, unless told otherwise).
    """

    program: str
    output: str
    d_model: int
    layout: tuple[dense.Slot, ...]
    variables: Mapping[str, symbolic.Var]
    sequence: np.ndarray
    layer: np.ndarray
    position: np.ndarray
    values_in: Mapping[str, np.ndarray]
    values_out: Mapping[str, np.ndarray]
    vector_in: np.ndarray
    vector_out: np.ndarray
    inputs: tuple[tuple[int, ...], ...]
    first_sequence: int = 0
    noise: tuple[float, float] | None = noise_mod.DEFAULT
    seed: int | tuple[int, ...] = 0
    sparse_ir: sparse.Module | None = None

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def encoder(self) -> Encoder:
        return Encoder.of(self.d_model, self.layout, self.variables)

    def undefined_in(self) -> np.ndarray:
        """[records, d_model] bool: the dims of the variables that are None at the MLP input."""
        return self.encoder.undefined(self.values_in, len(self))

    def vectors_in(
        self,
        noise: tuple[float, float] | Literal["trace"] | None = "trace",
        seed: noise_mod.Seed = None,
    ) -> np.ndarray:
        """The MLP inputs with the dims of undefined variables filled with uniform noise
        in [low, high] (`noise=None`: left zero). Defaults: the trace's `noise` and `seed`,
        so two calls give the same array."""
        bounds = self.noise if noise == "trace" else noise
        return noise_mod.fill(
            self.vector_in, self.undefined_in(), bounds, self.seed if seed is None else seed
        )

    def assignment_in(self, i: int) -> dict[str, Any]:
        """Record `i`'s MLP input (the state after attention) as Python values."""
        return self._decode(self.values_in, i)

    def assignment_out(self, i: int) -> dict[str, Any]:
        """Record `i`'s MLP output (head outputs cleared) as Python values."""
        return self._decode(self.values_out, i)

    def record(self, i: int) -> Record:
        self._check_index(i)
        return Record(
            int(self.sequence[i]),
            int(self.layer[i]),
            int(self.position[i]),
            self.assignment_in(i),
            self.assignment_out(i),
            self.vector_in[i],
            self.vector_out[i],
        )

    def _decode(self, values: Mapping[str, np.ndarray], i: int) -> dict[str, Any]:
        self._check_index(i)
        return {name: st.decode(var, values[name][i]) for name, var in self.variables.items()}

    def _check_index(self, i: int) -> None:
        if not -len(self) <= i < len(self):
            raise IndexError(f"record {i} of a trace of {len(self)} records")

    def take(self, start: int, stop: int) -> Trace:
        """Records [start, stop), with the inputs of their sequences. Cut a trace into
        consecutive pieces and every input lands in one, or in two where a sequence's
        records are cut (a sequence without records goes with the records before it)."""
        n = len(self)
        start, stop = max(0, start), min(n, stop)
        stop = max(start, stop)
        end = self.first_sequence + len(self.inputs)
        first = self.first_sequence if start == 0 else end
        if 0 < start < n:
            first = int(self.sequence[start])
        last = end
        if stop < n:
            last = int(self.sequence[stop])
            last += bool(stop > 0 and self.sequence[stop - 1] == last)
        rows = slice(start, stop)
        return attrs.evolve(
            self,
            sequence=self.sequence[rows],
            layer=self.layer[rows],
            position=self.position[rows],
            values_in={k: v[rows] for k, v in self.values_in.items()},
            values_out={k: v[rows] for k, v in self.values_out.items()},
            vector_in=self.vector_in[rows],
            vector_out=self.vector_out[rows],
            inputs=self.inputs[first - self.first_sequence : last - self.first_sequence],
            first_sequence=first,
        )


def concat(traces: Sequence[Trace]) -> Trace:
    """Traces of consecutive sequences (as `take` or batch-by-batch tracing make them) as
    one: the second's inputs start where the first's end, or at its last sequence."""
    if not traces:
        raise TraceError("concat needs at least one trace")
    head = traces[0]
    inputs = list(head.inputs)
    end = head.first_sequence + len(head.inputs)
    for t in traces[1:]:
        if (t.program, t.d_model, t.layout) != (head.program, head.d_model, head.layout):
            raise TraceError(f"cannot concat traces of '{head.program}' and '{t.program}'")
        overlap = end - t.first_sequence
        if overlap not in (0, 1) or overlap > len(t.inputs):
            raise TraceError(
                f"cannot concat a trace of sequences from {t.first_sequence} after one that "
                f"ends at {end - 1}: they must be consecutive"
            )
        inputs.extend(t.inputs[overlap:])
        end = t.first_sequence + len(t.inputs)

    def cat(get: Any) -> np.ndarray:
        return np.concatenate([get(t) for t in traces])

    return attrs.evolve(
        head,
        sequence=cat(lambda t: t.sequence),
        layer=cat(lambda t: t.layer),
        position=cat(lambda t: t.position),
        values_in={k: cat(lambda t, k=k: t.values_in[k]) for k in head.values_in},
        values_out={k: cat(lambda t, k=k: t.values_out[k]) for k in head.values_out},
        vector_in=cat(lambda t: t.vector_in),
        vector_out=cat(lambda t: t.vector_out),
        inputs=tuple(inputs),
    )
