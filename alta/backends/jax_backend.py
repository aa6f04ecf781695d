"""The JAX backend: IR3 as a pure, `jit`-compiled function over a params pytree.

`JaxExecutor.params` is a dict keyed by the IR3 weight names and `JaxExecutor.apply`
is `apply(params, tokens, lengths, max_layers) -> (x, layers)`, jitted with the module's
structure closed over. `max_layers` is traced, so one compile serves every layer limit;
the layer loop is a `lax.while_loop` over the whole batch that freezes halted sequences
(and sequences at a fixed point: a layer left their real positions exactly unchanged)
with `jnp.where` and stops once every sequence is done, which reproduces the per-sequence
halting of the numpy reference (`alta.backends.numpy_backend`); a sequence that did not
halt reports max_layers layers. Attention runs stage by stage (`alta.ir.dense`).
`JaxExecutor.layer` is one layer as a pure function; reverse-mode `jax.grad` cannot go
through a `while_loop`, so differentiate `layer` (or use forward mode, `jax.jacfwd`, on
`apply`).

Shapes. `jit` compiles once per input shape, so `run` and `residuals` pad the batch and
the sequence length up to a bucket (`bucket_size`: powers of two up to 16, then four
sizes per octave, so at most 25% padding and O(log N) compiles), with padded rows of
length 0 and padded positions masked as keys, and slice the result; option
`bucket=False` pads nothing (one compile per exact shape).

Sparse MLP weights. Option `mlp` ("auto", "dense", "sparse"; `base.mlp_plan`) holds an
MLP weight matrix run sparse in `params` as a `jax.experimental.sparse.BCSR` of its
transpose ([out, in]; `sparse_weight`) instead of the dense array; such an MLP runs
tokens last, on h^T, as BCSR times dense products (`_mlp`; docs/sparse-execution.md).
Where that product does not compile for the dtype and device, weights stay dense
("dense-fallback" in `mlp_execution`).

Precision. JAX computes in 32 bits unless `jax_enable_x64` is on. A `dtype="float64"`
executor turns it on only around its own calls (`with jax.enable_x64(True)`), never
globally; whoever calls `apply` on such an executor directly must do the same, or the
float64 params are truncated to float32.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

from alta.backends import base
from alta.errors import BackendError
from alta.ir import dense

_INT32_MAX = np.iinfo(np.int32).max

Weight = jax.Array | jsparse.BCSR
#: IR3 weight name -> array; an MLP weight run sparse is a BCSR (`sparse_weight`).
Params = dict[str, Any]
Carry = tuple[jax.Array, jax.Array, jax.Array, jax.Array]  # x, done, layers, step


@attrs.frozen
class JaxOptions(base.Options):
    """dtype, device (None, "cpu", "gpu" or "cuda", with ":index") and shape bucketing."""

    dtype: Literal["float16", "bfloat16", "float32", "float64"] = base.dtype_option()
    device: str | None = None
    bucket: bool = attrs.field(
        default=True, metadata={"help": "pad shapes to buckets, so jit compiles less often"}
    )
    mlp: Literal["auto", "dense", "sparse"] = base.mlp_option()  # base.MLPMode


class JaxBackend(base.Backend):
    name = "jax"
    Options = JaxOptions

    def executor(self, module: dense.Module, options: JaxOptions) -> JaxExecutor:
        placement = find_device(options.device)
        x64 = options.dtype == "float64"
        plan = base.mlp_plan(module, options.mlp)
        if "sparse" in plan.values() and not has_sparse_kernel(options.dtype, placement):
            plan = {
                name: "dense-fallback" if how == "sparse" else how for name, how in plan.items()
            }
        with precision(x64):
            params: Params = {
                name: jax.device_put(
                    sparse_weight(w, options.dtype)
                    if plan.get(name) == "sparse"
                    else jnp.asarray(np.asarray(w), dtype=options.dtype),
                    placement,
                )
                for name, w in module.weights.items()
            }
        return JaxExecutor(
            module=module,
            params=params,
            dtype=options.dtype,
            device=placement,
            x64=x64,
            bucket=options.bucket,
            mlp_execution=plan,
        )


def find_device(device: str | None) -> jax.Device:
    """The first JAX device matching None / "cpu" / "gpu" / "cuda" (optionally ":index")."""
    if device is None:
        return jax.devices()[0]
    kind, _, index = device.partition(":")
    platform = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}.get(kind)
    if platform is None or (index and not index.isdigit()):
        raise BackendError(
            f"jax backend: unknown device '{device}'; use None, 'cpu', 'gpu' or 'cuda'"
        )
    try:
        found = jax.devices(platform)
    except RuntimeError:
        found = []
    position = int(index) if index else 0
    if position >= len(found):
        have = ", ".join(str(d) for d in jax.devices()) or "none"
        raise BackendError(f"jax backend: device '{device}' is not present (JAX devices: {have})")
    return found[position]


@contextlib.contextmanager
def precision(x64: bool) -> Iterator[None]:
    """64-bit JAX types for the duration, only when asked for."""
    if not x64:
        yield
        return
    # `jax.enable_x64` is the context manager of recent JAX; before it, jax.experimental's
    enable: Any = getattr(jax, "enable_x64", None)
    if enable is None:
        enable = importlib.import_module("jax.experimental").enable_x64
    with enable(True):
        yield


def bucket_size(n: int) -> int:
    """The padded size of a batch or sequence axis: the next power of two up to 16, then
    the next multiple of an eighth of the next power of two (four sizes per octave, at
    most 25% padding)."""
    power = 1 << max(0, int(n) - 1).bit_length()
    if power <= 16:
        return power
    step = power // 8
    return -(-int(n) // step) * step


# --------------------------------------------------------------------------- the model


def make_embed(module: dense.Module) -> Callable[[Params, jax.Array], jax.Array]:
    def embed(params: Params, tokens: jax.Array) -> jax.Array:
        x = params[module.embed.tokens][tokens]
        if module.embed.positions is None:
            return x
        table = params[module.embed.positions]
        n = tokens.shape[1]
        if n > table.shape[0]:  # positions past position_range only ever hold padding
            table = jnp.pad(table, ((0, n - table.shape[0]), (0, 0)))
        return x + table[None, :n]

    return embed


def _attend(params: Params, head: dense.Head, x: jax.Array, valid: jax.Array) -> jax.Array:
    """One head's output before Wo: softmax over the allowed keys plus a null slot."""
    n = x.shape[1]
    q = x @ params[head.wq] + params[head.bq]
    k = x @ params[head.wk] + params[head.bk]
    v = x @ params[head.wv] + params[head.bv]
    logits = q @ jnp.swapaxes(k, 1, 2)
    allowed = valid[:, None, :]
    if head.offsets is not None:
        offset = np.arange(n)[None, :] - np.arange(n)[:, None]
        allowed = allowed & jnp.asarray(np.isin(offset, head.offsets))[None]
    null = jnp.asarray(head.null_logit, dtype=logits.dtype)
    top = jnp.maximum(jnp.max(jnp.where(allowed, logits, -jnp.inf), axis=2, initial=-jnp.inf), null)
    # exp of finite numbers only, then exactly zero for masked keys (gradient-safe too)
    shifted = jnp.where(allowed, logits - top[..., None], 0.0)
    weights = jnp.where(allowed, jnp.exp(shifted), 0.0)
    total = weights.sum(axis=2) + jnp.exp(null - top)
    return (weights @ v) / total[..., None]


