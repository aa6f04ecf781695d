"""The IR3 verifier: the layout tiles the residual stream, every referenced weight exists,
every weight's shape fits d_model and its neighbours, and no head reads the dims a head of
its own or a later attention stage writes (it would read them before they are written).
Errors name the op or weight and quote its printed form.
"""

from __future__ import annotations

from typing import NoReturn

import numpy as np

from alta.errors import VerifyError
from alta.inputs import MAX_LAYERS_LIMIT
from alta.ir import dense, printer, sparse

_ACTS = (dense.CLIPPED_RELU, dense.LINEAR)
_KINDS = (sparse.CATEGORICAL, sparse.NUMERICAL, sparse.SET)


def verify_dense(module: dense.Module) -> dense.Module:
    """Check `module`; return it unchanged, or raise `VerifyError` naming what is wrong."""
    if module.d_model < 1:
        _fail(module, f"d_model must be at least 1, got {module.d_model}")
    _check_layout(module)
    _check_embed(module)
    for head in module.loop.attention.heads:
        _check_head(module, head)
    _check_stages(module)
    _check_mlp(module)
    halt = module.loop.halt
    if halt is not None and not 0 <= halt.dim < module.d_model:
        _fail(module, f"halt dim {halt.dim} is outside [0, {module.d_model})")
    layers = module.loop.max_layers
    if layers is not None and not 0 <= layers <= MAX_LAYERS_LIMIT:
        _fail(module, f"max_layers must be in [0, 2**63 - 1] (layers count in int64), got {layers}")
    slot = module.readout.slot
    if slot not in module.layout:
        _fail(module, f"readout slot '%{slot.var}' [{slot.start}:{slot.stop}] is not in the layout")
    return module


def _fail(module: dense.Module, what: str, line: str = "") -> NoReturn:
    quote = f"\n    {line}" if line else ""
    raise VerifyError(f"alta.dense @{module.name}: {what}{quote}")


def _weight(
    module: dense.Module, name: str, role: str, shape: tuple[int | None, ...]
) -> tuple[int, ...]:
    """Check weight `name` exists and has `shape` (None: any size); return its real shape."""
    if name not in module.weights:
        known = ", ".join(sorted(module.weights)) or "none"
        _fail(module, f"{role} refers to weight '@{name}', which does not exist (weights: {known})")
    got = tuple(module.weights[name].shape)
    if len(got) != len(shape) or any(
        w is not None and g != w for g, w in zip(got, shape, strict=False)
    ):
        want = ",".join("?" if w is None else str(w) for w in shape)
        _fail(
            module,
            f"{role}: weight has shape [{','.join(map(str, got))}], expected [{want}]",
            printer.weight(module, name),
        )
    return got


def _check_layout(module: dense.Module) -> None:
    stop, seen = 0, set()
    for slot in sorted(module.layout, key=lambda s: (s.start, s.stop)):
        line = f"slot %{slot.var} : {slot.kind} [{slot.start}:{slot.stop}]"
        if slot.var in seen:
            _fail(module, f"variable '%{slot.var}' has two slots", line)
        seen.add(slot.var)
        if slot.kind not in _KINDS:
            _fail(module, f"slot '%{slot.var}' has unknown kind '{slot.kind}'", line)
        if slot.start != stop:
            what = (
                "overlaps the previous slot"
                if slot.start < stop
                else f"leaves dims [{stop}:{slot.start}] unused"
            )
            _fail(module, f"slot '%{slot.var}' {what}; slots must tile [0, {module.d_model})", line)
        stop = slot.stop
    if stop != module.d_model:
        _fail(module, f"slots cover [0, {stop}) but d_model is {module.d_model}")


def _check_embed(module: dense.Module) -> None:
    d = module.d_model
    _weight(module, module.embed.tokens, "embed tokens", (module.input_range, d))
    if module.embed.positions is not None:
        if module.position_range is None:
            _fail(module, "embed has a position table but the module has no position_range")
        _weight(module, module.embed.positions, "embed positions", (module.position_range, d))


def _check_head(module: dense.Module, head: dense.Head) -> None:
    d, role = module.d_model, f"head '%{head.name}'"
    k = _weight(module, head.wq, f"{role} wq", (d, None))[1]
    _weight(module, head.bq, f"{role} bq", (k,))
    _weight(module, head.wk, f"{role} wk", (d, k))
    _weight(module, head.bk, f"{role} bk", (k,))
    v = _weight(module, head.wv, f"{role} wv", (d, None))[1]
    _weight(module, head.bv, f"{role} bv", (v,))
    _weight(module, head.wo, f"{role} wo", (v, d))


def _check_stages(module: dense.Module) -> None:
    """Stages are non-empty, head names unique, and a head reads only dims that heads of
    earlier stages write (a head's output dims hold None until its stage has run)."""
    stages = module.loop.attention.stages
    names = [h.name for h in module.loop.attention.heads]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        _fail(module, f"head names must be unique; repeated: {', '.join(twice)}")
    written: list[tuple[int, dense.Head, np.ndarray]] = []
    for s, stage in enumerate(stages):
        if not stage:
            _fail(module, f"attention stage {s} has no heads")
        for head in stage:
            written.append((s, head, np.any(module.weights[head.wo] != 0, axis=0)))
    for s, stage in enumerate(stages):
        for head in stage:
            rows = [module.weights[getattr(head, r)] for r in ("wq", "wk", "wv")]
            reads = np.any(np.concatenate(rows, axis=1) != 0, axis=1)
            for t, other, writes in written:
                dims = np.flatnonzero(reads & writes)
                if t >= s and other is not head and len(dims):
                    _fail(
                        module,
                        f"head '%{head.name}' (stage {s}) reads dims {dims.tolist()}, which "
                        f"head '%{other.name}' writes in stage {t}; a head reads only what "
                        "earlier stages wrote",
                        f"stage {s} {{ head %{head.name} ... }}",
                    )


def _check_mlp(module: dense.Module) -> None:
    layers = module.loop.mlp.layers
    widths = [module.d_model]  # widths[k]: the width of MLP source k (0: its input x)
    for i, layer in enumerate(layers):
        role = f"mlp layer {i}"
        if layer.act not in _ACTS:
            _fail(
                module, f"{role} has unknown activation '{layer.act}' (known: {', '.join(_ACTS)})"
            )
        last = i == len(layers) - 1
        shape = (widths[-1], module.d_model if last else None)
        out = _weight(module, layer.w, f"{role} w", shape)[1]
        for source, skip in layer.skips:
            if not 0 <= source < len(widths) - 1:
                _fail(
                    module,
                    f"{role} skip{source} reads source {source}; a layer's skips read the MLP "
                    f"input (0) or an earlier layer's output (1..{len(widths) - 2})",
                )
            _weight(module, skip, f"{role} skip{source}", (widths[source], out))
        _weight(module, layer.b, f"{role} b", (out,))
        widths.append(out)
