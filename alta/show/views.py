"""What `alta show` draws, as data: one input's run through a compiled model, per layer.

The values come from the model's own residual stream (`CompiledModel.residuals`), decoded
slot by slot, so a picture is of the Transformer; the interpreter's values stand beside
them when the program is known, so a mismatch shows where the weights and the oracle part.
Attention patterns and the MLP inputs are recomputed from the IR3 weights exactly as the
numpy reference executor runs them (it does not expose a head's softmax).

This module sits below `alta.model` (tests/test_layering.py), so `CompiledModel.show` can
use it: it takes the model by duck type and imports only the IRs, the interpreter and the
numpy backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from alta.backends.numpy_backend import NumpyExecutor
from alta.errors import InputError
from alta.inputs import as_batch
from alta.interp import sparse as interp_sparse
from alta.interp import state as st
from alta.interp import symbolic as interp
from alta.interp.loop import LayerRecord
from alta.interp.sparse import ModuleLayout
from alta.ir import dense, sparse, symbolic

if TYPE_CHECKING:
    from alta.model import CompiledModel

#: The most layers a view keeps: a picture of more is unreadable (pass max_layers).
MAX_SHOWN = 50
#: A variable the compiler folded into a constant has no dims: nothing to decode.
FOLDED = "(folded)"

Values = dict[str, list[Any]]  # variable -> one value per position


@attrs.frozen(eq=False)
class View:
    """One input's run. Layer 0 is the embedding; layer k >= 1 is the state after layer k,
    except that head outputs (which the MLP clears) are shown as the MLP read them."""

    name: str
    tokens: tuple[int, ...]
    labels: tuple[str, ...]  # per residual dim: "variable=value"
    residuals: np.ndarray  # [layers + 1, N, d]: the model's, after the embedding and each layer
    mlp_inputs: np.ndarray  # [layers, N, d]: after each layer's attention
    heads: tuple[str, ...]
    attention: dict[str, np.ndarray]  # head -> [layers, N, N + 1]; the last key is the null slot
    variables: tuple[str, ...]
    compiled: tuple[Values, ...]  # per layer 0..layers
    interpreted: tuple[Values, ...] | None  # the same from the interpreter, if it ran
    rules: tuple[str, ...] | None  # the IR2 rules, as printed
    fired: tuple[tuple[tuple[int, ...], ...], ...] | None  # per layer 1.., per position
    halted: bool
    notes: tuple[str, ...]

    @property
    def layers(self) -> int:
        return len(self.residuals) - 1

    def mismatches(self) -> list[tuple[int, str, int]]:
        """(layer, variable, position) where the model's value is not the interpreter's."""
        if self.interpreted is None:
            return []
        return [
            (k, name, i)
            for k, (got, want) in enumerate(zip(self.compiled, self.interpreted, strict=True))
            for name in self.variables
            if name in got and name in want
            for i, (a, b) in enumerate(zip(got[name], want[name], strict=True))
            if not same(a, b)
        ]


def view(
    model: CompiledModel,
    inputs: Any,
    program: symbolic.Program | None = None,
    max_layers: int | None = None,
) -> View:
    """Run `model` on one input sequence and decode every layer; `program` (the IR1 the
    model was compiled from) adds the interpreter's values and the rules that fired."""
    seq = _one_sequence(inputs, model.ir.name)
    tokens, lengths = model.pad([seq])
    limit = model.layer_budget(max_layers)
    run = model.run(tokens, lengths, limit, allow_unhalted=True)
    layers, notes = int(run.layers[0]), []
    if not run.halted[0]:
        notes.append(f"the model did not halt within {limit} layers")
    if layers > MAX_SHOWN:
        notes.append(f"showing the first {MAX_SHOWN} of {layers} layers (pass max_layers)")
        layers = MAX_SHOWN
    n, ir = len(seq), model.ir
    x = model.residuals([seq], layers)[:, 0, :n]
    mlp_inputs, attention = _attention(ir, x)
    head_names = tuple(h.name for h in ir.loop.attention.heads)
    compiled = tuple(
        _decode_layer(ir, x[k], mlp_inputs[k - 1] if k else None, head_names)
        for k in range(layers + 1)
    )
    interpreted, fired = None, None
    if isinstance(program, symbolic.Program):
        interpreted, records = _interpret(program, seq, layers, head_names)
        if len(records) != layers:
            notes.append(f"the interpreter ran {len(records)} layers, the model {layers}")
        if model.sparse_ir is not None:
            idle = ((),) * n  # a frozen sequence runs no rules
            fired = tuple(_fired(model.sparse_ir, rec) for rec in records[:layers])
            fired += (idle,) * (layers - len(fired))
        else:
            notes.append("the model does not know its IR2 rules (it was loaded from a file)")
        compiled = _none_as_zero(ir, compiled, interpreted)
    else:
        notes.append("no symbolic program: the interpreter's values are not shown")
    return View(
        name=ir.name,
        tokens=tuple(seq),
        labels=labels(ir),
        residuals=x,
        mlp_inputs=mlp_inputs,
        heads=head_names,
        attention=attention,
        variables=tuple(slot.var for slot in ir.layout),
        compiled=compiled,
        interpreted=interpreted,
        rules=None if model.sparse_ir is None else _rule_texts(model.sparse_ir),
        fired=fired,
        halted=bool(run.halted[0]),
        notes=tuple(notes),
    )


