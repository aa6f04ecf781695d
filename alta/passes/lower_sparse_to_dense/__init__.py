"""`lower-sparse-to-dense`: IR2 -> IR3. Residual layout, embeddings, heads, MLP, halting.

Heads are scheduled into attention stages by dependency: a head that reads no head output
runs in stage 0, any other one stage after the last head whose output it reads (heads run
in declaration order, docs/semantics.md, "One layer"). Independent heads form one stage.

Attention gets a null slot: a match scores MATCH_LOGIT, a non-match 0 and the null slot
half of MATCH_LOGIT, so "no position selected" reads as the zero vector, which is None.
With MATCH_LOGIT = 1000 every non-winning softmax weight underflows to exactly 0 in
float32, so one match copies its value exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import numpy as np

from alta.errors import CompileError
from alta.ir import analysis, dense, sparse
from alta.ir.dense import encode
from alta.ir.types import Level
from alta.passes import base, conflict_warning, context, none_means
from alta.passes.lower_sparse_to_dense import encodings, mlp_units

MATCH_LOGIT = 1000.0


@attrs.frozen
class LowerSparseToDensePass(base.Pass):
    """Lower the sparse rule/head graph to dense weights."""

    name: ClassVar[str] = "lower-sparse-to-dense"
    input_level: ClassVar[Level] = Level.SPARSE
    output_level: ClassVar[Level] = Level.DENSE
    max_layers: int | None = None

    def run(self, module: sparse.Module) -> dense.Module:
        result = lower(module, self.max_layers)
        ctx = context.current()
        ctx.record("d_model", result.d_model)
        ctx.record("mlp widths", list(result.mlp_widths))
        return result


def constants(module: sparse.Module) -> dict[str, Any]:
    """Variables that hold one value forever; they get no residual dims.

    Heads read them through their biases and rules fold them into their own bias. The
    output and halt variables keep their dims, since the readout and halt test read them.
    """
    written = {r.var for r in module.rules}
    keep = {module.output} | ({module.halt.var} if module.halt else set())
    return {
        name: var.init.table[0]
        for name, var in module.variables.items()
        if var.init.source == "const"
        and name not in written
        and name not in keep
        and var.init.table[0] is not None
    }


def layout(module: sparse.Module, codes: dict[str, int], flags: set[str]) -> tuple[dense.Slot, ...]:
    """Each variable's slot; `codes` names the binary-coded ones and their bits, `flags`
    the numerical ones with a "defined" dim."""
    slots, start = [], 0
    folded = constants(module)
    for var in module.variables.values():
        if var.name in codes and var.name not in folded:
            slots.append(
                dense.Slot(
                    var.name, var.kind, start, tuple(var.values), dense.BINARY, codes[var.name]
                )
            )
            start += codes[var.name]
            continue
        if var.name in folded:
            values: tuple[Any, ...] = ()
        elif var.kind == sparse.CATEGORICAL:
            values = tuple(var.values)
        elif var.kind == sparse.SET:
            values = tuple(range(var.range))
        else:
            values = ("value", "defined") if var.name in flags else ("value",)
        slots.append(dense.Slot(var.name, var.kind, start, values))
        start += len(values)
    return tuple(slots)


def lower(module: sparse.Module, max_layers: int | None = None) -> dense.Module:
    """IR3 from IR2: variables named in `module.codes` (choose-encodings) get binary codes."""
    folded = constants(module)
    reach = analysis.reachable_values(module)
    codes = {n: b for n, b in module.codes.items() if n in module.variables and b}
    value_only = {n for n, b in module.codes.items() if b == encodings.VALUE_ONLY}
    flags = {n for n, v in module.variables.items() if v.kind == sparse.NUMERICAL and v.nullable}
    flags -= value_only - encodings.needs_flag(module, reach)
    slots = layout(module, codes, flags)
    by_var = {s.var: s for s in slots}
    d = sum(s.width for s in slots)
    weights: dict[str, np.ndarray] = {}
    embed = _embed(module, by_var, d, weights)
    heads = {h.output: _head(module, h, by_var, folded, codes, d, weights) for h in module.heads}
    stages = tuple(tuple(heads[h.output] for h in stage) for stage in schedule(module))
    if not module.conflicts_checked:  # e.g. IR2 read from text
        conflict_warning.warn_unproven_conflicts(module, reach)
        none_means.warn_none_means(module, reach)
    layers = mlp_units.build(module, by_var, d, reach, folded, weights)
    halt = None
    if module.halt is not None:
        slot = by_var[module.halt.var]
        if module.halt.value not in slot.values:
            raise CompileError(f"halt value {module.halt.value} of '{module.halt.var}' has no dim")
        halt = dense.HaltTest(slot.dim(module.halt.value))
    loop = dense.Loop(dense.Attention(stages), dense.MLP(layers), halt, max_layers)
    return dense.Module(
        name=module.name,
        d_model=d,
        layout=slots,
        weights=weights,
        embed=embed,
        loop=loop,
        readout=dense.Readout(by_var[module.output]),
        input_range=module.input_range,
        position_range=module.position_range,
    )


def schedule(module: sparse.Module) -> list[list[sparse.Head]]:
    """The heads by attention stage: stage 0 reads no head output; a head reading others'
    outputs runs one stage after the latest of them. Declaration order within a stage."""
    stage_of: dict[str, int] = {}
    outputs = {h.output for h in module.heads}
    for head in module.heads:
        read = [getattr(head, r) for r in ("query", "key", "value")]
        later = [name for name in read if name in outputs and name not in stage_of]
        if later:
            raise CompileError(
                f"head '{head.output}' reads the output of head '{later[0]}', which is not "
                "declared before it; a head reads only heads declared before it"
            )
        stage_of[head.output] = 1 + max((stage_of[n] for n in read if n in outputs), default=-1)
    stages: list[list[sparse.Head]] = [[] for _ in range(max(stage_of.values(), default=-1) + 1)]
    for head in module.heads:
        stages[stage_of[head.output]].append(head)
    return stages


def _embed(
    module: sparse.Module, slots: dict[str, dense.Slot], d: int, weights: dict[str, np.ndarray]
) -> dense.Embed:
    tokens = np.zeros((module.input_range, d))
    positions = None
    for var in module.variables.values():
        slot, init = slots[var.name], var.init
        if init.source == "token":
            for t, value in enumerate(init.table):
                tokens[t] += encode(slot, value, d)
        elif init.source == "const":
            tokens += encode(slot, init.table[0], d)
        elif init.source == "position":
            if positions is None:
                positions = np.zeros((module.position_range or 0, d))
            for p, value in enumerate(init.table):
                positions[p] += encode(slot, value, d)
    weights["embed.tokens"] = tokens
    if positions is not None:
        weights["embed.positions"] = positions
    return dense.Embed("embed.tokens", "embed.positions" if positions is not None else None)


def _head(
    module: sparse.Module,
    head: sparse.Head,
    slots: dict[str, dense.Slot],
    folded: dict[str, Any],
    codes: dict[str, int],
    d: int,
    weights: dict[str, np.ndarray],
) -> dense.Head:
    """Q/K/V/O of one head; a constant query, key or value comes in through a bias."""
    value, out = slots[head.value], slots[head.output]
    if head.key in codes:
        wq, bq, wk, bk = _binary_match(head, slots, folded, codes[head.key], d)
    else:
        wq, bq, wk, bk = _one_hot_match(module, head, slots, folded, d)
    if head.output in codes:
        bits = codes[head.output]
        wv, wo, bv = np.zeros((d, bits)), np.zeros((bits, d)), np.zeros(bits)
        if head.value in folded:
            bv[:] = dense.code(folded[head.value], bits)
        else:
            wv[value.start : value.stop] = np.eye(bits)
        wo[:, out.start : out.stop] = np.eye(bits)
    elif out.kind == sparse.CATEGORICAL:
        wv, wo = np.zeros((d, out.width)), np.zeros((out.width, d))
        bv = np.zeros(out.width)
        for c, v in enumerate(out.values):
            if head.value in folded:
                bv[c] = 1.0 if v == folded[head.value] else 0.0
            elif v in value.values:
                wv[value.dim(v), c] = 1.0
            wo[c, out.dim(v)] = 1.0
    else:
        # Column 0 carries the number, column 1 (where the output keeps its "defined"
        # flag) is 1 wherever a position is selected.
        cols = out.width
        wv, wo, bv = np.zeros((d, cols)), np.zeros((cols, d)), np.array([0.0, 1.0][:cols])
        if head.value in folded:
            bv[0] = folded[head.value]
        else:
            wv[value.start, 0] = 1.0
        wo[:, out.start : out.stop] = np.eye(cols)
    prefix = f"head.{head.output}"
    for role, arr in (
        ("wq", wq),
        ("bq", bq),
        ("wk", wk),
        ("bk", bk),
        ("wv", wv),
        ("bv", bv),
        ("wo", wo),
    ):
        weights[f"{prefix}.{role}"] = arr
    offsets = tuple(sorted(head.mask)) if head.mask else None
    names = {r: f"{prefix}.{r}" for r in ("wq", "bq", "wk", "bk", "wv", "bv", "wo")}
    return dense.Head(
        head.output,
        **names,
        offsets=offsets,
        null_logit=MATCH_LOGIT / 2,
    )


def _one_hot_match(
    module: sparse.Module,
    head: sparse.Head,
    slots: dict[str, dense.Slot],
    folded: dict[str, Any],
    d: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wq, bq, Wk, bk of a one-hot match: a match scores MATCH_LOGIT, anything else 0."""
    query, key = slots[head.query], slots[head.key]
    key_values = module.variables[head.key].values
    query_var = module.variables[head.query]
    query_values = (
        set().union(*query_var.values) if query_var.kind == sparse.SET else set(query_var.values)
    )
    # One column per key value the query can also hold; their dot product is the match.
    columns = [v for v in key_values if v in query_values]
    wq, wk = np.zeros((d, len(columns))), np.zeros((d, len(columns)))
    bq, bk = np.zeros(len(columns)), np.zeros(len(columns))
    for c, v in enumerate(columns):
        if head.query in folded:
            const = folded[head.query]
            bq[c] = (
                MATCH_LOGIT if (v in const if isinstance(const, frozenset) else v == const) else 0.0
            )
        else:
            wq[query.dim(v), c] = MATCH_LOGIT
        if head.key in folded:
            bk[c] = 1.0 if v == folded[head.key] else 0.0
        else:
            wk[key.dim(v), c] = 1.0
    return wq, bq, wk, bk


def _binary_match(
    head: sparse.Head,
    slots: dict[str, dense.Slot],
    folded: dict[str, Any],
    bits: int,
    d: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wq, bq, Wk, bk of a match of codes: (M/2) q.k + M(1 - bits/2) is M on equal codes,
    at most 0 on any other pair and when either side is None (zero), as in one-hot."""
    wq, wk = np.zeros((d, bits + 1)), np.zeros((d, bits + 1))
    bq, bk = np.zeros(bits + 1), np.zeros(bits + 1)
    half = MATCH_LOGIT / 2
    if head.query in folded:
        bq[:bits] = half * dense.code(folded[head.query], bits)
    else:
        query = slots[head.query]
        wq[query.start : query.stop, :bits] = half * np.eye(bits)
    if head.key in folded:
        bk[:bits] = dense.code(folded[head.key], bits)
    else:
        key = slots[head.key]
        wk[key.start : key.stop, :bits] = np.eye(bits)
    bq[bits], bk[bits] = MATCH_LOGIT * (1 - bits / 2), 1.0
    return wq, bq, wk, bk