def _mlp(params: Params, mlp: dense.MLP, x: jax.Array) -> jax.Array:
    """MLP(x) for x [tokens, d]. With a sparse weight (a BCSR of W^T, `sparse_weight`) the
    whole MLP runs tokens last, on h^T, which BCSR products take and give."""
    last = any(isinstance(params[n], jsparse.BCSR) for n in mlp.matrix_names())
    outputs = [x.T if last else x]
    for layer in mlp.layers:
        h = _product(params[layer.w], outputs[-1], last)
        h = h + (params[layer.b][:, None] if last else params[layer.b])
        for source, skip in layer.skips:
            h = h + _product(params[skip], outputs[source], last)
        if layer.act == dense.CLIPPED_RELU:
            h = jnp.clip(h, 0.0, 1.0)
        outputs.append(h)
    return outputs[-1].T if last else outputs[-1]


def _product(weight: Weight, h: jax.Array, tokens_last: bool) -> jax.Array:
    """h @ W, or (h^T @ W)^T = W^T h^T tokens last (a BCSR weight already holds W^T)."""
    if isinstance(weight, jsparse.BCSR):
        return weight @ h  # type: ignore[no-any-return]
    return weight.T @ h if tokens_last else h @ weight


def sparse_weight(weight: np.ndarray, dtype: str) -> jsparse.BCSR:
    """The BCSR of `weight`'s transpose ([out, in]): BCSR times dense is the product
    jax.experimental.sparse has, and the fastest of its forms under jit on CPU."""
    t = np.asarray(weight).T
    counts = np.count_nonzero(t, axis=1)
    _, cols = np.nonzero(t)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    data = jnp.asarray(t[t != 0], dtype=dtype)
    return jsparse.BCSR(
        (data, jnp.asarray(cols, dtype=np.int32), jnp.asarray(indptr)),
        shape=t.shape,
        indices_sorted=True,
        unique_indices=True,
    )


