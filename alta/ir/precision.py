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
_FORMATS = {
    "float64": (53, 1.8e308),
    "float32": (24, 3.4e38),
    "bfloat16": (8, 3.39e38),
    "float16": (11, 65504.0),
}
_HALF = ("bfloat16", "float16")


def certified_dtypes(module: dense.Module) -> list[str]:
    """The dtypes (of float64, float32, bfloat16, float16) the model is exact in."""
    return [name for name in _FORMATS if _exact_in(module, name)]


def _representable(arr: np.ndarray, dtype: str) -> bool:
    if dtype == "float64":
        return True
    if dtype == "bfloat16":  # bfloat16 is float32 with the low 16 bits of the mantissa cut
        as32 = arr.astype(np.float32)
        return bool(np.array_equal(as32, arr) and not (as32.view(np.uint32) & 0xFFFF).any())
    return bool(np.array_equal(arr.astype(dtype).astype(np.float64), arr))


def _exact_in(module: dense.Module, dtype: str) -> bool:
    bits, largest = _FORMATS[dtype]
    numbers = [s for s in module.layout if s.kind == sparse.NUMERICAL and s.width]
    if dtype in _HALF and numbers:
        return False  # numbers, their steps and their averages round in a half dtype
    # Fractional weights (numerical steps) may round in float32: the lowering sized their
    # margins for it. Every other weight must be exact.
    if not all(
        _representable(np.asarray(w), dtype)
        for w in module.weights.values()
        if dtype in _HALF or np.array_equal(w, np.round(w))
    ):
        return False
    limit = float(2**bits)
    for head in module.loop.attention.heads:
        w = module.weights
        q = np.abs(w[head.wq]).sum(axis=0) + np.abs(w[head.bq])
        k = np.abs(w[head.wk]).sum(axis=0) + np.abs(w[head.bk])
        logit = float((q * k).sum())
        if logit >= largest or (dtype in _HALF and logit >= limit * _step(w[head.wq], w[head.bq])):
            return False
    return all(_layer_exact(module, layer, limit) for layer in module.loop.mlp.layers[:-1])


def _step(wq: np.ndarray, bq: np.ndarray) -> float:
    """The smallest nonzero query weight: logits are integer multiples of it."""
    nonzero = np.abs(np.concatenate([wq.ravel(), bq]))
    nonzero = nonzero[nonzero > 0]
    return float(nonzero.min()) if len(nonzero) else 1.0


def _layer_exact(module: dense.Module, layer: dense.MLPLayer, limit: float) -> bool:
    """Integer weights and biases, pre-activations below `limit` in magnitude."""
    parts = [module.weights[layer.w], *(module.weights[w] for _, w in layer.skips)]
    bias = np.abs(module.weights[layer.b])
    if any(not np.array_equal(p, np.round(p)) for p in [*parts, bias]):
        return limit >= 2**24  # fractional steps: the lowering checked float32's margins
    total = bias + sum(np.abs(p).sum(axis=0) for p in parts)
    return bool((total < limit).all())
