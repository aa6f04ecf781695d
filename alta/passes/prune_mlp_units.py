"""`prune-mlp-units`: drop MLP units (IR3) that change nothing; d_model is kept.

Units that never fire (no input weight, bias clipped to 0) or whose output nothing reads
are dropped, units that are always on are folded into the next layer's bias, and an
expansion layer that only copies 0/1 dims is fused into the next layer.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from alta.ir import dense, sparse
from alta.ir.types import Level
from alta.passes import base, context


@attrs.frozen
class PruneMlpUnitsPass(base.Pass):
    """Drop dead MLP units and fuse a copying expansion layer (IR3)."""

    name: ClassVar[str] = "prune-mlp-units"
    level: ClassVar[Level] = Level.DENSE

    def run(self, module: dense.Module) -> dense.Module:
        result = prune_dense(module)
        context.current().record("mlp widths", list(module.mlp_widths), list(result.mlp_widths))
        return result


def prune_dense(module: dense.Module) -> dense.Module:
    weights = dict(module.weights)
    layers = list(module.loop.mlp.layers)
    changed = False
    if (
        len(layers) == 3
        and not any(layer.skips for layer in layers)
        and _fuse_identity(module, weights, layers)
    ):
        layers = layers[1:]
        changed = True
    for k in range(1, len(layers)):
        changed |= _drop_units(weights, layers, k)
    if not changed:
        return module
    mlp = dense.MLP(tuple(layers))
    used = {n for n in weights if not n.startswith("mlp.")} | {
        n for layer in layers for n in (layer.w, layer.b, *(w for _, w in layer.skips))
    }
    return attrs.evolve(
        module,
        weights={n: w for n, w in weights.items() if n in used},
        loop=attrs.evolve(module.loop, mlp=mlp),
    )


def _drop_units(weights: dict[str, np.ndarray], layers: list[dense.MLPLayer], k: int) -> bool:
    """Drop units of hidden layer k (1-based) that are always 0 or feed nothing; fold
    always-on units into the biases of the layers that read them."""
    layer = layers[k - 1]
    inputs = [weights[layer.w], *(weights[w] for _, w in layer.skips)]
    b = weights[layer.b]
    # Who reads layer k: the next layer's w, and any later layer's skip from k.
    readers = [(layers[k], layers[k].w)] + [
        (later, w) for later in layers[k:] for source, w in later.skips if source == k
    ]
    no_input = ~np.any([w.any(axis=0) for w in inputs], axis=0)
    const = np.where(no_input, np.clip(b, 0.0, 1.0), 0.0)
    read = np.any([weights[w].any(axis=1) for _, w in readers], axis=0)
    dead = no_input | ~read
    if not dead.any():
        return False
    for reader, w in readers:
        weights[reader.b] = weights[reader.b] + const @ weights[w]
        weights[w] = weights[w][~dead]
    keep = ~dead
    weights[layer.w], weights[layer.b] = weights[layer.w][:, keep], b[keep]
    for _, w in layer.skips:
        weights[w] = weights[w][:, keep]
    return True


def _fuse_identity(
    module: dense.Module, weights: dict[str, np.ndarray], layers: list[dense.MLPLayer]
) -> bool:
    """An expansion layer whose units each copy one 0/1 dim can be folded into the next."""
    first, second = layers[0], layers[1]
    w, b = weights[first.w], weights[first.b]
    binary: set[int] = set()
    for slot in module.layout:
        dims = range(slot.start, slot.stop)
        binary.update(dims if slot.kind != sparse.NUMERICAL else dims[1:])
    for j in range(w.shape[1]):
        nz = np.flatnonzero(w[:, j])
        if b[j] != 0 or len(nz) != 1 or w[nz[0], j] != 1.0 or int(nz[0]) not in binary:
            return False
    weights[second.w] = w @ weights[second.w]
    return True