def labels(ir: dense.Module) -> tuple[str, ...]:
    """Each residual dim as "variable=value" (a set member: "variable∋m"; a number: the
    variable, or "variable defined" for its flag)."""
    names: list[list[str]] = [[] for _ in range(ir.d_model)]
    for slot in ir.layout:
        if slot.encoding == dense.BINARY:
            for k in range(slot.bits):
                names[slot.start + k].append(f"{slot.var} bit {k}")
            continue
        for k, value in enumerate(slot.values):
            if slot.kind == sparse.NUMERICAL:
                text = slot.var if value == "value" else f"{slot.var} {value}"
            elif slot.kind == sparse.SET:
                text = f"{slot.var}∋{value}"
            else:
                text = f"{slot.var}={value}"
            names[slot.start + k].append(text)
    return tuple(" / ".join(n) or "(unused)" for n in names)


def same(a: Any, b: Any) -> bool:
    """Whether a decoded value equals the interpreter's (numbers to 1e-6)."""
    if a == FOLDED or b == FOLDED:
        return True
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-6, atol=1e-6))
    return bool(a == b)


def _one_sequence(inputs: Any, name: str) -> list[int]:
    single, batch = as_batch(inputs)
    if not single and len(batch) != 1:
        raise InputError(f"show draws one input sequence of '{name}', got a batch of {len(batch)}")
    if not batch[0]:
        raise InputError(f"show needs a non-empty input sequence of '{name}'")
    return list(batch[0])


