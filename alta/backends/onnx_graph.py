"""IR3 as an ONNX graph, built with `onnx.helper` (no exporter in between).

The graph computes exactly the program of `alta.ir.dense`'s docstring:

    inputs   tokens int64 [batch, seq], lengths int64 [batch],
             max_layers optional(int64 []) (optional: without a feed the model runs
             the stored default, so one file serves any layer limit; docs/onnx.md)
    outputs  residual [batch, seq, d_model] (float32 or float64), layers int64 [batch]
             (the layers run until a sequence halted; max_layers if it did not halt),
             output [batch, seq]: the decoded readout slot, int64 with -1 for None
             (categorical), float64 with NaN for None (numerical), or an int64 bitmask
             with bit m set when member m is in the set (set),
             halted bool [batch] (false: the sequence has not finished; all true for a
             program without a halt test),
             residuals [max_layers + 1, batch, seq, d_model] (only with residuals=True)

The shared layer is one ONNX `Loop` whose trip count is `max_layers` and whose condition
is "some sequence is still running". Like the numpy reference, its body gathers the
running sequences, runs a layer on them (attention stage by stage, then the MLP) and
scatters the result back (ScatterND), so a halted sequence stays frozen and costs
nothing; so does a sequence at a fixed point (a layer left its real positions exactly
unchanged). With residuals=True the loop runs all `max_layers` iterations and emits
every layer's stream as a scan output.
Softmax is written out, with weights under exp(-80) dropped (see `_GraphBuilder.attend`).
MLP weights are dense MatMuls, also where the torch and jax backends run them sparse
(their option `mlp`, docs/sparse-execution.md).
Weights are initializers under their IR3 names; helper values are named `alta/...`.
lean=True (what the onnx backend runs) skips adding all-zero biases (faster, see
benchmarks/README.md) and leaves out the initializers nothing reads (onnxruntime would
warn about each). Exported files are not lean.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from alta.ir import dense, sparse

#: Opset 17 only needs IR version 8. The model is stamped with the lowest IR version its
#: opset allows, so older onnxruntime releases load it too (versions: benchmarks/README.md).
OPSET = 17
_I64, _BOOL = TensorProto.INT64, TensorProto.BOOL
#: `max_layers` is an optional input: a run that feeds none runs the default stored in
#: the initializer named MAX_LAYERS_DEFAULT (also the model property `alta.max_layers`). An
#: initializer that is also a graph input would say the same, but onnxruntime warns
#: about that on every session it opens.
_OPTIONAL_I64 = helper.make_optional_type_proto(helper.make_tensor_type_proto(_I64, []))
MAX_LAYERS_DEFAULT = "alta/default_max_layers"
#: Softmax weights below exp(_CUTOFF) are taken as 0 (see `_GraphBuilder.attend`).
_CUTOFF = -80.0
_FLOOR = float(np.exp(_CUTOFF)) * 1.001  # above Exp(_CUTOFF) whatever the rounding


def to_onnx(
    module: dense.Module,
    max_layers: int,
    *,
    opset: int = OPSET,
    dtype: str = "float32",
    residuals: bool = False,
    lean: bool = False,
) -> onnx.ModelProto:
    """The model as ONNX; `max_layers` is the default of the `max_layers` input."""
    graph = _GraphBuilder(module, np.dtype(dtype), residuals, opset, lean).build(max_layers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="alta",
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    slot = module.readout.slot
    helper.set_model_props(
        model,
        {
            "alta.module": module.name,
            "alta.max_layers": str(max_layers),
            "alta.readout.var": slot.var,
            "alta.readout.kind": slot.kind,
            "alta.readout.values": json.dumps([_jsonable(v) for v in slot.values], default=str),
        },
    )
    return model


def _used_names(nodes: list[onnx.NodeProto]) -> set[str]:
    """Every value name the nodes read, in their subgraphs (Loop and If bodies) too."""
    used: set[str] = set()
    for node in nodes:
        used.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used |= _used_names(list(attr.g.node))
    return used


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class _GraphBuilder:
    """Emits nodes into `self.nodes` (the main graph or, while building it, the body)."""

    def __init__(
        self, module: dense.Module, ftype: np.dtype, residuals: bool, opset: int, lean: bool
    ) -> None:
        self.module = module
        self.lean = lean
        self.opset = opset
        self.ftype = ftype
        self.elem = helper.np_dtype_to_tensor_dtype(ftype)
        self.residuals = residuals
        self.initializers = [
            numpy_helper.from_array(np.asarray(w, dtype=ftype), name)
            for name, w in sorted(module.weights.items())
        ]
        self.taken = set(module.weights) | {"tokens", "lengths", "max_layers"}
        self.consts: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.count = 0

    # ------------------------------------------------------------------ helpers

    def fresh(self, hint: str) -> str:
        """A new value name, never one of the weights' (ONNX names are single-assignment)."""
        name = ""
        while not name or name in self.taken:
            self.count += 1
            name = f"alta/{hint}/{self.count}"
        self.taken.add(name)
        return name

    def const(self, value: Any, dtype: Any = None) -> str:
        arr = np.asarray(value, dtype=self.ftype if dtype is None else dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.consts:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(arr, name))
            self.consts[key] = name
        return self.consts[key]

    def ints(self, *values: int) -> str:
        return self.const(list(values), np.int64)

    def op(self, op_type: str, *inputs: str, hint: str = "", **attrs: Any) -> str:
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def affine(self, x: str, w: str, b: str) -> str:
        """x @ w + b; with lean=True an all-zero bias (most are) is left out of the graph."""
        product = self.op("MatMul", x, w)
        if self.lean and not self.module.weights[b].any():
            return product
        return self.op("Add", product, b)

    def any(self, flags: str, axes: list[int] | None = None) -> str:
        """Greater(ReduceSum(int flags), 0): bool reductions without ReduceMax on bool."""
        count = self.op("Cast", flags, to=_I64)
        inputs = [count] if axes is None else [count, self.ints(*axes)]
        return self.op(
            "Greater", self.op("ReduceSum", *inputs, keepdims=0), self.const(0, np.int64)
        )

    def reduce_max(self, x: str, axis: int, keepdims: int) -> str:
        if self.opset >= 18:  # axes became an input in opset 18
            return self.op("ReduceMax", x, self.ints(axis), keepdims=keepdims)
        return self.op("ReduceMax", x, axes=[axis], keepdims=keepdims)

    # ------------------------------------------------------------------ the graph

    def build(self, max_layers: int) -> onnx.GraphProto:
        module, elem = self.module, self.elem
        d = module.d_model
        inputs = [
            helper.make_tensor_value_info("tokens", _I64, ["batch", "seq"]),
            helper.make_tensor_value_info("lengths", _I64, ["batch"]),
            helper.make_value_info("max_layers", _OPTIONAL_I64),
        ]
        self.initializers.append(
            numpy_helper.from_array(np.asarray(max_layers, dtype=np.int64), MAX_LAYERS_DEFAULT)
        )
        x0 = self.prologue()
        final = self.loop(x0)
        outputs = [
            helper.make_tensor_value_info(final["x"], elem, ["batch", "seq", d]),
            helper.make_tensor_value_info(final["layers"], _I64, ["batch"]),
        ]
        out, out_elem = self.readout(final["x"])
        outputs.append(helper.make_tensor_value_info(out, out_elem, ["batch", "seq"]))
        outputs.append(helper.make_tensor_value_info(final["halted"], _BOOL, ["batch"]))
        names = ["residual", "layers", "output", "halted"]
        if self.residuals:
            stacked = self.op(
                "Concat", self.op("Unsqueeze", x0, self.ints(0)), final["scan"], axis=0
            )
            outputs.append(helper.make_tensor_value_info(stacked, elem, [None, "batch", "seq", d]))
            names.append("residuals")
        for info, name in zip(outputs, names, strict=True):
            self.nodes.append(helper.make_node("Identity", [info.name], [name]))
            info.name = name
        initializers = self.initializers
        if self.lean:  # what the graph does not read would only make onnxruntime warn
            used = _used_names(self.nodes)
            initializers = [init for init in initializers if init.name in used]
        return helper.make_graph(
            self.nodes,
            module.name or "alta",
            inputs,
            outputs,
            initializer=initializers,
            doc_string=__doc__,
        )

    def prologue(self) -> str:
        """Embedding, the valid-position mask and loop-invariant attention helpers."""
        emb = self.module.embed
        self.seq = self.op("Shape", "tokens", start=1, end=2, hint="seq")  # [1]
        n = self.op("Squeeze", self.seq, self.ints(0))
        pos = self.op("Range", self.const(0, np.int64), n, self.const(1, np.int64), hint="pos")
        self.valid = self.op(
            "Less",
            self.op("Unsqueeze", pos, self.ints(0)),
            self.op("Unsqueeze", "lengths", self.ints(1)),
            hint="valid",
        )  # [B, N]
        # Padded tokens may be anything; read them as token 0 (their stream is masked).
        safe = self.op("Where", self.valid, "tokens", self.const(0, np.int64))
        x = self.op("Gather", emb.tokens, safe, axis=0, hint="x0")
        if emb.positions is not None:
            table = self.op("Slice", emb.positions, self.ints(0), self.seq, self.ints(0))
            x = self.op("Add", x, table, hint="x0")
        self.rel = self.op(
            "Sub", self.op("Unsqueeze", pos, self.ints(0)), self.op("Unsqueeze", pos, self.ints(1))
        )  # [N, N]: j - i
        self.near: dict[tuple[int, ...], str] = {}
        for head in self.module.loop.attention.heads:
            if head.offsets is not None:
                self.offset_mask(head.offsets)
        return x

    def offset_mask(self, offsets: tuple[int, ...]) -> str:
        """[N, N]: 0 where key j is at an allowed offset j - i from query i, else -inf."""
        if offsets not in self.near:
            near = self.const(False, np.bool_)
            for o in sorted(set(offsets)):
                near = self.op("Or", near, self.op("Equal", self.rel, self.const(o, np.int64)))
            self.near[offsets] = self.op("Where", near, self.const(0.0), self.const(-np.inf))
        return self.near[offsets]

    def loop(self, x0: str) -> dict[str, str]:
        outer, self.nodes = self.nodes, []
        elem, d = self.elem, self.module.d_model
        it, cond, x, layers, active = (
            self.fresh(h) for h in ("iter", "cond", "x", "layers", "active")
        )
        body_inputs = [
            helper.make_tensor_value_info(it, _I64, []),
            helper.make_tensor_value_info(cond, _BOOL, []),
            helper.make_tensor_value_info(x, elem, ["batch", "seq", d]),
            helper.make_tensor_value_info(layers, _I64, ["batch"]),
            helper.make_tensor_value_info(active, _BOOL, ["batch"]),
        ]
        # Like the numpy reference, run the layer on the running sequences only; halted
        # ones keep their stream because the scatter leaves them untouched.
        index = self.op("Squeeze", self.op("NonZero", active), self.ints(0), hint="running")
        where = self.op("Unsqueeze", index, self.ints(1))  # [A, 1] for ScatterND
        valid = self.op("Gather", self.valid, index, axis=0)
        x_old = self.op("Gather", x, index, axis=0)
        x_new = self.layer(x_old, valid)
        running = self.op("And", self.running(x_new, valid), self.changed(x_old, x_new, valid))
        outs = [
            self.op("Identity", cond) if self.residuals else "",
            self.op("ScatterND", x, where, x_new),
            self.op("Add", layers, self.op("Cast", active, to=_I64)),
            self.op("ScatterND", active, where, running),
        ]
        outs[0] = outs[0] or self.any(outs[3])
        body_outputs = [
            helper.make_tensor_value_info(outs[0], _BOOL, []),
            helper.make_tensor_value_info(outs[1], elem, ["batch", "seq", d]),
            helper.make_tensor_value_info(outs[2], _I64, ["batch"]),
            helper.make_tensor_value_info(outs[3], _BOOL, ["batch"]),
        ]
        if self.residuals:
            scan = self.op("Identity", outs[1], hint="scan")
            body_outputs.append(helper.make_tensor_value_info(scan, elem, ["batch", "seq", d]))
        body = helper.make_graph(self.nodes, "layer", body_inputs, body_outputs)
        self.nodes = outer

        shape_b = self.op("Shape", "lengths")
        active0 = self.op("Expand", self.const(True, np.bool_), shape_b)
        layers0 = self.op("Expand", self.const(0, np.int64), shape_b)
        if self.residuals:
            cond0 = self.const(True, np.bool_)
        else:
            cond0 = self.op("Greater", self.op("Size", "lengths"), self.const(0, np.int64))
        trips = self.op("Max", self.layer_limit(), self.const(0, np.int64), hint="trips")
        result = {k: self.fresh(k) for k in ("x", "layers", "active", "scan")}
        loop_out = [result["x"], result["layers"], result["active"]]
        if self.residuals:
            loop_out.append(result["scan"])
        self.nodes.append(
            helper.make_node(
                "Loop", [trips, cond0, x0, layers0, active0], loop_out, body=body, name="layer_loop"
            )
        )
        # As in the interpreter, a sequence that did not halt reports max_layers layers.
        ran = result["layers"]
        if self.module.loop.halt is None:
            result["halted"] = self.op("Expand", self.const(True, np.bool_), shape_b)
            result["layers"] = self.op("Expand", trips, shape_b, hint="layers")
        else:
            result["halted"] = self.op("Not", self.running(result["x"], self.valid))
            result["layers"] = self.op("Where", result["halted"], ran, trips, hint="layers")
        return result

    def layer_limit(self) -> str:
        """The `max_layers` feed, or the stored default where the caller gives none."""
        fed = helper.make_graph(
            [helper.make_node("OptionalGetElement", ["max_layers"], ["fed"])],
            "max_layers_fed",
            [],
            [helper.make_tensor_value_info("fed", _I64, [])],
        )
        default = helper.make_graph(
            [helper.make_node("Identity", [MAX_LAYERS_DEFAULT], ["default"])],
            "max_layers_default",
            [],
            [helper.make_tensor_value_info("default", _I64, [])],
        )
        given = self.op("OptionalHasElement", "max_layers", hint="max_layers_given")
        return self.op("If", given, then_branch=fed, else_branch=default, hint="max_layers")

    def layer(self, x: str, valid: str) -> str:
        """One layer for a batch of running sequences: each attention stage on the x the
        stages before it left, then the MLP."""
        loop = self.module.loop
        # Masks are added to the scores (0 or -inf): a broadcast Add is faster than Where.
        keys = self.op("Unsqueeze", valid, self.ints(1))
        keys = self.op("Where", keys, self.const(0.0), self.const(-np.inf))  # [A, 1, N]
        masks: dict[tuple[int, ...] | None, str] = {None: keys}
        for stage in loop.attention.stages:
            update = None
            for head in stage:
                if head.offsets is not None and head.offsets not in masks:
                    near = self.offset_mask(head.offsets)
                    masks[head.offsets] = self.op("Add", keys, near, hint="allowed")
                out = self.head(x, head, masks[head.offsets])
                update = out if update is None else self.op("Add", update, out)
            if update is not None:
                x = self.op("Add", x, update)
        outputs = [x]  # h_0 = x, then each MLP layer's output (skips read any of them)
        for mlp_layer in loop.mlp.layers:
            h = self.affine(outputs[-1], mlp_layer.w, mlp_layer.b)
            for source, skip in mlp_layer.skips:
                h = self.op("Add", h, self.op("MatMul", outputs[source], skip))
            if mlp_layer.act == dense.CLIPPED_RELU:
                h = self.op("Clip", h, self.const(0.0), self.const(1.0))
            outputs.append(h)
        return self.op("Add", x, outputs[-1])

    def head(self, x: str, head: dense.Head, mask: str) -> str:
        """One head's contribution to the residual."""
        q = self.affine(x, head.wq, head.bq)
        k = self.affine(x, head.wk, head.bk)
        v = self.affine(x, head.wv, head.bv)
        scores = self.op("Add", self.scores(q, k), mask)
        mixed = self.attend(scores, v, head.null_logit)
        return self.op("MatMul", mixed, head.wo, hint=f"head_{head.name}")

    def scores(self, q: str, k: str) -> str:
        """q @ k^T. onnxruntime fuses Transpose into MatMul as FusedMatMul, which 1.17 has
        for float only, so float64 graphs say it as an Einsum instead. onnxruntime's
        Einsum divides by zero (SIGFPE) on an empty batch, which the residuals model runs
        once every sequence has halted, so an empty q gets its (empty or all-zero)
        scores from ConstantOfShape instead."""
        if self.ftype != np.float64:
            return self.op("MatMul", q, self.op("Transpose", k, perm=[0, 2, 1]))
        product = self.branch("scores", lambda: self.op("Einsum", q, k, equation="bik,bjk->bij"))
        shape = self.op(
            "Concat", self.op("Shape", q, end=2), self.op("Shape", k, start=1, end=2), axis=0
        )
        zero = helper.make_tensor("value", self.elem, [1], [0.0])
        nothing = self.branch("no_scores", lambda: self.op("ConstantOfShape", shape, value=zero))
        empty = self.op("Equal", self.op("Size", q), self.const(0, np.int64))
        return self.op("If", empty, then_branch=nothing, else_branch=product, hint="scores")

    def branch(self, name: str, build: Callable[[], str]) -> onnx.GraphProto:
        """A subgraph (of an If) of the nodes `build` emits; it returns their output."""
        outer, self.nodes = self.nodes, []
        out = build()
        graph = helper.make_graph(
            self.nodes, name, [], [helper.make_tensor_value_info(out, self.elem, None)]
        )
        self.nodes = outer
        return graph

    def attend(self, scores: str, v: str, null_logit: float) -> str:
        """softmax_j([scores_i, null]) @ [v; 0], written out rather than as `Softmax`.

        onnxruntime's Exp is much slower on arguments far below zero (masked keys, keys
        hundreds below the null logit), and most arguments here are. So arguments are
        clipped at _CUTOFF and a hair over exp(_CUTOFF) ~ 2e-35 is taken off again (Relu
        after): masked keys get weight exactly 0, other weights move by under 2e-35, and
        the largest weight is 1, so no result moves.
        """
        null = self.const(null_logit)
        cutoff = self.const(_CUTOFF)
        top = self.op("Max", self.reduce_max(scores, 2, keepdims=1), null)
        shifted = self.op("Sub", scores, top)
        raised = self.op("Exp", self.op("Max", shifted, cutoff))
        weights = self.op("Relu", self.op("Sub", raised, self.const(_FLOOR)))
        total = self.op(
            "Add",
            self.op("ReduceSum", weights, self.ints(2), keepdims=1),
            self.op("Exp", self.op("Max", self.op("Sub", null, top), cutoff)),
        )
        return self.op("Div", self.op("MatMul", weights, v), total)

    def running(self, x: str, valid: str) -> str:
        """[A] bool: some real position has not reached the halt value."""
        halt = self.module.loop.halt
        if halt is None:
            return self.op("Expand", self.const(True, np.bool_), self.op("Shape", x, end=1))
        flag = self.op("Gather", x, self.const(halt.dim, np.int64), axis=2)
        pending = self.op("Not", self.op("Greater", flag, self.const(0.5)))
        return self.any(self.op("And", pending, valid), axes=[1])

    def changed(self, x_old: str, x_new: str, valid: str) -> str:
        """[A] bool: the layer changed some dim at some real position (exactly)."""
        differs = self.op("Not", self.op("Equal", x_new, x_old))
        real = self.op("Unsqueeze", valid, self.ints(2))  # [A, N, 1]
        return self.any(self.op("And", differs, real), axes=[1, 2])

    def readout(self, x: str) -> tuple[str, int]:
        slot = self.module.readout.slot
        part = self.op("Slice", x, self.ints(slot.start), self.ints(slot.stop), self.ints(2))
        if slot.kind == sparse.NUMERICAL:
            value = self.op("Gather", part, self.const(0, np.int64), axis=2)
            value = self.op("Cast", value, to=TensorProto.DOUBLE)
            if slot.width == 2:
                flag = self.op("Gather", part, self.const(1, np.int64), axis=2)
                defined = self.op("Greater", flag, self.const(0.5))
                value = self.op("Where", defined, value, self.const(np.nan, np.float64))
            return value, TensorProto.DOUBLE
        if slot.kind == sparse.SET:
            bits = self.op("Cast", self.op("Greater", part, self.const(0.5)), to=_I64)
            masks = self.const([1 << int(m) for m in slot.values], np.int64)
            total = self.op("ReduceSum", self.op("Mul", bits, masks), self.ints(2), keepdims=0)
            return total, _I64
        if slot.encoding == dense.BINARY:  # bipolar code: bit i set where x > 0; None all 0
            bits = self.op("Cast", self.op("Greater", part, self.const(0.0)), to=_I64)
            value = self.op(
                "ReduceSum",
                self.op("Mul", bits, self.const([1 << i for i in range(slot.bits)], np.int64)),
                self.ints(2),
                keepdims=0,
            )
            low = self.reduce_max(self.op("Neg", self.op("Abs", part)), 2, keepdims=0)
            some = self.op("Less", low, self.const(-0.5))
            return self.op("Where", some, value, self.const(-1, np.int64)), _I64
        if slot.width == 0:
            shape = self.op("Shape", "tokens")
            return self.op("Expand", self.const(-1, np.int64), shape), _I64
        best = self.op("ArgMax", part, axis=2, keepdims=0)
        value = self.op("Gather", self.const(list(slot.values), np.int64), best, axis=0)
        top = self.reduce_max(part, 2, keepdims=0)
        some = self.op("Greater", top, self.const(0.5))
        return self.op("Where", some, value, self.const(-1, np.int64)), _I64