@functools.cache
def has_sparse_kernel(dtype: str, device: jax.Device) -> bool:
    """Whether a BCSR times dense product compiles and runs on `device` in `dtype`."""
    try:
        with precision(dtype == "float64"):
            eye = np.eye(2)
            weight = jax.device_put(sparse_weight(eye, dtype), device)
            h = jax.device_put(jnp.asarray(eye, dtype=dtype), device)
            product = jax.jit(_product, static_argnums=2)(weight, h, True)
            product.block_until_ready()
    except Exception:  # any failure (lowering, running) means: no kernel
        return False
    return True


def make_layer(module: dense.Module) -> Callable[[Params, jax.Array, jax.Array], jax.Array]:
    loop = module.loop

    def layer(params: Params, x: jax.Array, valid: jax.Array) -> jax.Array:
        for stage in loop.attention.stages:
            update = jnp.zeros_like(x)
            for head in stage:
                update = update + _attend(params, head, x, valid) @ params[head.wo]
            x = x + update
        return x + _mlp(params, loop.mlp, x.reshape(-1, x.shape[-1])).reshape(x.shape)

    return layer


def make_halted(module: dense.Module) -> Callable[[jax.Array, jax.Array], jax.Array]:
    test = module.loop.halt

    def halted(x: jax.Array, valid: jax.Array) -> jax.Array:
        if test is None:
            return jnp.zeros(x.shape[0], dtype=bool)
        return ((x[..., test.dim] > 0.5) | ~valid).all(axis=1)

    return halted


