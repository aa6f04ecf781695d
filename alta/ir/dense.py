"""IR3, the dense tensor graph: a residual layout and typed ops over named numpy weights.

Every backend executes exactly this, with the weights under the same names:

    x = E_tok[tokens] + E_pos[positions]                      (embed; E_pos may be absent)
    repeat (at most max_layers times; a halted sequence is frozen):
        for each attention stage, in order:
            for every head h of the stage, in parallel on the same x:
                q = x Wq + bq;  k = x Wk + bk;  v = x Wv + bv
                s_ij = q_i . k_j  where key j is a real position and (offsets is None or
                                    j - i in offsets), else -inf
                a_i = sum_j softmax_j([s_i, null_logit])_j v_j   (the null slot has value 0)
            x = x + sum_h a Wo
        h_0 = x;  for each MLP layer k = 1..L:                (clipped_relu = min(1, max(0, .)))
            h_k = act(h_{k-1} W_k + sum over its skips (s, S) of h_s S + b_k)
        x = x + h_L                                      (the last layer is linear)
        a sequence halts when x[..., halt.dim] > 0.5 at every real position; one whose
        x (at its real positions) no longer changes is at a fixed point and is frozen too
    output = decode(x[..., readout slot])

A head reads the output of a head of an earlier stage, never of its own stage (see
docs/semantics.md, "One layer"); a program whose heads read no head output has one stage,
a standard Transformer layer.

Weights are float64 here; backends cast them to the model's dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from alta.ir import sparse
from alta.ir.types import Level

CLIPPED_RELU, LINEAR = "clipped_relu", "linear"


ONE_HOT, BINARY = "one-hot", "binary"


@attrs.frozen
class Slot:
    """A variable's dims in the residual stream; `values[k]` is what dim start+k stands for.

    Categorical: one dim per value (one-hot; all zero = None), or with `encoding` BINARY
    a bipolar code of `bits` dims: bit i of value v is +1 or -1 (`code`), None all zero
    (docs/encodings.md). Set: one dim per member (multi-hot). Numerical: ("value",) or
    ("value", "defined"), the flag 0 meaning None.
    """

    var: str
    kind: str
    start: int
    values: tuple[Any, ...]
    encoding: str = ONE_HOT
    bits: int = 0

    @property
    def width(self) -> int:
        return self.bits if self.encoding == BINARY else len(self.values)

    @property
    def stop(self) -> int:
        return self.start + self.width

    def dim(self, value: Any) -> int:
        if self.encoding == BINARY:
            raise ValueError(f"internal: '{self.var}' is binary-coded; its values have no dim")
        return self.start + self.values.index(value)


def code(value: int, bits: int) -> np.ndarray:
    """The bipolar code of a value: bit i is +1 where bit i of `value` is set, else -1."""
    return np.where((int(value) >> np.arange(bits)) & 1, 1.0, -1.0)


@attrs.frozen
class Embed:
    tokens: str  # [input_range, d_model]
    positions: str | None  # [position_range, d_model]


@attrs.frozen
class Head:
    """One head; weight names: wq/wk [d, k], bq/bk [k], wv [d, v], bv [v], wo [v, d]."""

    name: str
    wq: str
    bq: str
    wk: str
    bk: str
    wv: str
    bv: str
    wo: str
    offsets: tuple[int, ...] | None
    null_logit: float


@attrs.frozen
class Attention:
    """One attention sublayer per stage: stage s reads x after stages 0..s-1 added theirs."""

    stages: tuple[tuple[Head, ...], ...]

    @property
    def heads(self) -> tuple[Head, ...]:
        """Every head, stage by stage (declaration order within a stage)."""
        return tuple(head for stage in self.stages for head in stage)


@attrs.frozen
class MLPLayer:
    """One MLP layer. `skips` are extra inputs: (source, weight [source width, out]) where
    source 0 is the MLP's input x and k the output of layer k (1-based, an earlier layer);
    shared clearing reads the rule layer and x this way (docs/encodings.md)."""

    w: str  # [in, out]: reads the previous layer's output (x for the first layer)
    b: str  # [out]
    act: str
    skips: tuple[tuple[int, str], ...] = attrs.field(
        default=(), converter=lambda s: tuple(map(tuple, s))
    )


@attrs.frozen
class MLP:
    layers: tuple[MLPLayer, ...]

    def matrix_names(self) -> list[str]:
        """Every weight matrix, layer by layer: w, then the skips (not the biases)."""
        return [n for layer in self.layers for n in (layer.w, *(w for _, w in layer.skips))]


@attrs.frozen
class HaltTest:
    dim: int


@attrs.frozen
class Loop:
    attention: Attention
    mlp: MLP
    halt: HaltTest | None
    max_layers: int | None


@attrs.frozen
class Readout:
    slot: Slot


@attrs.frozen(eq=False)
class Module:
    name: str
    d_model: int
    layout: tuple[Slot, ...]
    weights: Mapping[str, np.ndarray] = attrs.field(converter=lambda d: _Weights(d))
    embed: Embed
    loop: Loop
    readout: Readout
    input_range: int
    position_range: int | None
    level: Level = Level.DENSE

    def slot(self, var: str) -> Slot:
        for slot in self.layout:
            if slot.var == var:
                return slot
        raise KeyError(var)

    @property
    def mlp_widths(self) -> tuple[int, ...]:
        return tuple(self.weights[layer.w].shape[1] for layer in self.loop.mlp.layers[:-1])

    def mlp_weight_names(self) -> list[str]:
        """Every MLP weight name, layer by layer: w, skips, b."""
        return [
            name
            for layer in self.loop.mlp.layers
            for name in (layer.w, *(w for _, w in layer.skips), layer.b)
        ]

    def __str__(self) -> str:
        from alta.ir import printer

        return printer.print_dense(self)


class _Weights(dict):  # type: ignore[type-arg]
    """Weights, read-only: arrays are marked non-writeable and the mapping refuses updates."""

    def __init__(self, data: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        for name in data:
            arr = np.array(data[name], dtype=np.float64)
            arr.setflags(write=False)
            dict.__setitem__(self, name, arr)

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("dense.Module.weights is immutable; use attrs.evolve")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and deepcopy rebuild through `__init__`, not item by item."""
        return (type(self), (dict(self),))


