"""Chained heads: a head may read the output of a head declared before it, in the same layer.

The lowering schedules heads into attention stages by dependency (one attention sublayer
per stage); every backend runs the stages in order and must agree with the interpreter,
which runs heads in declaration order (docs/semantics.md, "One layer").
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import numpy as np
import pytest

import alta
from alta import interp, programs
from alta import lang as pb
from alta.backends import base, numpy_backend
from alta.errors import UndefinedBehaviourError, VerifyError
from alta.ir import dense, symbolic
from alta.ir.verify import verify_dense
from alta.model import CompiledModel

BACKENDS = base.available()
N_RANDOM = 60
R = 5  # token range of the shift program
N = 6  # position range of the pointer program


def _shift() -> symbolic.Program:
    """h1 = a[i-1], h2 = h1[i-1], h3 = h2[i-1] (values chained): each layer shifts `a`
    right by three; positions 0..2 read None and keep their value."""
    variables = {"a": pb.input_var(R)}
    heads = {
        "h1": pb.v_relative("a", -1),
        "h2": pb.v_relative("h1", -1),
        "h3": pb.v_relative("h2", -1),
    }
    mlp = pb.MLPBuilder(variables, heads)
    for v in mlp.get("h3"):
        mlp.set("a", v)
    return pb.program_spec_from_rules(variables, heads, mlp.rules, "a", R, name="shift")


def _pointer() -> symbolic.Program:
    """Pointers chained through query and key: h1 = a[a[i]], h2 = a[h1[i]] (query is h1),
    h3 = the a at the position j whose h2[j] is i (key is h2); h4 reads no head and joins
    stage 0. Each layer sets a := h1 (a permutation stays one) and out := h3 + h4 (mod N);
    after three layers (a counter) the sequence halts."""
    variables = {
        "a": pb.input_var(N),
        "pos": pb.position_var(N),
        "out": pb.var(N),
        "steps": pb.var(4),
    }
    heads = {
        "h1": pb.qkv("a", "pos", "a"),
        "h2": pb.qkv("h1", "pos", "a"),
        "h3": pb.qkv("pos", "h2", "a"),
        "h4": pb.v_relative("a", 1),
    }
    mlp = pb.MLPBuilder(variables, heads)
    for step in mlp.get("steps"):
        if step < 3:
            mlp.set("steps", step + 1)
    for h1 in mlp.get("h1"):
        mlp.set("a", h1)
    for h3, h4 in mlp.get("h3", "h4"):
        mlp.set("out", (h3 + h4) % N)
    return pb.program_spec_from_rules(
        variables,
        heads,
        mlp.rules,
        "out",
        N,
        position_range=N,
        halt=pb.halt_spec("steps", 3),
        name="pointer",
    )


PROGRAMS = {"shift": (_shift, 3), "pointer": (_pointer, None)}


@functools.cache
def _program(name: str) -> symbolic.Program:
    return PROGRAMS[name][0]()


@functools.cache
def _model(name: str, backend: str) -> CompiledModel:
    return alta.compile(_program(name), backend=backend, max_layers=PROGRAMS[name][1])


def _inputs(name: str, seed: int = 0) -> list[list[int]]:
    """Random inputs (for the pointer program mostly permutations, which never match a key
    twice) plus the edges, empty and one token; only those where strict mode sees no
    undefined behaviour (a key matching twice, a None query), where models may differ."""
    rng = np.random.default_rng(seed)
    top = R if name == "shift" else N
    batch = [[], [0], [top - 1], list(range(top))[:N]]
    for k in range(N_RANDOM):
        n = int(rng.integers(1, N + 1))
        if name == "pointer" and k % 3:
            batch.append(rng.permutation(n).tolist())
        else:
            batch.append(rng.integers(0, top, n).tolist())
    limit = PROGRAMS[name][1]
    kept = []
    for seq in batch:
        try:
            alta.interpret(_program(name), seq, max_layers=limit, strict=True)
        except UndefinedBehaviourError:
            continue
        kept.append(seq)
    return kept


# --------------------------------------------------------------------------- scheduling


def _stages(module: dense.Module) -> list[list[str]]:
    return [[h.name for h in stage] for stage in module.loop.attention.stages]


def test_chains_are_scheduled_by_dependency() -> None:
    assert _stages(_model("shift", "numpy").ir) == [["h1"], ["h2"], ["h3"]]
    # h4 reads no head output: stage 0 with h1, whatever its declaration order
    assert _stages(_model("pointer", "numpy").ir) == [["h1", "h4"], ["h2"], ["h3"]]
    assert [h.name for h in _model("pointer", "numpy").ir.loop.attention.heads] == [
        "h1",
        "h4",
        "h2",
        "h3",
    ]
    assert _model("shift", "numpy").stats["attention_stages"] == 3


@pytest.mark.parametrize("name", ["parity_sequential_relative_rules", "sort_unique"])
def test_independent_heads_form_one_stage(name: str) -> None:
    program = programs.get(name).build()
    module = alta.compile(program).ir
    assert len(module.loop.attention.stages) == 1
    assert [h.name for h in module.loop.attention.heads] == [h.output for h in program.heads]
    stages = [line.strip() for line in str(module).splitlines() if "stage " in line]
    assert stages == ["stage 0 {"]


def test_printer_shows_each_stage() -> None:
    lines = [line.strip() for line in str(_model("pointer", "numpy").ir).splitlines()]
    shown = [line.split(" {")[0] for line in lines if line.startswith(("stage ", "head %"))]
    assert shown == [
        *("stage 0", "head %h1", "head %h4"),
        *("stage 1", "head %h2"),
        *("stage 2", "head %h3"),
    ]


def test_verifier_rejects_a_head_reading_its_own_stage() -> None:
    module = _model("shift", "numpy").ir
    flat = attrs.evolve(module.loop.attention, stages=(module.loop.attention.heads,))
    merged = attrs.evolve(module, loop=attrs.evolve(module.loop, attention=flat))
    with pytest.raises(VerifyError, match=r"head '%h2' \(stage 0\) reads dims .* '%h1'"):
        verify_dense(merged)
    reversed_stages = attrs.evolve(flat, stages=tuple(reversed(module.loop.attention.stages)))
    backwards = attrs.evolve(module, loop=attrs.evolve(module.loop, attention=reversed_stages))
    with pytest.raises(VerifyError, match="reads dims"):
        verify_dense(backwards)
    empty = attrs.evolve(flat, stages=((), *module.loop.attention.stages))
    with pytest.raises(VerifyError, match="stage 0 has no heads"):
        verify_dense(attrs.evolve(module, loop=attrs.evolve(module.loop, attention=empty)))


# --------------------------------------------------------------------------- every backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_chain_agrees_with_interpreter(name: str, backend: str) -> None:
    """Outputs and layer counts of a chain of three heads equal the interpreter's."""
    batch = _inputs(name, seed=1)
    model = _model(name, backend)
    want = interp.run(_program(name), batch, PROGRAMS[name][1])
    assert model(batch) == want.outputs
    np.testing.assert_array_equal(model.run(*model.pad(batch)).layers, want.layers)
    for seq, out in zip(batch[:5], want.outputs, strict=False):
        assert model(seq) == out


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_chain_residuals_match_numpy(name: str, backend: str) -> None:
    model = _model(name, backend)
    batch = _inputs(name, seed=2)[:6]
    reference = numpy_backend.NumpyBackend().build(model.ir)
    tokens, lengths = model.pad(batch)
    got = model.residuals(batch, 4)
    np.testing.assert_allclose(got, reference.residuals(tokens, lengths, 4), atol=1e-5, rtol=0)


