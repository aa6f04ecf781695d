"""The text form of IR3: the record `alta.ir.dense.Module` is, written out as nested blocks.

Weights are not text: each reference names a weight and states its dtype and shape, which
the parser checks against the weights it is given; a comment adds its nonzeros and a short
sha256 digest so that a change of weights shows in the text (and in the pass goldens).

    alta.dense @parity {
      d_model = 8, input_range = 3, position_range = none
      slot %parity : categorical [0:2] {0, 1}
      ...
      embed {
        tokens = @embed.tokens : f64[3,8]  // nnz=6 sha=0123abcd
      }
      loop {max_layers = none, halt = dim 3} {  // halts when %done == 1
        stage 0 {
          head %parity_left {offsets = [-1], null_logit = 500.0} {
            wq = @head.parity_left.wq : f64[8,1]  // nnz=1 sha=...
            ... (bq, wk, bk, wv, bv, wo)
          }
        }
        mlp {
          layer clipped_relu {
            w = @mlp.rules.w : f64[8,4]  // ...
            b = @mlp.rules.b : f64[4]  // ...
          }
          layer linear { ... }
        }
      }
      readout %parity
    }

Weights that nothing references (none, in what the compiler builds) follow the readout in
a `weights { @name : f64[...] }` block, so that the text accounts for every weight.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alta.ir import dense
from alta.ir.printer import digest, fmt, sym

HEAD_ROLES = ("wq", "bq", "wk", "bk", "wv", "bv", "wo")


def weight(module: dense.Module, name: str) -> str:
    """`@name : f64[shape]  // nnz=N sha=DIGEST`, the text of a reference to a weight."""
    arr = module.weights.get(name)
    if arr is None:
        return f"{sym('@', name)} : f64[?]  // not in the module's weights"
    shape = ",".join(str(s) for s in arr.shape)
    sha = digest(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return f"{sym('@', name)} : f64[{shape}]  // nnz={int(np.count_nonzero(arr))} sha={sha}"


def print_dense(module: dense.Module) -> str:
    loop = module.loop
    pos = "none" if module.position_range is None else str(module.position_range)
    lines = [
        f"alta.dense {sym('@', module.name)} {{",
        f"  d_model = {module.d_model}, input_range = {module.input_range}, position_range = {pos}",
    ]
    for slot in module.layout:
        values = ", ".join(fmt(v) for v in slot.values)
        lines.append(
            f"  slot {sym('%', slot.var)} : {slot.kind} [{slot.start}:{slot.stop}] {{{values}}}"
        )
    lines.append("  embed {")
    lines.append(f"    tokens = {weight(module, module.embed.tokens)}")
    if module.embed.positions is not None:
        lines.append(f"    positions = {weight(module, module.embed.positions)}")
    lines.append("  }")
    halt = "none" if loop.halt is None else f"dim {loop.halt.dim}"
    cap = "none" if loop.max_layers is None else str(loop.max_layers)
    lines.append(f"  loop {{max_layers = {cap}, halt = {halt}}} {{{_halt_note(module)}")
    for s, stage in enumerate(loop.attention.stages):
        lines.append(f"    stage {s} {{")
        for head in stage:
            lines.extend(_head(module, head))
        lines.append("    }")
    lines.append("    mlp {")
    for layer in loop.mlp.layers:
        lines.append(f"      layer {layer.act} {{")
        lines.append(f"        w = {weight(module, layer.w)}")
        lines.append(f"        b = {weight(module, layer.b)}")
        lines.append("      }")
    lines.append("    }")
    lines.append("  }")
    lines.append(f"  readout {sym('%', module.readout.slot.var)}")
    unused = [name for name in module.weights if name not in referenced(module)]
    if unused:
        lines.append("  weights {")
        lines.extend(f"    {weight(module, name)}" for name in unused)
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines)


def referenced(module: dense.Module) -> dict[str, None]:
    """The names of the weights the record refers to, in the order the text shows them."""
    names = [module.embed.tokens]
    if module.embed.positions is not None:
        names.append(module.embed.positions)
    for head in module.loop.attention.heads:
        names.extend(getattr(head, role) for role in HEAD_ROLES)
    for layer in module.loop.mlp.layers:
        names.extend((layer.w, layer.b))
    return dict.fromkeys(names)


def _halt_note(module: dense.Module) -> str:
    """A comment naming the variable and value the halt dim stands for."""
    halt = module.loop.halt
    if halt is None:
        return ""
    for slot in module.layout:
        if slot.start <= halt.dim < slot.stop:
            value: Any = slot.values[halt.dim - slot.start]
            return f"  // halts when {sym('%', slot.var)} == {fmt(value)}"
    return ""


def _head(module: dense.Module, head: dense.Head) -> list[str]:
    offsets = "all" if head.offsets is None else "[" + ", ".join(map(str, head.offsets)) + "]"
    lines = [
        f"      head {sym('%', head.name)} {{offsets = {offsets}, null_logit = "
        f"{fmt(head.null_logit)}}} {{"
    ]
    for role in HEAD_ROLES:
        lines.append(f"        {role} = {weight(module, getattr(head, role))}")
    lines.append("      }")
    return lines