def decode(slot: Slot, x: np.ndarray) -> np.ndarray:
    """Decode a slot of residual vectors [..., d] into raw values (-1 / NaN for None)."""
    part = x[..., slot.start : slot.stop]
    if slot.encoding == BINARY:
        value = ((part > 0) * (1 << np.arange(slot.bits))).sum(axis=-1)
        # A code with no value behind it (7 of 3 bits for 5 values) is None, as an all-off
        # one-hot slot is; compiled weights never make one, a learned MLP may.
        known = np.isin(value, np.asarray(slot.values, dtype=np.int64))
        return np.where((np.abs(part) > 0.5).all(axis=-1) & known, value, -1)
    if slot.kind == sparse.CATEGORICAL:
        best = part.argmax(axis=-1)
        values = np.asarray(slot.values, dtype=np.int64)[best]
        return np.where(part.max(axis=-1, initial=0.0) > 0.5, values, -1)
    if slot.kind == sparse.NUMERICAL:
        value = part[..., 0].astype(np.float64)
        if slot.width == 2:
            value = np.where(part[..., 1] > 0.5, value, np.nan)
        return value
    bits = (part > 0.5).astype(np.int64)
    weights = np.asarray([1 << m for m in slot.values], dtype=np.int64)
    return bits @ weights


def encode(slot: Slot, value: Any, d_model: int) -> np.ndarray:
    """The residual vector holding `value` in `slot` and zeros elsewhere (`decode` inverts it)."""
    vec = np.zeros(d_model)
    if value is None:
        return vec
    if slot.encoding == BINARY:
        vec[slot.start : slot.stop] = code(value, slot.bits)
    elif slot.kind == sparse.CATEGORICAL:
        if value in slot.values:
            vec[slot.dim(value)] = 1.0
    elif slot.kind == sparse.SET:
        for member in value:
            if member in slot.values:
                vec[slot.dim(member)] = 1.0
    elif slot.width:
        vec[slot.start] = value
        if slot.width == 2:
            vec[slot.start + 1] = 1.0
    return vec
