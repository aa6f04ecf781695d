"""The text form of IR3: ops with weights shown as shape, nonzeros and a short digest."""

from __future__ import annotations

import numpy as np

from alta.ir import dense
from alta.ir.printer import digest, fmt


def weight(module: dense.Module, name: str) -> str:
    arr = module.weights[name]
    shape = ",".join(str(s) for s in arr.shape)
    sha = digest(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return f"@{name} : f64[{shape}] nnz={int(np.count_nonzero(arr))} sha={sha}"


def print_dense(module: dense.Module) -> str:
    loop = module.loop
    widths = ", ".join(str(w) for w in module.mlp_widths)
    lines = [
        f"alta.dense @{module.name} (%tokens: i64[B,N]) -> {module.readout.slot.kind}[B,N] "
        f"{{d_model = {module.d_model}, mlp = [{widths}]}} {{"
    ]
    for slot in module.layout:
        values = ", ".join(fmt(v) for v in slot.values)
        lines.append(f"  slot %{slot.var} : {slot.kind} [{slot.start}:{slot.stop}] {{{values}}}")
    lines.append(f"  %x0 = embed %tokens {{tokens = {weight(module, module.embed.tokens)}}}")
    if module.embed.positions is not None:
        lines.append(f"        {{positions = {weight(module, module.embed.positions)}}}")
    halt = "none" if loop.halt is None else f"dim {loop.halt.dim} > 0.5"
    cap = "none" if loop.max_layers is None else str(loop.max_layers)
    lines.append(f"  %x = loop %x0 {{max_layers = {cap}, halt = {halt}}} {{")
    stages = loop.attention.stages
    for stage in stages:
        for head in stage:
            lines.extend(_head(module, head))
        # One stage (a standard layer) prints as before; several name their heads.
        added = "%a.*" if len(stages) == 1 else ", ".join(f"%a.{h.name}" for h in stage)
        lines.append(f"    %x = add %x, {added}")
    for i, layer in enumerate(loop.mlp.layers):
        lines.append(
            f"    %h{i} = {layer.act} {'%x' if i == 0 else f'%h{i - 1}'} "
            f"{{w = {weight(module, layer.w)}, b = {weight(module, layer.b)}}}"
        )
    lines.append(f"    %x = add %x, %h{len(loop.mlp.layers) - 1}")
    lines.append("  }")
    lines.append(f"  %y = readout %x {{var = %{module.readout.slot.var}}}")
    lines.append("}")
    return "\n".join(lines)


def _head(module: dense.Module, head: dense.Head) -> list[str]:
    offsets = "all" if head.offsets is None else "{" + ", ".join(map(str, head.offsets)) + "}"
    lines = [
        f"    %a.{head.name} = attention %x {{offsets = {offsets}, null_logit = "
        f"{head.null_logit!r}}}"
    ]
    for role in ("wq", "bq", "wk", "bk", "wv", "bv", "wo"):
        lines.append(f"      {role} = {weight(module, getattr(head, role))}")
    return lines
