"""Deterministic text forms of the three IRs (the same text under any hash seed).

The first line names the level: `alta.symbolic @name`, `alta.sparse @name`, `alta.dense @name`.
IR2 and IR3 text is complete: `alta.ir.parser.parse` reads it back (IR3 with its weights
given separately), and printing the parsed module gives the same text again. IR1 holds
Python functions, so its text is for reading only. `alta.ir.parser`'s docstring has the
grammar and samples of both.

Names print bare (`%parity`, `@head.x.wq`) when they are made of letters, digits, `_`, `.`
and `$`, and as a JSON string after the sigil otherwise (`%"my var"`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from alta.ir import dense, sparse, symbolic

#: What a name may hold to print without quotes (the parser's lexer reads the same set).
BARE_NAME = re.compile(r"[A-Za-z0-9_.$]+")


def fmt(value: Any) -> str:
    return sparse.fmt_value(value)


def sym(sigil: str, name: str) -> str:
    """`%name` or `@name`; quoted as a JSON string when the name has other characters."""
    return sigil + (name if BARE_NAME.fullmatch(name) else json.dumps(name))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def _table(source: str, table: tuple[Any, ...]) -> str:
    if source == "head":
        return "head"
    if source == "const":
        return fmt(table[0])
    return f"{source}[{', '.join(fmt(v) for v in table)}]"


def _type(kind: str, size: int) -> str:
    if kind == sparse.NUMERICAL:
        return "num" if size == 0 else f"num<{size}>"
    return {"categorical": f"cat<{size}>", "set": f"set<{size}>"}.get(kind, f"{kind}<{size}>")


def head_text(output: str, query: str, key: str, value: str, mask: frozenset[int]) -> str:
    text = (
        f"head {sym('%', output)} = attend(query={sym('%', query)}, key={sym('%', key)}, "
        f"value={sym('%', value)}"
    )
    if mask:
        text += ", mask={" + ", ".join(str(m) for m in sorted(mask)) + "}"
    return text + ")"


def print_symbolic(program: symbolic.Program) -> str:
    lines = [f"alta.symbolic {sym('@', program.name)} {{"]
    pos = "none" if program.position_range is None else str(program.position_range)
    lines.append(f"  input_range = {program.input_range}, position_range = {pos}")
    for name, var in program.variables:
        size = 0 if isinstance(var, symbolic.NumericalVar) else var.range
        decl = f"  var {sym('%', name)} : {_type(var.kind, size)}"
        if not isinstance(var, symbolic.CategoricalVar) and var.values is not None:
            decl += " {" + ", ".join(fmt(v) for v in var.values) + "}"
        source, table = symbolic.init_table(program, name)
        if source == "token":
            init = "token[" + ", ".join(fmt(v) for v in table) + "]"
        elif source == "position":
            init = "position-init"
        else:
            init = "head" if source == "head" else fmt(var.default)
        lines.append(f"{decl} = {init}")
    for h in program.heads:
        lines.append("  " + head_text(h.output, h.query, h.key, h.value, h.relative_position_mask))
    if isinstance(program.mlp, symbolic.RulesMLP):
        for i, rule in enumerate(program.mlp.rules):
            lines.append(f"  rule #{i} : {rule}")
    else:
        fn = program.mlp.fn
        lines.append(f"  mlp = function {getattr(fn, '__qualname__', type(fn).__name__)}")
    if program.halt is not None:
        lines.append(f"  halt {sym('%', program.halt.var)} == {program.halt.value}")
    lines.append(f"  output {sym('%', program.output)}")
    lines.append("}")
    return "\n".join(lines)


def rule_text(index: int, rule: sparse.Rule) -> str:
    atoms = ", ".join(
        f"{sym('%', a.var)} in {{{', '.join(fmt(v) for v in sorted(a.values, key=symbolic.value_order))}}}"
        for a in rule.atoms
    )
    equals = ", ".join(f"{sym('%', x)} == {sym('%', y)}" for x, y in rule.equals)
    atoms = ", ".join(part for part in (atoms, equals) if part)
    flag = " [none-dont-care]" if rule.dont_care_none else ""
    return f"rule #{index} : {atoms or 'true'} -> {sym('%', rule.var)} := {fmt(rule.new)}{flag}"


def var_text(var: sparse.Variable) -> str:
    """A `var` line of IR2 (without its indent): name, type, domain, nullable, init."""
    domain = ", ".join(fmt(v) for v in var.values)
    null = " nullable" if var.nullable else ""
    return (
        f"var {sym('%', var.name)} : {_type(var.kind, var.range)} {{{domain}}}{null} = "
        f"{_table(var.init.source, var.init.table)}"
    )


def print_sparse(module: sparse.Module) -> str:
    """IR2 as text: every variable (domain and full init table), head and rule."""
    lines = [f"alta.sparse {sym('@', module.name)} {{"]
    pos = "none" if module.position_range is None else str(module.position_range)
    lines.append(f"  input_range = {module.input_range}, position_range = {pos}")
    for var in module.variables.values():
        lines.append("  " + var_text(var))
    for h in module.heads:
        lines.append("  " + head_text(h.output, h.query, h.key, h.value, h.mask))
    for i, rule in enumerate(module.rules):
        lines.append("  " + rule_text(i, rule))
    if module.clears:
        lines.append("  clear " + ", ".join(sym("%", c) for c in module.clears))
    if module.halt is not None:
        lines.append(f"  halt {sym('%', module.halt.var)} == {module.halt.value}")
    lines.append(f"  output {sym('%', module.output)}")
    for name, bits in module.codes.items():
        code = f"binary {bits}" if bits else "value-only"
        lines.append(f"  encode {sym('%', name)} {code}")
    lines.append("}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- IR3
# The text form of IR3: the record `alta.ir.dense.Module` is, written out as nested blocks.
#
# Weights are not text: each reference names a weight and states its dtype and shape, which
# the parser checks against the weights it is given; a comment adds its nonzeros and a short
# sha256 digest so that a change of weights shows in the text (and in the pass goldens).
#
#     alta.dense @parity {
#       d_model = 8, input_range = 3, position_range = none
#       slot %parity : categorical [0:2] {0, 1}
#       ...
#       embed {
#         tokens = @embed.tokens : f64[3,8]  // nnz=6 sha=0123abcd
#       }
#       loop {max_layers = none, halt = dim 3} {  // halts when %done == 1
#         stage 0 {
#           head %parity_left {offsets = [-1], null_logit = 500.0} {
#             wq = @head.parity_left.wq : f64[8,1]  // nnz=1 sha=...
#             ... (bq, wk, bk, wv, bv, wo)
#           }
#         }
#         mlp {
#           layer clipped_relu {
#             w = @mlp.rules.w : f64[8,4]  // ...
#             b = @mlp.rules.b : f64[4]  // ...
#           }
#           layer linear { ... }
#         }
#       }
#       readout %parity
#     }
#
# Weights that nothing references (none, in what the compiler builds) follow the readout in
# a `weights { @name : f64[...] }` block, so that the text accounts for every weight.

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
            f"  slot {sym('%', slot.var)} : {slot.kind}{_encoding(slot)} [{slot.start}:{slot.stop}]"
            f" {{{values}}}"
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
            lines.extend(_dense_head(module, head))
        lines.append("    }")
    lines.append("    mlp {")
    for layer in loop.mlp.layers:
        lines.append(f"      layer {layer.act} {{")
        lines.append(f"        w = {weight(module, layer.w)}")
        for source, skip in layer.skips:
            lines.append(f"        skip{source} = {weight(module, skip)}")
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


def _encoding(slot: dense.Slot) -> str:
    """ " binary" for a bipolar-coded slot (its width is its bits); one-hot says nothing."""
    return f" {slot.encoding}" if slot.encoding != dense.ONE_HOT else ""


def referenced(module: dense.Module) -> dict[str, None]:
    """The names of the weights the record refers to, in the order the text shows them."""
    names = [module.embed.tokens]
    if module.embed.positions is not None:
        names.append(module.embed.positions)
    for head in module.loop.attention.heads:
        names.extend(getattr(head, role) for role in HEAD_ROLES)
    names.extend(module.mlp_weight_names())
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


def _dense_head(module: dense.Module, head: dense.Head) -> list[str]:
    offsets = "all" if head.offsets is None else "[" + ", ".join(map(str, head.offsets)) + "]"
    lines = [
        f"      head {sym('%', head.name)} {{offsets = {offsets}, null_logit = "
        f"{fmt(head.null_logit)}}} {{"
    ]
    for role in HEAD_ROLES:
        lines.append(f"        {role} = {weight(module, getattr(head, role))}")
    lines.append("      }")
    return lines
