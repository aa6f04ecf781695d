"""Universal and standard Transformers for the end-to-end baselines.

The question the baselines answer is whether ordinary training finds the algorithm a
compiled program spells out, so the learner gets the compiled model's shape (width,
heads, MLP widths, layers) and positional scheme, and, to rule out capacity as the
explanation, a wider copy. Attention is bidirectional (compiled heads look both ways) and
padding is masked out of it. Relative positions are a learned bias per (head, clipped
offset) on the attention logits, T5-style, with no absolute table anywhere, so the
weights do not depend on the length; absolute positions are a learned table of
`max_length` rows. A Universal Transformer applies one layer's weights `layers` times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import attrs
import torch
from torch import nn

if TYPE_CHECKING:
    from alta.model import CompiledModel

Positions = Literal["absolute", "relative"]

#: Largest MLP hidden width `compiled_shape` keeps: compiled MLPs have one unit per rule
#: (addition: 1,286), far more than a learner of this size needs or a CPU trains quickly.
MLP_CAP = 512


def _widths(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(w) for w in value)


@attrs.frozen(kw_only=True)
class TransformerConfig:
    """The shape of a baseline. `layers` is the number of applications of the shared
    layer for a Universal Transformer and the number of distinct layers otherwise."""

    vocab: int
    d_model: int
    heads: int
    mlp_hidden: tuple[int, ...] = attrs.field(converter=_widths)
    layers: int
    universal: bool
    positions: Positions
    max_length: int
    outputs: int
    relative_window: int = 8
    layer_norm: bool = True

    def __attrs_post_init__(self) -> None:
        for name in ("vocab", "d_model", "heads", "layers", "max_length", "outputs"):
            if getattr(self, name) < 1:
                raise ValueError(f"TransformerConfig.{name} must be at least 1")
        if any(w < 1 for w in self.mlp_hidden):
            raise ValueError(f"TransformerConfig.mlp_hidden has a width < 1: {self.mlp_hidden}")
        if self.positions not in ("absolute", "relative"):
            raise ValueError(
                f"TransformerConfig.positions is '{self.positions}': choose absolute or relative"
            )
        if self.relative_window < 0:
            raise ValueError("TransformerConfig.relative_window must be at least 0")

    @property
    def head_dim(self) -> int:
        """Per-head width: d_model need not divide by the heads (addition: 81 and 6)."""
        return math.ceil(self.d_model / self.heads)


def compiled_shape(
    model: CompiledModel,
    *,
    universal: bool = True,
    layers: int,
    outputs: int,
    positions: Positions,
    max_length: int,
) -> TransformerConfig:
    """The compiled model's d_model, head count (at least 1) and MLP widths (each capped
    at `MLP_CAP`; one of d_model if it has none), with its vocabulary (input_range)."""
    ir = model.ir
    return TransformerConfig(
        vocab=ir.input_range,
        d_model=ir.d_model,
        heads=max(1, len(ir.loop.attention.heads)),
        mlp_hidden=tuple(min(w, MLP_CAP) for w in ir.mlp_widths) or (ir.d_model,),
        layers=layers,
        universal=universal,
        positions=positions,
        max_length=max_length,
        outputs=outputs,
    )


def wider(
    config: TransformerConfig, d_model: int = 128, mlp_hidden: tuple[int, ...] | None = None
) -> TransformerConfig:
    """The same learner with a wider residual stream; the MLP widths grow to at least
    2 * d_model each unless given."""
    hidden = mlp_hidden or tuple(max(w, 2 * d_model) for w in config.mlp_hidden)
    return attrs.evolve(config, d_model=d_model, mlp_hidden=hidden)


class _Attention(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = config.heads, config.head_dim
        inner = config.heads * config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * inner)
        self.out = nn.Linear(inner, config.d_model)
        self.window = config.relative_window
        self.relative = (
            nn.Parameter(torch.zeros(config.heads, 2 * self.window + 1))
            if config.positions == "relative"
            else None
        )

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # [B, H, N, N]
        if self.relative is not None:
            pos = torch.arange(n, device=x.device)
            offset = (pos[None, :] - pos[:, None]).clamp(-self.window, self.window)
            logits = logits + self.relative[:, offset + self.window][None]
        logits = logits.masked_fill(~keep[:, None, None, :], float("-inf"))
        mixed = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, -1)
        return self.out(mixed)


def _norm(config: TransformerConfig) -> nn.Module:
    return nn.LayerNorm(config.d_model) if config.layer_norm else nn.Identity()


class _Layer(nn.Module):
    """Pre-norm (or, with layer_norm=False, unnormalised like the compiled model)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.norm_attn, self.norm_mlp = _norm(config), _norm(config)
        self.attention = _Attention(config)
        widths = [config.d_model, *config.mlp_hidden]
        blocks: list[nn.Module] = []
        for w_in, w_out in itertools.pairwise(widths):
            blocks += [nn.Linear(w_in, w_out), nn.ReLU()]
        self.mlp = nn.Sequential(*blocks, nn.Linear(widths[-1], config.d_model))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm_attn(x), keep)
        return x + self.mlp(self.norm_mlp(x))


class Transformer(nn.Module):
    """Per-position logits [B, N, outputs] from tokens [B, N] and lengths [B]."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.d_model)
        self.position = (
            nn.Embedding(config.max_length, config.d_model)
            if config.positions == "absolute"
            else None
        )
        count = 1 if config.universal else config.layers
        self.blocks = nn.ModuleList(_Layer(config) for _ in range(count))
        self.norm = _norm(config)
        self.readout = nn.Linear(config.d_model, config.outputs)

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, *, layers: int | None = None
    ) -> torch.Tensor:
        """Right-padded batch; `layers` overrides the applications of a Universal
        Transformer (to run it longer on longer inputs)."""
        if bool((lengths < 1).any()):
            raise ValueError("Transformer: every sequence needs at least one token")
        keep = torch.arange(tokens.shape[1], device=tokens.device)[None, :] < lengths[:, None]
        return self.forward_masked(tokens, keep, layers=layers)

    def forward_masked(
        self, tokens: torch.Tensor, keep: torch.Tensor, *, layers: int | None = None
    ) -> torch.Tensor:
        """`keep[b, j]`: position j of row b is a token, not padding (padding may sit
        anywhere, so a test can place the same content at different offsets)."""
        config = self.config
        if bool((tokens < 0).any() | (tokens >= config.vocab).any()):
            raise ValueError(
                f"Transformer: a token is outside the vocabulary 0..{config.vocab - 1}"
            )
        x = self.embed(tokens)
        if self.position is not None:
            n = tokens.shape[1]
            if n > config.max_length:
                raise ValueError(
                    f"Transformer: {n} positions exceed the absolute table's max_length="
                    f"{config.max_length}"
                )
            x = x + self.position.weight[:n][None]
        for block in self._schedule(layers):
            x = block(x, keep)
        return self.readout(self.norm(x))

    def _schedule(self, layers: int | None) -> list[nn.Module]:
        if not self.config.universal:
            if layers not in (None, self.config.layers):
                raise ValueError(
                    f"Transformer: layers={layers}, but a standard Transformer has exactly "
                    f"{self.config.layers} layers"
                )
            return list(self.blocks)
        count = self.config.layers if layers is None else layers
        if count < 1:
            raise ValueError(f"Transformer: layers={count} must be at least 1")
        return [self.blocks[0]] * count
