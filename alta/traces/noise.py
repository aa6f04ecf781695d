"""Noise for the undefined variables of an MLP input, as the paper's traces have it.

A learned MLP must ignore a variable that is None; filling its dims with noise (the paper:
uniform(-10, 10)) teaches it to. Only the MLP input gets noise; None in an MLP output is
zeros, which is what the compiled MLP writes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from alta.errors import TraceError

#: The paper's range.
DEFAULT: tuple[float, float] = (-10.0, 10.0)

Seed = int | tuple[int, ...] | np.random.Generator | None


def check(noise: Any) -> tuple[float, float] | None:
    """`noise` as (low, high) with low <= high, both finite; None means no noise."""
    if noise is None:
        return None
    try:
        low, high = (float(x) for x in noise)
    except (TypeError, ValueError):
        raise TraceError(f"noise must be (low, high) or None, got {noise!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise TraceError(f"noise must be finite (low, high) with low <= high, got {noise!r}")
    return low, high


def fill(vectors: np.ndarray, undefined: np.ndarray, noise: Any, seed: Seed) -> np.ndarray:
    """A copy of `vectors` with the `undefined` dims drawn uniformly from `noise`
    (reproducibly, from `seed`); with `noise=None`, the copy keeps their zeros."""
    out = np.array(vectors, dtype=np.float64)
    bounds = check(noise)
    if bounds is None:
        return out
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out[undefined] = rng.uniform(bounds[0], bounds[1], size=int(undefined.sum()))
    return out