def test_torch_compiled_layer_body_runs_stages() -> None:
    torch = pytest.importorskip("torch")
    try:
        torch.compile(lambda t: t + 1, backend="eager", fullgraph=True)(torch.zeros(1))
    except Exception as err:  # any failure means "not available here"
        pytest.skip(f"torch.compile is unavailable on this platform: {err}")
    model = alta.compile(_program("pointer"), backend="torch", compile="aot_eager")
    batch = _inputs("pointer", seed=3)
    assert model(batch) == alta.interpret(_program("pointer"), batch)


def test_exported_onnx_runs_stages(tmp_path: Any) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "shift.onnx"
    _model("shift", "numpy").export_onnx(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = _inputs("shift", seed=4)
    tokens, lengths = _model("shift", "numpy").pad(batch)
    (output,) = session.run(["output"], {"tokens": tokens, "lengths": lengths})
    got = [
        [None if v < 0 else int(v) for v in row[:n]] for row, n in zip(output, lengths, strict=True)
    ]
    assert got == alta.interpret(_program("shift"), batch, max_layers=3)


@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_torch_cuda_runs_stages(cuda_graphs: bool) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    model = alta.compile(
        _program("pointer"), backend="torch", device="cuda", cuda_graphs=cuda_graphs
    )
    for seed in (5, 6):  # a second batch replays the recorded graphs
        batch = _inputs("pointer", seed=seed)
        assert model(batch) == alta.interpret(_program("pointer"), batch)
