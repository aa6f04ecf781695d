"""The reference executor of IR3, in numpy. Other backends are checked against it."""

from __future__ import annotations

from typing import Literal

import attrs
import numpy as np

from alta.backends import base
from alta.ir import dense


@attrs.frozen
class NumpyOptions(base.Options):
    """The reference runs on the CPU only."""

    dtype: Literal["float16", "float32", "float64"] = base.dtype_option()
    device: Literal["cpu"] | None = None


class NumpyBackend(base.Backend):
    name = "numpy"
    Options = NumpyOptions

    def executor(self, module: dense.Module, options: NumpyOptions) -> NumpyExecutor:
        weights = {k: np.asarray(v, dtype=options.dtype) for k, v in module.weights.items()}
        return NumpyExecutor(module, weights, np.dtype(options.dtype))


@attrs.frozen
class NumpyExecutor:
    module: dense.Module
    weights: dict[str, np.ndarray]
    dtype: np.dtype

    def embed(self, tokens: np.ndarray) -> np.ndarray:
        w = self.weights
        x = w[self.module.embed.tokens][tokens]
        if self.module.embed.positions is not None:
            table = w[self.module.embed.positions][: tokens.shape[1]]
            # Positions past position_range can only be padding: give them zeros.
            pad = np.zeros((tokens.shape[1] - len(table), table.shape[1]), dtype=table.dtype)
            x = x + np.concatenate([table, pad])[None]
        return x

    def attend(self, head: dense.Head, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """One head's contribution to the residual: softmax over its allowed keys and
        the null slot (value 0), times Wo."""
        w, n = self.weights, x.shape[1]
        q = x @ w[head.wq] + w[head.bq]
        k = x @ w[head.wk] + w[head.bk]
        v = x @ w[head.wv] + w[head.bv]
        logits = q @ k.transpose(0, 2, 1)
        allowed = valid[:, None, :]
        if head.offsets is not None:
            offset = np.arange(n)[None, :] - np.arange(n)[:, None]
            allowed = allowed & np.isin(offset, head.offsets)[None]
        logits = np.where(allowed, logits, -np.inf)
        null = self.dtype.type(head.null_logit)
        top = np.maximum(logits.max(axis=2, initial=-np.inf), null)
        weights = np.exp(logits - top[..., None])
        total = weights.sum(axis=2) + np.exp(null - top)
        return ((weights @ v) / total[..., None]) @ w[head.wo]  # type: ignore[no-any-return]

    def layer(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Each attention stage on the x the stages before it left, then the MLP."""
        w, loop = self.weights, self.module.loop
        for stage in loop.attention.stages:
            update = np.zeros_like(x)
            for head in stage:
                update = update + self.attend(head, x, valid)
            x = x + update
        outputs = [x]
        for layer in loop.mlp.layers:
            h = outputs[-1] @ w[layer.w] + w[layer.b]
            for source, skip in layer.skips:
                h = h + outputs[source] @ w[skip]
            if layer.act == dense.CLIPPED_RELU:
                h = np.clip(h, 0.0, 1.0)
            outputs.append(h)
        return x + outputs[-1]

    def halted(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        test = self.module.loop.halt
        if test is None:
            return np.zeros(x.shape[0], dtype=bool)
        return ((x[..., test.dim] > 0.5) | ~valid).all(axis=1)

    def run(
        self, tokens: np.ndarray, lengths: np.ndarray, max_layers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A sequence stops when it halts or reaches a fixed point (a layer leaves its real
        positions exactly as they were); one that has not halted reports max_layers."""
        valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        x = self.embed(tokens)
        layers = np.zeros(len(tokens), dtype=np.int64)
        active = np.ones(len(tokens), dtype=bool)
        for _ in range(max_layers):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            x_old, sub_valid = x[idx], valid[idx]
            x_new = self.layer(x_old, sub_valid)
            x[idx] = x_new
            layers[idx] += 1
            same = ((x_new == x_old) | ~sub_valid[..., None]).all(axis=(1, 2))
            active[idx[self.halted(x_new, sub_valid) | same]] = False
        return x, np.where(self.halted(x, valid), layers, max_layers)

    def residuals(self, tokens: np.ndarray, lengths: np.ndarray, layers: int) -> np.ndarray:
        valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        x = self.embed(tokens)
        out = [x]
        active = np.ones(len(tokens), dtype=bool)
        for _ in range(layers):
            x = x.copy()
            idx = np.flatnonzero(active)
            if len(idx):
                x_new = self.layer(x[idx], valid[idx])
                x[idx] = x_new
                active[idx[self.halted(x_new, valid[idx])]] = False
            out.append(x)
        return np.stack(out)
