"""The torch backend: IR3 as an `nn.Module`, on CPU or CUDA, eager or under `torch.compile`.

`AltaTransformer` holds the IR3 weights as buffers, one per IR3 weight; torch forbids '.'
in buffer names, so `buffer_name` spells 'head.parity_left.wq' as 'head_parity_left_wq'
and `AltaTransformer.weight_names` keeps the exact IR3 name -> buffer name map, so that
`state_dict()` is the IR3 weight table under those names. It computes what the module
docstring of `alta.ir.dense` states, with the semantics of the numpy reference executor:

- Halting is per sequence. Every layer runs on the whole batch and a halted sequence is
  frozen with `torch.where`, which gives the numpy executor's results (it runs the layer
  on the active sub-batch only) because no row of a layer reads another row. Static
  shapes are what `torch.compile` and CUDA graphs need; the price is that halted
  sequences still cost compute until the whole batch halts.
- Keys at padded positions are masked (and so are keys outside a head's offsets); the
  softmax has the head's null slot (logit `null_logit`, value 0), computed as numpy does
  it: subtract the row max over keys and null, exponentiate, divide `weights @ v` by the
  sum. An all-masked row (an empty sequence) attends only to the null slot.
- Heads with the same (key, value) widths are stacked into one batched attention; their
  outputs meet in one matmul with the stacked `wo`. Stacking is redone from the buffers at
  every call (a few `cat`s), so the buffers stay the single source of truth.

Compilation. The layer loop is data-dependent (it stops when every sequence has halted,
which needs the host to read a flag), so `compile=True` compiles the layer body only:
`AltaTransformer.advance`, one layer plus the frozen-update and the halt test, a static-
shape function with no control flow. Dynamo would graph-break on the loop's `.any()`
anyway; compiling the body keeps that break out of the graph and lets one compiled graph
serve every iteration. `compile=True` uses torch's default backend (inductor), which works
on CPU here (torch 2.13 with a C++ compiler; first call compiles for tens of seconds);
`compile="aot_eager"` (or any torch.compile backend name) picks another, e.g. where no
C++ compiler is at hand. New batch or sequence sizes recompile (dynamo then marks them
dynamic).

CUDA graphs. `mode="reduce-overhead"` records the compiled layer body as a CUDA graph
and replays it, which removes the per-kernel launch cost that dominates these small
models; it applies only on CUDA and only to static shapes, so each new (batch, length)
records a new graph. `cuda_graphs=True` turns it on (implies `compile=True`); it is an
error on a non-CUDA device. Outputs of a replay live in memory the next replay reuses, so
the loop clones what it keeps (the residuals) and marks each step with
`torch.compiler.cudagraph_mark_step_begin`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from alta.backends import base
from alta.errors import BackendError
from alta.ir import dense

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
OPTIONS = ("compile", "cuda_graphs")

#: One stacked group of heads: wq, bq, wk, bk, wv, bv, wo, null logits [H], offsets
#: mask [H, N, N] or None (None: every head of the group sees every key).
Group = tuple[torch.Tensor, ...]


def buffer_name(name: str) -> str:
    """The buffer that holds IR3 weight `name` ('.' is not allowed in buffer names)."""
    return name.replace(".", "_")


class AltaTransformer(nn.Module):
    """An IR3 module as a torch module: embed, then one weight-shared layer, repeated."""

    def __init__(self, module: dense.Module) -> None:
        super().__init__()
        self.ir = module
        self.weight_names: dict[str, str] = {}
        taken: set[str] = set()
        for name in sorted(module.weights):
            key = buffer_name(name)
            if key in taken or hasattr(self, key):
                raise BackendError(
                    f"torch backend: weight '{name}' maps to buffer '{key}', which is taken"
                )
            taken.add(key)
            self.weight_names[name] = key
            self.register_buffer(key, torch.from_numpy(np.array(module.weights[name])))
        self.groups = _group_heads(module)
        self.advance_fn = self.advance
        self.cuda_graphs = False

    def compile_layer(self, backend: str = "inductor", cuda_graphs: bool = False) -> None:
        """Compile the layer body (`advance`); the halting loop stays in Python."""
        if cuda_graphs:
            self.advance_fn = torch.compile(self.advance, mode="reduce-overhead", dynamic=False)
        else:
            self.advance_fn = torch.compile(self.advance, backend=backend)
        self.cuda_graphs = cuda_graphs

    def weight(self, name: str) -> torch.Tensor:
        """The buffer holding IR3 weight `name`."""
        return getattr(self, self.weight_names[name])  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ one layer

    def pack(self, n: int) -> list[Group]:
        """Stack each head group's weights; build its offsets mask for length `n`."""
        ref = self.weight(self.ir.embed.tokens)
        pos = torch.arange(n, device=ref.device)
        offset = pos[None, :] - pos[:, None]  # offset[i, j] = j - i
        packed = []
        for heads in self.groups:
            cols = [
                torch.cat([self.weight(getattr(h, f)) for h in heads], dim=-1)
                for f in ("wq", "bq", "wk", "bk", "wv", "bv")
            ]
            wo = torch.cat([self.weight(h.wo) for h in heads], dim=0)
            null = torch.tensor([h.null_logit for h in heads], dtype=ref.dtype, device=ref.device)
            blocked = _blocked(heads, offset)
            packed.append((*cols, wo, null, blocked))
        return packed

    def attention(self, x: torch.Tensor, pad: torch.Tensor, group: Group) -> torch.Tensor:
        """One stacked head group's contribution to the residual, [B, N, d]."""
        wq, bq, wk, bk, wv, bv, wo, null, blocked = group
        b, n, _ = x.shape
        h = null.shape[0]
        q = (x @ wq + bq).reshape(b, n, h, wq.shape[1] // h).transpose(1, 2)
        k = (x @ wk + bk).reshape(b, n, h, wk.shape[1] // h).transpose(1, 2)
        v = (x @ wv + bv).reshape(b, n, h, wv.shape[1] // h).transpose(1, 2)
        logits = (q @ k.transpose(-1, -2)).masked_fill(pad, float("-inf"))
        if blocked is not None:
            logits = logits.masked_fill(blocked, float("-inf"))
        nulls = null.view(1, h, 1, 1).expand(b, h, n, 1)
        top = torch.maximum(logits.amax(dim=-1, keepdim=True), nulls) if n else nulls
        weights = torch.exp(logits - top)
        total = weights.sum(dim=-1, keepdim=True) + torch.exp(nulls - top)
        out = (weights @ v) / total
        return out.transpose(1, 2).reshape(b, n, wo.shape[0]) @ wo

    def layer(self, x: torch.Tensor, pad: torch.Tensor, packed: Sequence[Group]) -> torch.Tensor:
        """One layer on every sequence: x + attention, then x + MLP(x)."""
        update = torch.zeros_like(x)
        for group in packed:
            update = update + self.attention(x, pad, group)
        x = x + update
        h = x
        for mlp in self.ir.loop.mlp.layers:
            h = h @ self.weight(mlp.w) + self.weight(mlp.b)
            if mlp.act == dense.CLIPPED_RELU:
                h = torch.clamp(h, 0.0, 1.0)
        return x + h

    def halted(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """[B] bool: the halt dim is above 0.5 at every real position."""
        test = self.ir.loop.halt
        if test is None:
            return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        return ((x[..., test.dim] > 0.5) | ~valid).all(dim=1)

    def advance(
        self,
        x: torch.Tensor,
        active: torch.Tensor,
        layers: torch.Tensor,
        valid: torch.Tensor,
        pad: torch.Tensor,
        packed: Sequence[Group],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layer body (what `compile=True` compiles): one layer for the active
        sequences, halted ones frozen; returns (x, still active, layers run)."""
        x_new = self.layer(x, pad, packed)
        x = torch.where(active[:, None, None], x_new, x)
        layers = layers + active.to(layers.dtype)
        return x, active & ~self.halted(x_new, valid), layers

    # ------------------------------------------------------------------ the loop

    def embed(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Token (+ position) embeddings; padded positions read token 0."""
        table = self.weight(self.ir.embed.tokens)
        x = table[torch.where(valid, tokens, 0)]
        if self.ir.embed.positions is not None:
            positions = self.weight(self.ir.embed.positions)
            n = tokens.shape[1]
            if n > positions.shape[0]:  # only padded positions can lie beyond the range
                positions = torch.cat(
                    [positions, positions.new_zeros(n - len(positions), x.shape[-1])]
                )
            x = x + positions[None, :n]
        return x

    def start(
        self, tokens: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[Group]]:
        """Embedding, valid mask [B, N], key padding mask [B, 1, 1, N], packed heads."""
        n = tokens.shape[1]
        valid = torch.arange(n, device=tokens.device)[None, :] < lengths[:, None]
        return self.embed(tokens, valid), valid, ~valid[:, None, None, :], self.pack(n)

    def step(self, *args: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`advance`, compiled or not; a CUDA-graph replay's outputs are cloned because
        the next replay overwrites them."""
        if not self.cuda_graphs:
            return self.advance_fn(*args)  # type: ignore[no-any-return]
        torch.compiler.cudagraph_mark_step_begin()
        x, active, layers = self.advance_fn(*args)
        return x.clone(), active.clone(), layers.clone()

    def forward(
        self, tokens: torch.Tensor, lengths: torch.Tensor, max_layers: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Final residual [B, N, d] and layers run per sequence [B] (int64)."""
        x, valid, pad, packed = self.start(tokens, lengths)
        layers = torch.zeros(tokens.shape[0], dtype=torch.int64, device=tokens.device)
        active = torch.ones(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        for _ in range(max_layers):
            if not bool(active.any()):
                break
            x, active, layers = self.step(x, active, layers, valid, pad, packed)
        return x, layers

    def residuals(self, tokens: torch.Tensor, lengths: torch.Tensor, layers: int) -> torch.Tensor:
        """[layers + 1, B, N, d]: after the embedding and after each layer."""
        x, valid, pad, packed = self.start(tokens, lengths)
        count = torch.zeros(tokens.shape[0], dtype=torch.int64, device=tokens.device)
        active = torch.ones(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        out = [x]
        for _ in range(layers):
            if bool(active.any()):
                x, active, count = self.step(x, active, count, valid, pad, packed)
            out.append(x)
        return torch.stack(out)


def _blocked(heads: Sequence[dense.Head], offset: torch.Tensor) -> torch.Tensor | None:
    """[H, N, N] bool: key j is outside head h's offsets for query i (None: never)."""
    if all(h.offsets is None for h in heads):
        return None
    masks = []
    for head in heads:
        if head.offsets is None:
            masks.append(torch.zeros_like(offset, dtype=torch.bool))
        else:
            allowed = torch.tensor(head.offsets, dtype=offset.dtype, device=offset.device)
            masks.append(~torch.isin(offset, allowed))
    return torch.stack(masks)


def _group_heads(module: dense.Module) -> list[tuple[dense.Head, ...]]:
    """Heads grouped by (key width, value width), in first-seen order."""
    groups: dict[tuple[int, int], list[dense.Head]] = {}
    for head in module.loop.attention.heads:
        shape = (module.weights[head.wq].shape[1], module.weights[head.wv].shape[1])
        groups.setdefault(shape, []).append(head)
    return [tuple(g) for g in groups.values()]


# ---------------------------------------------------------------------- the backend


class TorchBackend(base.Backend):
    name = "torch"

    def build(
        self,
        module: dense.Module,
        *,
        dtype: str = "float32",
        device: str | None = None,
        **options: Any,
    ) -> TorchExecutor:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise BackendError(
                f"torch backend: unknown options {unknown}; known options: {list(OPTIONS)}"
            )
        torch_dtype = _dtype(dtype)
        torch_device = _device(device)
        compile_opt, cuda_graphs = options.get("compile", False), options.get("cuda_graphs", False)
        if not isinstance(cuda_graphs, bool) or not isinstance(compile_opt, bool | str):
            raise BackendError(
                "torch backend: compile takes True/False or a torch.compile backend name, "
                "cuda_graphs takes True/False"
            )
        if cuda_graphs and torch_device.type != "cuda":
            raise BackendError(
                f"torch backend: cuda_graphs=True needs a CUDA device, not '{torch_device}'"
            )
        if cuda_graphs and compile_opt not in (False, True, "inductor"):
            raise BackendError(
                f"torch backend: cuda_graphs=True compiles with inductor, not '{compile_opt}'"
            )
        model = AltaTransformer(module).to(device=torch_device, dtype=torch_dtype).eval()
        if cuda_graphs or compile_opt:
            backend = compile_opt if isinstance(compile_opt, str) else "inductor"
            model.compile_layer(backend, cuda_graphs)
        return TorchExecutor(model, torch_device, torch_dtype)


@attrs.frozen
class TorchExecutor:
    """Numpy in, numpy out; half-precision results come back as float32."""

    model: AltaTransformer
    device: torch.device
    dtype: torch.dtype

    def run(
        self, tokens: np.ndarray, lengths: np.ndarray, max_layers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode(), self._context("run"):
            x, layers = self.model(*self._inputs(tokens, lengths), int(max_layers))
            return self._numpy(x), layers.cpu().numpy()

    def residuals(self, tokens: np.ndarray, lengths: np.ndarray, layers: int) -> np.ndarray:
        with torch.inference_mode(), self._context("residuals"):
            return self._numpy(self.model.residuals(*self._inputs(tokens, lengths), int(layers)))

    def _inputs(self, tokens: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, ...]:
        return (
            torch.as_tensor(np.asarray(tokens, dtype=np.int64), device=self.device),
            torch.as_tensor(np.asarray(lengths, dtype=np.int64), device=self.device),
        )

    def _numpy(self, x: torch.Tensor) -> np.ndarray:
        if self.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return x.cpu().numpy()  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def _context(self, what: str) -> Iterator[None]:
        """Turn a torch failure (out of memory, a compile error) into a `BackendError`."""
        try:
            yield
        except RuntimeError as err:
            raise BackendError(
                f"torch backend: {what} of model '{self.model.ir.name}' on {self.device} "
                f"failed: {err}"
            ) from err


def _dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    name = np.dtype(dtype).name if isinstance(dtype, type) else str(dtype)
    if name not in DTYPES:
        raise BackendError(
            f"torch backend: unsupported dtype '{dtype}'; choose one of {list(DTYPES)}"
        )
    return DTYPES[name]


def _device(device: str | None) -> torch.device:
    try:
        parsed = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as err:
        raise BackendError(f"torch backend: bad device '{device}': {err}") from err
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(
                f"torch backend: device '{device}' requested but CUDA is not available "
                f"(torch {torch.__version__}); use device='cpu'"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise BackendError(
                f"torch backend: device '{device}' does not exist "
                f"({torch.cuda.device_count()} CUDA devices)"
            )
    return parsed
