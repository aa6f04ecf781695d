"""Which float dtypes an IR3 model computes exactly in: its certified dtypes.

A compiled model is exact when every clipped-ReLU unit lands exactly on 0 or 1 and every
attention head puts weight exactly 1 on its match and 0 elsewhere. That holds in a dtype
when (docs/encodings.md, "Precision"):

- every weight is representable in it;
- every hidden pre-activation is a sum of integer terms (integer weights on inputs that
  are 0, +1 or -1) whose magnitude stays below 2^(mantissa bits), so that the sum is
  computed exactly; a layer with a fractional weight (a numerical bucket step) or one
  that reads a number is certified only for float32 and float64, whose margins the
  lowering checks (`mlp_units._FLOAT32_SAFE`);
- every attention logit stays finite and exact: its magnitude (the sum of
  |q_i k_i| terms) stays below 2^(mantissa bits) times the smallest logit step;
- the model has no numerical head (an average of numbers is rounded in a half dtype).
"""

from __future__ import annotations

import numpy as np

from alta.ir import dense, sparse

#: dtype -> (mantissa bits including the implicit one, largest finite value).
FORMATS = {
    "float64": (53, 1.8e308),
    "float32": (24, 3.4e38),
    "bfloat16": (8, 3.39e38),
    "float16": (11, 65504.0),
}
_HALF = ("bfloat16", "float16")


def certified_dtypes(module: dense.Module) -> list[str]:
    """The dtypes (of float64, float32, bfloat16, float16) the model is exact in."""
    facts = _Facts(module)
    return [name for name in FORMATS if facts.exact_in(name)]


def _representable(arr: np.ndarray, dtype: str) -> bool:
    if dtype == "float64":
        return True
    if dtype == "bfloat16":  # bfloat16 is float32 with the low 16 bits of the mantissa cut
        as32 = arr.astype(np.float32)
        return bool(np.array_equal(as32, arr) and not (as32.view(np.uint32) & 0xFFFF).any())
    return bool(np.array_equal(arr.astype(dtype).astype(np.float64), arr))


class _Facts:
    """What the test of each dtype reads from the weights, found once: the arrays are
    large, and only the limits they are compared with depend on the dtype."""

    def __init__(self, module: dense.Module) -> None:
        w = {name: np.asarray(a) for name, a in module.weights.items()}
        self.weights = w
        self.integral = {n: bool(np.array_equal(a, np.round(a))) for n, a in w.items()}
        self.largest = {n: float(np.abs(a).max(initial=0.0)) for n, a in w.items()}
        self.numbers = any(s.kind == sparse.NUMERICAL and s.width for s in module.layout)
        # Per head: its largest logit magnitude, and the step its logits are multiples of.
        self.heads = [
            (_logit(w[h.wq], w[h.bq], w[h.wk], w[h.bk]), _step(w[h.wq], w[h.bq]))
            for h in module.loop.attention.heads
        ]
        # Per hidden layer: its largest pre-activations, or None when a weight is fractional.
        self.layers = [self._totals(layer) for layer in module.loop.mlp.layers[:-1]]

    def exact_in(self, dtype: str) -> bool:
        bits, largest = FORMATS[dtype]
        if dtype in _HALF and self.numbers:
            return False  # numbers, their steps and their averages round in a half dtype
        # Fractional weights (numerical steps) may round in float32: the lowering sized
        # their margins for it. Every other weight must be exact.
        if not all(
            self._representable(name, dtype, bits)
            for name in self.weights
            if dtype in _HALF or self.integral[name]
        ):
            return False
        limit = float(2**bits)
        for logit, step in self.heads:
            if logit >= largest or (dtype in _HALF and logit >= limit * step):
                return False
        # Integer weights and biases: pre-activations below `limit` in magnitude; fractional
        # steps: the lowering checked float32's margins.
        return all(
            limit >= 2**24 if total is None else bool((total < limit).all())
            for total in self.layers
        )

    def _representable(self, name: str, dtype: str, bits: int) -> bool:
        # Integers up to 2^bits are exact in a float with `bits` mantissa bits.
        if self.integral[name] and self.largest[name] <= 2**bits:
            return True
        return _representable(self.weights[name], dtype)

    def _totals(self, layer: dense.MLPLayer) -> np.ndarray | None:
        parts = [layer.w, *(w for _, w in layer.skips)]
        if not all(self.integral[n] for n in [*parts, layer.b]):
            return None
        w = self.weights
        return np.abs(w[layer.b]) + sum(np.abs(w[n]).sum(axis=0) for n in parts)


def _logit(wq: np.ndarray, bq: np.ndarray, wk: np.ndarray, bk: np.ndarray) -> float:
    """The largest logit magnitude: the sum of |q_i k_i| over the widest q and k."""
    q = np.abs(wq).sum(axis=0) + np.abs(bq)
    k = np.abs(wk).sum(axis=0) + np.abs(bk)
    return float((q * k).sum())


def _step(wq: np.ndarray, bq: np.ndarray) -> float:
    """The smallest nonzero query weight: logits are integer multiples of it."""
    nonzero = np.abs(np.concatenate([wq.ravel(), bq]))
    nonzero = nonzero[nonzero > 0]
    return float(nonzero.min()) if len(nonzero) else 1.0
