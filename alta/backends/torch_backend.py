"""The torch backend: IR3 as an `nn.Module`, on CPU or CUDA, eager or under `torch.compile`.

`AltaTransformer` holds the IR3 weights as buffers, one per IR3 weight; torch forbids '.'
in buffer names, so `buffer_name` spells 'head.parity_left.wq' as 'head_parity_left_wq'
and `AltaTransformer.weight_names` keeps the exact IR3 name -> buffer name map, so that
`state_dict()` is the IR3 weight table under those names. It computes what the module
docstring of `alta.ir.dense` states, with the semantics of the numpy reference executor:

- Halting is per sequence, as in numpy: a layer runs on the sequences still active and a
  halted sequence is frozen (`torch.where` in `advance`), and so is one that reached a
  fixed point (the layer left its real positions exactly unchanged); a sequence that did
  not halt reports max_layers layers, as in the interpreter. No row of a layer reads
  another row, so running a sub-batch or a masked full batch gives the same numbers.
  `forward` runs the masked batch and shrinks it (gathers the active rows) as sequences
  halt. Eager, it shrinks to exactly the active rows once a quarter has halted (like
  numpy; faster than halving on ragged batches, see benchmarks/README.md). Compiled, it
  only halves, to sizes B, B/2, B/4, ... topped up with frozen rows, while at most half
  is active: at most twice the active work, but at most log2(B) + 1 shapes for the
  compiled layer body (one CUDA graph each). `residuals` never shrinks.
- Keys at padded positions are masked (and so are keys outside a head's offsets); the
  softmax runs over the keys and the head's null slot (logit `null_logit`, value 0), so an
  all-masked row (an empty sequence) attends only to the null slot. The masks are built
  once per call as an additive bias (0 or -inf) with the null logits as one more key
  column, so logits are one `baddbmm` and the weights one `torch.softmax`. That is not
  numpy's spelled-out max/exp/sum (the results agree to float rounding): on CPU
  `torch.exp` leaves its vector path for arguments far below zero, which is every
  non-attended key of a hard-attention head (benchmarks/README.md has the measurement).
- Attention runs stage by stage (`alta.ir.dense`): each stage's heads read the x that
  the stages before it left. Within a stage, heads with the same key and value widths
  are stacked into one batched attention, their q/k/v projections into one matmul and
  their outputs into one matmul with the stacked `wo`; stacking is redone from the
  buffers at every call (a few `cat`s), so the buffers stay the single source of truth.
  A head with at most `MAX_BANDED_OFFSETS` relative offsets gathers just those keys
  (O(N) instead of O(N^2)); out-of-range keys are masked.

Compilation. The layer loop is data-dependent (it stops when every sequence has halted,
which needs the host to read a count), so `compile=True` compiles the layer body only:
`AltaTransformer.advance`, one layer plus the frozen update and the halt test, a
straight-line function of tensors with no graph break (a test checks `fullgraph=True`).
Compiling the whole `forward` would graph-break at that count every layer; compiling the
body lets one compiled graph serve every iteration. `compile=True` uses torch's default
backend, inductor, which works on CPU given a C++ compiler; its first call compiles
(cached on disk afterwards; times and speed-ups are in benchmarks/README.md).
`compile="aot_eager"` (any torch.compile backend name)
picks another, e.g. where no C++ compiler is at hand. A new batch or sequence size
recompiles once, after which dynamo treats sizes as dynamic.

Sparse MLP weights. Option `mlp` ("auto", "dense", "sparse"; `base.mlp_plan`) runs an
MLP weight matrix as a transposed CSR copy (`use_sparse`; cuSPARSE on CUDA, MKL on CPU,
where float16 and bfloat16 fall back to dense); the dense buffer stays the weight. An MLP
with a sparse weight runs tokens last (`mlp_tokens_last`), the layout CSR products take
and give. torch.compile cannot trace sparse tensors: a compiled layer body runs that MLP
eagerly, a graph break (docs/sparse-execution.md).

CUDA graphs. `mode="reduce-overhead"` records the compiled layer body as a CUDA graph
and replays it, which removes the per-kernel launch cost that dominates these small
models. It applies only on CUDA and only to static shapes: it is compiled with
`dynamic=False`, so each (batch, length) records its own graph, and the shrinking batch
adds at most log2(B) sizes. `cuda_graphs=True` turns it on (implying `compile=True`); it
is an error on a non-CUDA device. A replay's outputs live in memory the next replay
reuses, so `step` marks each step with `torch.compiler.cudagraph_mark_step_begin` and
clones what the loop keeps.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import attrs
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from alta.backends import base
from alta.errors import BackendError
from alta.ir import dense

#: A stacked head group's weights: wqkv [d, H*(2k+v)], bqkv [H*(2k+v)], wo [H*v, d].
Group = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def buffer_name(name: str) -> str:
    """The buffer that holds IR3 weight `name` ('.' is not allowed in buffer names)."""
    return name.replace(".", "_")


@attrs.frozen
class HeadGroup:
    """Heads of one attention stage run as one batched attention: same key and value
    widths and, when `offsets` is set (a banded group), the same few relative offsets."""

    heads: tuple[dense.Head, ...]
    offsets: tuple[int, ...] | None
    stage: int = 0


#: Heads with at most this many distinct offsets gather their keys (banded attention).
MAX_BANDED_OFFSETS = 8


def _group_heads(module: dense.Module) -> list[HeadGroup]:
    """Per stage, in stage order, the heads grouped by (key width, value width, offsets if
    banded), first-seen order."""
    out = []
    for stage, heads in enumerate(module.loop.attention.stages):
        groups: dict[tuple[int, int, tuple[int, ...] | None], list[dense.Head]] = {}
        for head in heads:
            offsets = None
            if head.offsets is not None and len(set(head.offsets)) <= MAX_BANDED_OFFSETS:
                offsets = tuple(sorted(set(head.offsets)))
            shape = (module.weights[head.wq].shape[1], module.weights[head.wv].shape[1], offsets)
            groups.setdefault(shape, []).append(head)
        out += [HeadGroup(tuple(group), key[2], stage) for key, group in groups.items()]
    return out


class AltaTransformer(nn.Module):
    """An IR3 module as a torch module: embed, then one weight-shared layer, repeated.

    The batch-dependent inputs of a layer are `valid` [B, N] (real positions) and one
    attention bias per head group (see `biases`): 0 or -inf per key, then the heads' null
    logits as an extra key column whose key and value are 0, so the null slot rides
    along in the same matmul and softmax as the keys."""

    def __init__(self, module: dense.Module) -> None:
        super().__init__()
        self.ir = module
        self.weight_names: dict[str, str] = {}
        for name in sorted(module.weights):
            key = buffer_name(name)
            if key in self.weight_names.values() or hasattr(self, key):
                raise BackendError(
                    f"torch backend: weight '{name}' maps to buffer '{key}', which is taken"
                )
            self.weight_names[name] = key
            self.register_buffer(key, torch.from_numpy(np.array(module.weights[name])))
        self.groups = _group_heads(module)
        #: IR3 name -> buffer of its transposed CSR copy, for MLP weights run sparse.
        self.sparse_weights: dict[str, str] = {}
        #: IR3 name -> how it runs (`base.MLP_EXECUTION`), for every MLP weight matrix.
        self.mlp_execution = base.mlp_plan(module, "dense")
        self.advance_fn = self.advance
        self.compiled = self.cuda_graphs = False

    def compile_layer(self, backend: str = "inductor", cuda_graphs: bool = False) -> None:
        """Compile the layer body (`advance`); the halting loop stays in Python."""
        if cuda_graphs:
            self.advance_fn = torch.compile(self.advance, mode="reduce-overhead", dynamic=False)
        else:
            self.advance_fn = torch.compile(self.advance, backend=backend)
        self.compiled, self.cuda_graphs = True, cuda_graphs

    def weight(self, name: str) -> torch.Tensor:
        """The buffer holding IR3 weight `name`."""
        return getattr(self, self.weight_names[name])  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ one layer

    def pack(self) -> list[Group]:
        """Each head group's projections as one matmul: [wq | wk | wv] per head, stacked."""
        packed = []
        for group in self.groups:
            heads = group.heads
            w = [self.weight(getattr(h, f)) for f in ("wq", "wk", "wv") for h in heads]
            b = [self.weight(getattr(h, f)) for f in ("bq", "bk", "bv") for h in heads]
            wo = torch.cat([self.weight(h.wo) for h in heads], dim=0)
            packed.append((torch.cat(w, dim=1), torch.cat(b), wo))
        return packed

    def attention(
        self, x: torch.Tensor, bias: torch.Tensor, weights: Group, group: HeadGroup
    ) -> torch.Tensor:
        """One head group's contribution to the residual, [B, N, d]."""
        wqkv, bqkv, wo = weights
        b, n, d = x.shape
        h = len(group.heads)
        kw, vw = (wqkv.shape[1] - wo.shape[0]) // (2 * h), wo.shape[0] // h
        qkv = torch.addmm(bqkv, x.reshape(b * n, d), wqkv)
        q, k, v = (
            t.reshape(b, n, h, w).transpose(1, 2)
            for t, w in zip(qkv.split([h * kw, h * kw, h * vw], dim=1), (kw, kw, vw), strict=True)
        )
        if group.offsets is not None:
            out = _banded(q, k, v, bias, group.offsets)
        else:
            k = F.pad(k, (0, 0, 0, 1)).reshape(b * h, n + 1, kw)  # the null slot's key ...
            v = F.pad(v, (0, 0, 0, 1)).reshape(b * h, n + 1, vw)  # ... and value: zero
            logits = torch.baddbmm(bias.view(b * h, n, n + 1), q.reshape(b * h, n, kw), k.mT)
            out = torch.bmm(torch.softmax(logits, dim=-1), v).view(b, h, n, vw)
        return (out.transpose(1, 2).reshape(b * n, h * vw) @ wo).view(b, n, d)

    def layer(
        self, x: torch.Tensor, biases: Sequence[torch.Tensor], packed: Sequence[Group]
    ) -> torch.Tensor:
        """One layer on every sequence: x + attention, stage by stage, then x + MLP(x)."""
        return self.mlp_sublayer(self.attention_sublayers(x, biases, packed))

    def attention_sublayers(
        self, x: torch.Tensor, biases: Sequence[torch.Tensor], packed: Sequence[Group]
    ) -> torch.Tensor:
        """x after each attention stage adds its heads' outputs (the MLP's input)."""
        for stage in range(len(self.ir.loop.attention.stages)):
            update = torch.zeros_like(x)
            for bias, weights, group in zip(biases, packed, self.groups, strict=True):
                if group.stage == stage:
                    update = update + self.attention(x, bias, weights, group)
            x = x + update
        return x

    def mlp_sublayer(self, x: torch.Tensor) -> torch.Tensor:
        """x + MLP(x): the compiled MLP (a learned one replaces this, alta.learn.plugged).
        Layer k reads layer k-1 and, through its skips, x (source 0) or earlier layers."""
        h = x.reshape(-1, x.shape[-1])
        if self.sparse_weights:
            return x + self.mlp_tokens_last(h.t()).t().reshape(x.shape)
        outputs = [h]
        for mlp in self.ir.loop.mlp.layers:
            h = torch.addmm(self.weight(mlp.b), outputs[-1], self.weight(mlp.w))
            for source, skip in mlp.skips:
                h = h + outputs[source] @ self.weight(skip)
            if mlp.act == dense.CLIPPED_RELU:
                h = h.clamp_(0.0, 1.0)
            outputs.append(h)
        return x + outputs[-1].view(x.shape)

    @torch.compiler.disable
    def mlp_tokens_last(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP on x^T [d, tokens] when some weight is sparse: a CSR product W^T h^T
        takes and gives tokens last, so the whole MLP runs that way (bias adds and clamps
        on contiguous rows; dense weights multiply as W^T views). torch.compile cannot
        trace sparse tensors, so a compiled layer body runs this eagerly (a graph break)."""
        outputs = [x]
        for mlp in self.ir.loop.mlp.layers:
            h = torch.addmm(self.weight(mlp.b)[:, None], self.transposed(mlp.w), outputs[-1])
            for source, skip in mlp.skips:
                h = torch.addmm(h, self.transposed(skip), outputs[source])
            if mlp.act == dense.CLIPPED_RELU:
                h = h.clamp_(0.0, 1.0)
            outputs.append(h)
        return outputs[-1]

    def transposed(self, name: str) -> torch.Tensor:
        """Weight `name` transposed, [out, in]: its CSR copy if it runs sparse, else a view."""
        if name in self.sparse_weights:
            return getattr(self, self.sparse_weights[name])  # type: ignore[no-any-return]
        return self.weight(name).t()

    def use_sparse(self, plan: dict[str, str]) -> None:
        """Give each weight that `plan` marks "sparse" a transposed CSR copy ([out, in]; a
        non-persistent buffer, so it follows `.to()` but is not in `state_dict`), built
        from the buffer as it is now: call this after moving the module to its device and
        dtype. `mlp_execution` records what each weight runs as; a weight whose sparse
        product the device lacks for the dtype stays dense ("dense-fallback")."""
        done = {}
        for name, how in plan.items():
            weight = self.weight(name)
            if how == "sparse" and not _has_sparse_kernel(weight.device, weight.dtype):
                how = "dense-fallback"
            if how == "sparse":
                key = self.weight_names[name] + "__csr_t"
                if hasattr(self, key) and key not in self.sparse_weights.values():
                    raise BackendError(
                        f"torch backend: the CSR copy of weight '{name}' maps to '{key}', "
                        "which is taken"
                    )
                with warnings.catch_warnings():  # "sparse CSR support is in beta"
                    warnings.simplefilter("ignore", UserWarning)
                    csr = weight.t().contiguous().to_sparse_csr()
                self.register_buffer(key, csr, persistent=False)
                self.sparse_weights[name] = key
            done[name] = how
        self.mlp_execution.update(done)

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
        biases: Sequence[torch.Tensor],
        packed: Sequence[Group],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The layer body (what `compile=True` compiles): one layer for the active
        sequences, halted ones frozen; returns (x, still active, layers run). A sequence
        whose real positions the layer left exactly unchanged is at a fixed point: it
        stops too."""
        x_new = self.layer(x, biases, packed)
        same = ((x_new == x) | ~valid[:, :, None]).flatten(1).all(dim=1)
        x = torch.where(active[:, None, None], x_new, x)
        layers = layers + active.to(layers.dtype)
        return x, active & ~self.halted(x_new, valid) & ~same, layers

    # ------------------------------------------------------------------ the loop

    def embed(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Token (+ position) embeddings; padded positions read token 0."""
        table = self.weight(self.ir.embed.tokens)
        x = table[torch.where(valid, tokens, 0)]
        if self.ir.embed.positions is not None:
            positions = self.weight(self.ir.embed.positions)
            n = tokens.shape[1]
            if n > positions.shape[0]:  # only padded positions can lie beyond the range
                extra = positions.new_zeros(n - positions.shape[0], x.shape[-1])
                positions = torch.cat([positions, extra])
            x = x + positions[None, :n]
        return x

    def biases(self, valid: torch.Tensor, dtype: torch.dtype) -> list[torch.Tensor]:
        """Per head group, additive masks (0 or -inf) with the null logits as the last
        column: [B, H, N, N + 1] for a dense group, [B, H, N, |offsets| + 1] for a banded
        one (column o: the key at i + offsets[o])."""
        b, n = valid.shape
        pos = torch.arange(n, device=valid.device)
        out = []
        for group in self.groups:
            if group.offsets is None:
                blocked = ~valid[:, None, None, :] | _outside_offsets(group.heads, pos)[None]
            else:
                keys = pos[:, None] + torch.tensor(
                    group.offsets, dtype=pos.dtype, device=pos.device
                )
                inside = (keys >= 0) & (keys < n)
                real = valid[:, keys.clamp(0, max(n - 1, 0))] & inside  # [B, N, |offsets|]
                blocked = ~real[:, None].expand(-1, len(group.heads), -1, -1)
            keys_bias = torch.zeros(blocked.shape, dtype=dtype, device=valid.device)
            keys_bias = keys_bias.masked_fill_(blocked, float("-inf"))
            null = torch.tensor(
                [h.null_logit for h in group.heads], dtype=dtype, device=valid.device
            )
            null = null.view(1, -1, 1, 1).expand(b, -1, n, 1)
            out.append(torch.cat([keys_bias, null], dim=-1))
        return out

    def start(
        self, tokens: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[Group]]:
        """Embedding, valid mask [B, N], the attention biases, the packed weights."""
        n = tokens.shape[1]
        valid = torch.arange(n, device=tokens.device)[None, :] < lengths[:, None]
        x = self.embed(tokens, valid)
        return x, valid, self.biases(valid, x.dtype), self.pack()

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
        """Final residual [B, N, d] and layers per sequence [B] (int64): the layers run
        until it halted, or max_layers for a sequence that did not halt."""
        x, valid, biases, packed = self.start(tokens, lengths)
        valid_all = valid
        layers = torch.zeros(tokens.shape[0], dtype=torch.int64, device=tokens.device)
        active = torch.ones(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        rows: torch.Tensor | None = None  # the original rows of a shrunk batch
        x_all, layers_all = x, layers
        for _ in range(max_layers):
            count = int(active.sum())
            if count == 0:
                break
            size = _shrunk_size(len(active), count, exact=not self.compiled)
            if size < len(active):
                if rows is None:
                    rows = torch.arange(len(active), device=x.device)
                    x_all, layers_all = x, layers
                else:
                    x_all[rows], layers_all[rows] = x, layers
                keep = torch.argsort((~active).to(torch.int8), stable=True)[:size]
                rows, x, active, layers = rows[keep], x[keep], active[keep], layers[keep]
                valid, biases = valid[keep], [bias[keep] for bias in biases]
            x, active, layers = self.step(x, active, layers, valid, biases, packed)
        if rows is not None:
            x_all[rows], layers_all[rows] = x, layers
            x, layers = x_all, layers_all
        return x, torch.where(self.halted(x, valid_all), layers, max_layers)

    def residuals(self, tokens: torch.Tensor, lengths: torch.Tensor, layers: int) -> torch.Tensor:
        """[layers + 1, B, N, d]: after the embedding and after each layer."""
        x, valid, biases, packed = self.start(tokens, lengths)
        count = torch.zeros(tokens.shape[0], dtype=torch.int64, device=tokens.device)
        active = torch.ones(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        out = [x]
        for _ in range(layers):
            if bool(active.any()):
                x, active, count = self.step(x, active, count, valid, biases, packed)
            out.append(x)
        return torch.stack(out)


@functools.cache
def _has_sparse_kernel(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether a CSR times dense product runs on `device` in `dtype` (torch's CPU kernel,
    MKL's, has none for float16 and bfloat16)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            eye = torch.eye(2, dtype=dtype, device=device)
            torch.addmm(eye[0][:, None], eye.to_sparse_csr(), eye)  # as `mlp_tokens_last`
    except (RuntimeError, NotImplementedError):
        return False
    return True


def _shrunk_size(size: int, active: int, exact: bool) -> int:
    """The working batch size: in eager mode (`exact`) the active count once at most 3/4
    of the batch is active; compiled, halve it while at most half is active."""
    if exact:
        return active if 4 * active <= 3 * size else size
    while size > 1 and active <= size // 2:
        size //= 2
    return size


def _banded(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, offsets: Sequence[int]
) -> torch.Tensor:
    """Attention where query i sees only keys i + o, o in `offsets`: O(N |offsets|)
    instead of O(N^2); keys outside the sequence are masked by `bias`."""
    n = q.shape[2]
    pos = torch.arange(n, device=q.device)  # no host-to-device copy: CUDA-graph safe
    keys = torch.stack([pos + o for o in offsets], dim=1) if offsets else pos[:, None][:, :0]
    keys = keys.clamp(0, max(n - 1, 0))  # [N, |offsets|]; the clamped ones are masked
    logits = torch.einsum("bhnk,bhnok->bhno", q, k[:, :, keys])
    probs = torch.softmax(F.pad(logits, (0, 1)) + bias, dim=-1)
    return torch.einsum("bhno,bhnov->bhnv", probs[..., :-1], v[:, :, keys])


def _outside_offsets(heads: Sequence[dense.Head], pos: torch.Tensor) -> torch.Tensor:
    """[H, N, N] bool: key j is outside head h's offsets for query i."""
    offset = pos[None, :] - pos[:, None]  # offset[i, j] = j - i
    masks = []
    for head in heads:
        if head.offsets is None:
            masks.append(torch.zeros_like(offset, dtype=torch.bool))
        else:
            allowed = torch.tensor(head.offsets, dtype=offset.dtype, device=offset.device)
            masks.append(~torch.isin(offset, allowed))
    return torch.stack(masks)


# ---------------------------------------------------------------------- the backend


@attrs.frozen
class TorchOptions(base.Options):
    """dtype and device (any torch device name), and how to compile (module docstring)."""

    dtype: Literal["float32", "float64", "float16", "bfloat16"] = base.dtype_option()
    device: str | None = None
    compile: bool | str = attrs.field(
        default=False, metadata={"help": "torch.compile the layer body (or: a backend name)"}
    )
    cuda_graphs: bool = attrs.field(
        default=False, metadata={"help": "replay the compiled layer body as CUDA graphs"}
    )
    mlp: Literal["auto", "dense", "sparse"] = base.mlp_option()  # base.MLPMode


class TorchBackend(base.Backend):
    name = "torch"
    Options = TorchOptions

    def executor(self, module: dense.Module, options: TorchOptions) -> TorchExecutor:
        torch_dtype = getattr(torch, options.dtype)
        torch_device = _device(options.device)
        compile_opt, cuda_graphs = options.compile, options.cuda_graphs
        if cuda_graphs and torch_device.type != "cuda":
            raise BackendError(
                f"torch backend: cuda_graphs=True needs a CUDA device, not '{torch_device}'"
            )
        if cuda_graphs and compile_opt not in (False, True, "inductor"):
            raise BackendError(
                f"torch backend: cuda_graphs=True compiles with inductor, not '{compile_opt}'"
            )
        model = AltaTransformer(module).to(device=torch_device, dtype=torch_dtype).eval()
        model.use_sparse(base.mlp_plan(module, options.mlp))
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

    def execution(self) -> dict[str, Any]:
        """Per MLP weight, dense or sparse (`base.MLP_EXECUTION`)."""
        return {base.MLP_EXECUTION: dict(self.model.mlp_execution)}

    def _inputs(self, tokens: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
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