def make_step(module: dense.Module) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """One layer for the whole batch; done sequences keep their residual, and a sequence
    is done once it halts or reaches a fixed point."""
    layer, halt_test = make_layer(module), make_halted(module)

    def step(
        params: Params, x: jax.Array, done: jax.Array, valid: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        x_new = layer(params, x, valid)
        same = ((x_new == x) | ~valid[:, :, None]).all(axis=(1, 2))
        x = jnp.where(done[:, None, None], x, x_new)
        return x, done | halt_test(x_new, valid) | same

    return step


def make_apply(module: dense.Module) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """`apply(params, tokens [B,N], lengths [B], max_layers) -> (x [B,N,d], layers [B])`;
    layers is max_layers for a sequence that did not halt."""
    embed, step, halt_test = make_embed(module), make_step(module), make_halted(module)

    def apply(
        params: Params, tokens: jax.Array, lengths: jax.Array, max_layers: jax.Array | int
    ) -> tuple[jax.Array, jax.Array]:
        valid = jnp.arange(tokens.shape[1])[None, :] < lengths[:, None]
        x0 = embed(params, tokens)
        b = tokens.shape[0]

        def cond(carry: Carry) -> jax.Array:
            _, done, _, i = carry
            return (i < max_layers) & ~done.all()

        def body(carry: Carry) -> Carry:
            x, done, layers, i = carry
            layers = layers + (~done).astype(layers.dtype)
            x, done = step(params, x, done, valid)
            return x, done, layers, i + 1

        start: Carry = (x0, jnp.zeros(b, dtype=bool), jnp.zeros(b, dtype=jnp.int32), jnp.int32(0))
        x, _, layers, _ = jax.lax.while_loop(cond, body, start)
        limit = jnp.asarray(max_layers, dtype=layers.dtype)
        return x, jnp.where(halt_test(x, valid), layers, limit)

    return apply


# --------------------------------------------------------------------------- the executor


@attrs.frozen
class JaxExecutor:
    """Runs `apply` on numpy batches; see the module docstring for shapes and precision."""

    module: dense.Module
    params: Params
    dtype: str
    device: jax.Device
    x64: bool
    bucket: bool = True
    mlp_execution: dict[str, str] = attrs.field(factory=dict)
    apply: Callable[..., tuple[jax.Array, jax.Array]] = attrs.field(init=False)
    layer: Callable[[Params, jax.Array, jax.Array], jax.Array] = attrs.field(init=False)
    _embed: Callable[..., jax.Array] = attrs.field(init=False)
    _step: Callable[..., tuple[jax.Array, jax.Array]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "apply", jax.jit(make_apply(self.module)))
        object.__setattr__(self, "layer", make_layer(self.module))
        object.__setattr__(self, "_embed", jax.jit(make_embed(self.module)))
        object.__setattr__(self, "_step", jax.jit(make_step(self.module)))

    def execution(self) -> dict[str, Any]:
        """Per MLP weight, dense or sparse (`base.MLP_EXECUTION`)."""
        return {base.MLP_EXECUTION: dict(self.mlp_execution)}

    def run(
        self, tokens: np.ndarray, lengths: np.ndarray, max_layers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        b, n = np.shape(tokens)
        padded_tokens, padded_lengths = self._pad(tokens, lengths)
        limit = np.int32(min(max(int(max_layers), 0), _INT32_MAX))
        with precision(self.x64):
            x, layers = self.apply(self.params, padded_tokens, padded_lengths, limit)
            x_np, layers_np = np.asarray(x), np.asarray(layers)
        return x_np[:b, :n], layers_np[:b].astype(np.int64)

    def residuals(self, tokens: np.ndarray, lengths: np.ndarray, layers: int) -> np.ndarray:
        """A Python loop over the jitted step, so `layers` does not force a recompile."""
        b, n = np.shape(tokens)
        padded_tokens, padded_lengths = self._pad(tokens, lengths)
        with precision(self.x64):
            valid = jnp.arange(padded_tokens.shape[1])[None, :] < padded_lengths[:, None]
            x = self._embed(self.params, padded_tokens)
            done = jnp.zeros(padded_tokens.shape[0], dtype=bool)
            out = [np.asarray(x)[:b, :n]]
            for _ in range(layers):
                x, done = self._step(self.params, x, done, valid)
                out.append(np.asarray(x)[:b, :n])
        return np.stack(out)

    def _pad(self, tokens: np.ndarray, lengths: np.ndarray) -> tuple[jax.Array, jax.Array]:
        """Pad to the shape bucket (rows of length 0, token 0) and put on the device."""
        tok = np.asarray(tokens, dtype=np.int32)
        lens = np.asarray(lengths, dtype=np.int32)
        b, n = tok.shape
        if self.bucket:
            rows, cols = bucket_size(b), bucket_size(n)
            tok = np.pad(tok, ((0, rows - b), (0, cols - n)))
            lens = np.pad(lens, (0, rows - b))
        return jax.device_put(tok, self.device), jax.device_put(lens, self.device)