def _attention(ir: dense.Module, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per layer, the MLP input (x after every attention stage) and each head's softmax
    over keys and the null slot, from the layer's input residual x[k - 1]."""
    weights = dict(ir.weights)
    executor = NumpyExecutor(ir, weights, np.dtype(np.float64))
    layers, n = len(x) - 1, x.shape[1]
    valid = np.ones((1, n), dtype=bool)
    patterns = {h.name: np.zeros((layers, n, n + 1)) for h in ir.loop.attention.heads}
    mlp_inputs = np.zeros((layers, *x.shape[1:]))
    for k in range(layers):
        xs = x[k][None]
        for stage in ir.loop.attention.stages:
            update = np.zeros_like(xs)
            for head in stage:
                patterns[head.name][k] = _pattern(weights, head, xs[0])
                update = update + executor.attend(head, xs, valid)
            xs = xs + update
        mlp_inputs[k] = xs[0]
    return mlp_inputs, patterns


def _pattern(weights: dict[str, np.ndarray], head: dense.Head, x: np.ndarray) -> np.ndarray:
    """[N, N + 1]: the head's attention from each query to each key, then the null slot."""
    n = len(x)
    q = x @ weights[head.wq] + weights[head.bq]
    k = x @ weights[head.wk] + weights[head.bk]
    logits = q @ k.T
    if head.offsets is not None:
        offset = np.arange(n)[None, :] - np.arange(n)[:, None]
        logits = np.where(np.isin(offset, head.offsets), logits, -np.inf)
    logits = np.concatenate([logits, np.full((n, 1), head.null_logit)], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def _decode_layer(
    ir: dense.Module, x: np.ndarray, x_in: np.ndarray | None, heads: tuple[str, ...]
) -> Values:
    out: Values = {}
    for slot in ir.layout:
        if slot.width == 0:
            out[slot.var] = [FOLDED] * len(x)
            continue
        source = x_in if x_in is not None and slot.var in heads else x
        out[slot.var] = [_python(slot, v) for v in dense.decode(slot, source).tolist()]
    return out


def _none_as_zero(
    ir: dense.Module, compiled: tuple[Values, ...], interpreted: tuple[Values, ...]
) -> tuple[Values, ...]:
    """A numerical slot without a "defined" dim holds None as 0 (docs/encodings.md): show
    None where the interpreter has None and the residual 0."""
    flagless = [s.var for s in ir.layout if s.kind == sparse.NUMERICAL and s.width == 1]
    for got, want in zip(compiled, interpreted, strict=False):
        for name in flagless:
            if name in got and name in want:
                got[name] = [
                    None if b is None and a == 0.0 else a
                    for a, b in zip(got[name], want[name], strict=True)
                ]
    return compiled


def _python(slot: dense.Slot, raw: Any) -> Any:
    if slot.kind == sparse.NUMERICAL:
        return None if np.isnan(raw) else float(raw)
    if slot.kind == sparse.SET:
        return frozenset(m for m in slot.values if int(raw) >> m & 1)
    return None if raw < 0 else int(raw)


def _interpret(
    program: symbolic.Program, seq: list[int], layers: int, heads: tuple[str, ...]
) -> tuple[tuple[Values, ...], list[dict[str, np.ndarray]]]:
    """The interpreter's values per layer (shaped like the compiled ones) and each layer's
    raw MLP input; a sequence that halted early keeps its last state."""
    tokens, valid = st.pad_inputs(program, [seq])
    inits = {name: symbolic.init_table(program, name, len(seq)) for name in program.vars}
    state = st.initial_state(program, inits, tokens, valid)
    records: list[LayerRecord] = []
    if layers:
        interp.run(program, [seq], layers, observe=records.append)

    def values(raw: dict[str, np.ndarray], raw_in: dict[str, np.ndarray] | None) -> Values:
        return {
            name: [
                st.decode(var, v)
                for v in (raw_in if raw_in is not None and name in heads else raw)[name][0]
            ]
            for name, var in program.vars.items()
        }

    out = [values(state, None)]
    for k in range(layers):  # past the interpreter's last layer the state is frozen
        out.append(values(records[k].mlp_out, records[k].mlp_in) if k < len(records) else out[-1])
    return tuple(out), [{name: a[0] for name, a in rec.mlp_in.items()} for rec in records]


def _fired(module: sparse.Module, mlp_in: dict[str, np.ndarray]) -> tuple[tuple[int, ...], ...]:
    """Per position, the IR2 rules whose atoms all hold on this MLP input."""
    hits = interp_sparse.rule_matches(module, ModuleLayout.of(module).vars, mlp_in)
    return tuple(tuple(np.flatnonzero(row).tolist()) for row in hits)


def _rule_texts(module: sparse.Module) -> tuple[str, ...]:
    lines = str(module).splitlines()
    return tuple(line.strip() for line in lines if line.strip().startswith("rule #"))
