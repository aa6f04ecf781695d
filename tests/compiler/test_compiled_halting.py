"""Compiled models never stop silently (docs/semantics.md, "Halting").

On every installed backend: a sequence at a fixed point stops early and reports the
layer limit, as in the interpreter; a program with a halt test whose sequence has not
halted when the layers run out is an `InterpreterError` naming the sequence and the
budget, unless `allow_unhalted=True`; `run` says which sequences halted.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
import pytest

import alta
from alta import inputs, interp
from alta import lang as pb
from alta.backends import base
from alta.errors import InputError, InterpreterError
from alta.ir import symbolic
from alta.model import CompiledModel, ModelRun
from alta.programs import parity

BACKENDS = base.available()


@functools.cache
def _settle(halting: bool) -> symbolic.Program:
    """`count` climbs to 3 and stays; a token 4 stays 4 forever. With a halt test, a
    position is done at 3, so a sequence holding a 4 reaches a fixed point unhalted."""
    variables = {"count": pb.input_var(5), "done": pb.var(2)}
    mlp = pb.MLPBuilder(variables, {})
    for count in mlp.get("count"):
        if count < 3:
            mlp.set("count", count + 1)
        if count == 3:
            mlp.set("done", 1)
    halt = pb.halt_spec("done", 1) if halting else None
    name = "settle_halting" if halting else "settle"
    return pb.program_spec_from_rules(variables, {}, mlp.rules, "count", 5, halt=halt, name=name)


@functools.cache
def _toggle() -> symbolic.Program:
    """Halts only once `done` is 1, which nothing writes; `bit` flips every layer, so the
    state never stops changing."""
    variables = {"bit": pb.input_var(2), "done": pb.var(2)}
    mlp = pb.MLPBuilder(variables, {})
    for bit in mlp.get("bit"):
        mlp.set("bit", 1 - bit)
    halt = pb.halt_spec("done", 1)
    return pb.program_spec_from_rules(variables, {}, mlp.rules, "bit", 2, halt=halt, name="toggle")


@functools.cache
def _model(name: str, backend: str, max_layers: int | None = None) -> CompiledModel:
    program = {"settle": _settle(False), "settle_halting": _settle(True), "toggle": _toggle()}
    return alta.compile(program[name], backend=backend, max_layers=max_layers)


HALTING_BATCH = [[0, 1], [4], [], [3, 3, 3], [2, 4, 0], [0]]
STUCK = [1, 4]  # the sequences holding a 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_returns_values_layers_and_halted(backend: str) -> None:
    model = _model("settle_halting", backend)
    batch = [s for i, s in enumerate(HALTING_BATCH) if i not in STUCK]
    result = model.run(*model.pad(batch))
    assert isinstance(result, ModelRun)
    want = interp.run(_settle(True), batch)
    assert result.halted.tolist() == [True] * len(batch)
    np.testing.assert_array_equal(result.layers, want.layers)
    for b, seq in enumerate(batch):  # real positions only: padding holds anything
        assert result.values[b, : len(seq)].tolist() == want.state["count"][b, : len(seq)].tolist()
    empty = model.run(np.zeros((0, 0), np.int64), np.zeros(0, np.int64))
    assert empty.values.shape == (0, 0) and empty.layers.shape == empty.halted.shape == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_point_without_halting_is_an_error(backend: str) -> None:
    """The default cap: a stuck sequence stops at its fixed point (fast) and is named."""
    model = _model("settle_halting", backend)
    with pytest.raises(InterpreterError, match="sequences 1, 4 did not halt") as info:
        model(HALTING_BATCH)
    message = str(info.value)
    assert "settle_halting" in message and "allow_unhalted=True" in message
    assert f"{inputs.DEFAULT_MAX_LAYERS}" in message and "max_layers" in message
    with pytest.raises(InterpreterError, match="fixed point"):
        alta.interpret(_settle(True), HALTING_BATCH)  # the interpreter refuses too
    result = model.run(*model.pad(HALTING_BATCH), allow_unhalted=True)
    assert np.flatnonzero(~result.halted).tolist() == STUCK
    assert result.layers[STUCK].tolist() == [inputs.DEFAULT_MAX_LAYERS] * 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_explicit_budget_unhalted_is_an_error_unless_allowed(backend: str) -> None:
    model = _model("settle_halting", backend, max_layers=2)
    with pytest.raises(InterpreterError, match=r"did not halt within max_layers=2 \(given to"):
        model(HALTING_BATCH)
    with pytest.raises(InterpreterError, match="within max_layers=6;"):
        model(HALTING_BATCH, max_layers=6)
    for limit in (None, 0, 1, 6):
        want = interp.run(_settle(True), HALTING_BATCH, 2 if limit is None else limit)
        assert model(HALTING_BATCH, limit, allow_unhalted=True) == want.outputs
        got = model.run(*model.pad(HALTING_BATCH), limit, allow_unhalted=True)
        np.testing.assert_array_equal(got.layers, want.layers)
    assert model([0, 3], max_layers=4) == [3, 3]  # halted within the budget: no error


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_cap_names_the_sequences(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "DEFAULT_MAX_LAYERS", 40)
    model = _model("toggle", backend)
    batch = [[0, 1]] * 8
    with pytest.raises(InterpreterError) as info:
        model(batch)
    assert "sequences 0, 1, 2, 3, 4 and 3 more did not halt within the default cap of 40" in (
        str(info.value)
    )
    result = model.run(*model.pad(batch), allow_unhalted=True)
    assert result.layers.tolist() == [40] * 8 and not result.halted.any()
    assert model(batch, allow_unhalted=True) == alta.interpret(_toggle(), batch, max_layers=40)


def test_default_cap_is_ten_thousand_layers() -> None:
    assert inputs.DEFAULT_MAX_LAYERS == 10_000
    assert "10,000" in (CompiledModel.__doc__ or "")
    model = _model("toggle", "numpy")
    with pytest.raises(InterpreterError, match="default cap of 10000 layers"):
        model([[1]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_point_stops_early_without_halt_test(backend: str) -> None:
    """No halt test: a sequence at a fixed point reports the limit, as in the interpreter,
    and the run ends there: ten million layers would take minutes."""
    model = _model("settle", backend)
    batch = [[0, 4], [3], [], [1, 2, 0]]
    model.run(*model.pad(batch), max_layers=2)  # warm up (jit compiles)
    start = time.perf_counter()
    result = model.run(*model.pad(batch), max_layers=10**7)
    assert time.perf_counter() - start < 10
    want = interp.run(_settle(False), batch, 10**7)
    np.testing.assert_array_equal(result.layers, want.layers)
    assert result.layers.tolist() == [10**7] * 4 and result.halted.all()
    assert model(batch, max_layers=10**7) == want.outputs


def test_no_halt_test_needs_max_layers(tmp_path: Path) -> None:
    model = _model("settle", "numpy")
    with pytest.raises(InterpreterError, match="has no halt test: pass max_layers"):
        model([[1]])
    with pytest.raises(InterpreterError, match="to export_onnx"):
        model.export_onnx(str(tmp_path / "settle.onnx"))


@pytest.mark.parametrize("program", ["settle", "settle_halting"])
def test_export_onnx_takes_max_layers(tmp_path: Path, program: str) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = _model(program, "numpy")
    path = tmp_path / "model.onnx"
    with pytest.raises(InputError, match="max_layers must be >= 0"):
        model.export_onnx(str(path), max_layers=-1)
    model.export_onnx(str(path), max_layers=7)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["alta.max_layers"] == "7"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tokens, lengths = model.pad(HALTING_BATCH)
    layers, halted = session.run(["layers", "halted"], {"tokens": tokens, "lengths": lengths})
    want = model.run(tokens, lengths, 7, allow_unhalted=True)
    np.testing.assert_array_equal(layers, want.layers)
    np.testing.assert_array_equal(halted, want.halted)
    if program == "settle_halting":
        model.export_onnx(str(path))
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props["alta.max_layers"] == str(inputs.DEFAULT_MAX_LAYERS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_residuals_are_unchanged(backend: str) -> None:
    """`residuals` runs exactly the layers asked for, halted or not, and raises nothing."""
    model = _model("settle_halting", backend)
    stack = model.residuals(HALTING_BATCH, 5)
    assert stack.shape[0] == 6
    for layer in range(6):
        state = interp.run(_settle(True), HALTING_BATCH, layer).state["count"]
        decoded = model.run(*model.pad(HALTING_BATCH), layer, allow_unhalted=True).values
        lengths = [len(s) for s in HALTING_BATCH]
        for b, n in enumerate(lengths):
            assert decoded[b, :n].tolist() == state[b, :n].tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_readme_parity_never_gives_a_silent_wrong_answer(backend: str) -> None:
    # The README's prefix parity (the library's): token 2 starts the sequence, each layer
    # passes the parity one position on.
    model = alta.compile(parity.build_sequential_relative(), backend=backend, max_layers=64)
    long = [2] + [1] * 100  # even: the last parity is 0, but 64 layers reach position 64
    assert model([2, 1, 1, 0]) == [0, 1, 0, 0]
    with pytest.raises(InterpreterError, match=r"sequence 1 did not halt within max_layers=64"):
        model([[2, 1], long])
    assert model(long, max_layers=128)[-1] == 0 == sum(long[1:]) % 2
    # No start token: nothing ever becomes done, the state stops changing at once.
    result = model.run(np.array([[1, 0, 1]]), np.array([3]), allow_unhalted=True)
    assert not result.halted[0] and result.layers[0] == 64
    with pytest.raises(InterpreterError, match="sequence 0 did not halt"):
        model([1, 0, 1])
