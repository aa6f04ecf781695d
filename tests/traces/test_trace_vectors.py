"""A trace vector is the compiled model's residual at that layer and position, and a
trace's last MLP outputs are the interpreter's outputs (the done-when of traces)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

import alta
from alta import programs
from alta.ir import dense
from alta.model import CompiledModel

PROGRAMS = [*programs.names(), "zeros_below"]


def compiled_residuals(
    model: CompiledModel, batch: list[list[int]], layers: int
) -> tuple[np.ndarray, np.ndarray]:
    """The residual after each layer's attention stages and after its MLP, [L, B, N, d],
    computed with the numpy executor's own steps (no sequence frozen: a trace has no
    records after a sequence halts, so the records compare with the unfrozen stream)."""
    ex = model.executor
    tokens, lengths = model.pad(batch)
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    x = ex.embed(tokens)  # type: ignore[attr-defined]
    after_attention, after_mlp = [], []
    for _ in range(layers):
        a = x
        for stage in model.ir.loop.attention.stages:
            a = a + sum(ex.attend(head, a, valid) for head in stage)  # type: ignore[attr-defined]
        after_attention.append(a)
        x = ex.layer(x, valid)  # type: ignore[attr-defined]
        after_mlp.append(x)
    return np.asarray(after_attention), np.asarray(after_mlp)


@pytest.mark.parametrize("name", PROGRAMS)
def test_vectors_are_the_compiled_residuals(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    max_layers = programs.get(name).max_layers if name != "zeros_below" else None
    t = alta.trace(program, batch, max_layers, model=model)
    assert len(t) > 0
    layers = int(t.layer.max()) + 1
    attn, mlp = compiled_residuals(model, batch, layers)
    s, k, p = t.sequence, t.layer, t.position
    np.testing.assert_allclose(t.vector_in, attn[k, s, p], rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.vector_out, mlp[k, s, p], rtol=0, atol=1e-9)
    # the public residual stream (halted sequences frozen) agrees after every MLP
    frozen = model.residuals(batch, layers)
    np.testing.assert_allclose(t.vector_out, frozen[k + 1, s, p], rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", PROGRAMS)
def test_last_layer_outputs_are_the_interpreter_outputs(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    max_layers = programs.get(name).max_layers if name != "zeros_below" else None
    t = alta.trace(program, batch, max_layers, model=model)
    outputs = alta.interpret(program, batch, max_layers)
    result = alta.interp.run(program, batch, max_layers)
    last: dict[int, int] = defaultdict(lambda: -1)
    for seq, layer in zip(t.sequence.tolist(), t.layer.tolist(), strict=True):
        last[seq] = max(last[seq], layer)
    for b, seq in enumerate(batch):
        if not seq:
            assert b not in last  # an empty sequence has no positions, so no records
            continue
        rows = np.flatnonzero((t.sequence == b) & (t.layer == last[b]))
        assert t.position[rows].tolist() == list(range(len(seq)))
        assert [t.assignment_out(int(r))[program.output] for r in rows] == outputs[b]
        # records stop where the interpreter stopped: layers 0 .. layers-1, every one
        layers_seen = sorted(set(t.layer[t.sequence == b].tolist()))
        if result.layers[b] < 10_000:
            assert layers_seen == list(range(int(result.layers[b])))


@pytest.mark.parametrize("name", ["sort_unique", "zeros_below", "parity_sum_mod_2"])
def test_vectors_are_dense_encode_of_the_assignments(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    """The vectorised encoder is `dense.encode` summed over slots, set variables included."""
    program, model, batch = compiled(name)
    t = alta.trace(program, batch, 1 if name == "parity_sum_mod_2" else None, model=model)
    d = model.ir.d_model
    for i in range(0, len(t), max(1, len(t) // 40)):
        for vectors, assignment in (
            (t.vector_in, t.assignment_in(i)),
            (t.vector_out, t.assignment_out(i)),
        ):
            expect = sum(
                (dense.encode(s, assignment[s.var], d) for s in model.ir.layout), np.zeros(d)
            )
            np.testing.assert_array_equal(vectors[i], expect)


def test_set_variables_are_traced_as_frozensets(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("zeros_below")
    t = alta.trace(program, batch, model=model)
    slot = model.ir.slot("below")
    for i in range(len(t)):
        below = t.assignment_in(i)["below"]
        assert isinstance(below, frozenset)
        assert below == frozenset(range(t.assignment_in(i)["tok"] + 1))
        hot = np.flatnonzero(t.vector_in[i, slot.start : slot.stop])
        assert frozenset(slot.values[k] for k in hot) == below


def test_dropped_variables_keep_their_values_but_no_dims(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("zeros_below")
    t = alta.trace(program, batch, model=model)
    assert "flag" in t.values_in and "flag" not in {s.var for s in model.ir.layout}
    assert t.vector_in.shape == (len(t), model.ir.d_model)


def test_one_sequence_and_a_bare_ir3_module(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, _ = compiled("parity_sequential_relative")
    t = alta.trace(program, [2, 1, 0, 1], model=model.ir)
    assert set(t.sequence.tolist()) == {0} and t.inputs == ((2, 1, 0, 1),)
    assert t.sparse_ir is None
    without = alta.trace(program, [2, 1, 0, 1])  # compiles it itself
    np.testing.assert_array_equal(t.vector_in, without.vector_in)


def test_a_model_of_another_program_is_refused(compiled) -> None:  # type: ignore[no-untyped-def]
    program, _, _ = compiled("parity_sequential_relative")
    _, other, _ = compiled("zeros_below")
    with pytest.raises(alta.AltaError, match="'tok'"):
        alta.trace(program, [2, 1], model=other)
