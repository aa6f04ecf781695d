"""The interpreter's ways to the same result must agree to the bit: one sequence in plain
Python (alta/interp/single.py) or with numpy; attention by pairs, per key value or in
blocks (alta/interp/attention.py); work kept across layers (alta/interp/reuse.py) or
redone; leaves by memo (alta/interp/read_memo.py) after it started over or not."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from function_reference import run_layers

from alta import errors, interp, programs
from alta import lang as pb
from alta.interp import attention, loop, read_memo, single
from alta.interp import symbolic as interp_symbolic
from alta.ir import symbolic


def _numbers_program() -> symbolic.Program:
    """Means of fractions (and -0.0) over set queries, over two neighbours and over one,
    and a head whose query is another head's output."""
    variables: dict[str, symbolic.Var] = {
        "t": pb.input_var(8),
        "f": pb.numeric_var(input_init_fn=lambda t: -0.0 if t == 0 else t / 7),
        "s": pb.set_var(range=8, input_init_fn=lambda t: frozenset({t, (3 * t) % 8})),
        "out": pb.var(16),
        "seen": pb.var(8),
    }
    heads = {
        "avg": pb.qkv("s", "t", "f"),
        "around": pb.qkv(symbolic.RELATIVE_QK, symbolic.RELATIVE_QK, "f", {-1, 1}),
        "left": pb.v_relative("f", -1),
        "pick": pb.qkv("t", "seen", "t"),
        "again": pb.qkv("pick", "t", "t"),
    }

    def ffn(z: Any) -> None:
        total = 0.0
        for name in ("avg", "around", "left"):
            try:
                value = z[name]
            except errors.UndefinedReadError:
                value = 0.5
            total += 0.25 if str(value) == "-0.0" else value  # the sign of zero shows
        z["out"] = int(abs(total) * 997) % 16
        try:
            z["seen"] = (z["again"] + z["seen"] + 1) % 8
        except errors.UndefinedReadError:
            z["seen"] = (z["seen"] + 3) % 8

    return pb.program_spec(variables, heads, ffn, "out", input_range=8)


def _inputs(seed: int, n: int, high: int, longest: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, size=rng.integers(0, longest + 1)).tolist() for _ in range(n)]


def _signed_zero() -> symbolic.Program:
    """A write that changes only the sign of a zero: equal values, different bits, and the
    next layer's MLP reads the difference (`g` := 1 once `f` is -0.0)."""

    def ffn(z: Any) -> None:
        if str(z["f"]) == "-0.0":
            z["g"] = 1
        else:
            z["f"] = -0.0
            z["h"] = 1

    variables = {
        "t": pb.input_var(2),
        "f": pb.numeric_var(input_init_fn=lambda t: 0.0),
        "g": pb.var(2),
        "h": pb.var(2),
    }
    return pb.program_spec(variables, {}, ffn, "g", input_range=2, name="signed_zero")


CASES: list[tuple[str, Callable[[], symbolic.Program], list[list[int]], int | None]] = [
    ("numbers", _numbers_program, _inputs(0, 30, 8, 12), 4),
    ("signed_zero", _signed_zero, [[0, 1], [1], [1, 0, 1]], 4),
    *(
        (
            name,
            case.build,
            case.generate(np.random.default_rng(1), 12) + case.edge_cases(),
            case.max_layers,
        )
        for name, case in programs.PROGRAMS.items()
    ),
]


def _outcome(fn: Callable[[], loop.RunResult]) -> tuple[Any, ...]:
    """A run as comparable values: floats by their bits (so -0.0 is not 0.0), or the error."""
    try:
        result = fn()
    except errors.AltaError as exc:
        return (type(exc).__name__, str(exc))
    state = {n: a.view(np.int64) if a.dtype.kind == "f" else a for n, a in result.state.items()}
    return result.outputs, result.layers.tolist(), {n: a.tolist() for n, a in state.items()}


@pytest.mark.parametrize(("name", "build", "inputs", "layers"), CASES, ids=[c[0] for c in CASES])
def test_one_sequence_in_python_equals_numpy(
    name: str,
    build: Callable[[], symbolic.Program],
    inputs: list[list[int]],
    layers: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program, max_layers = build(), layers
    for x in inputs:
        _alone_both_ways(program, x, max_layers, monkeypatch)


def _alone_both_ways(
    program: symbolic.Program, x: list[int], max_layers: int | None, mp: pytest.MonkeyPatch
) -> tuple[Any, ...]:
    """The run of `x` alone, in plain Python and with numpy, which must agree."""
    alone = functools.partial(interp.run, program, [x], max_layers)
    mp.setattr(single, "ENABLED", True)
    python = _outcome(alone)
    mp.setattr(single, "ENABLED", False)
    assert _outcome(alone) == python, x
    return python


@pytest.mark.parametrize("name", ["parity_sequential_relative", "subleq_rules", "addition"])
def test_one_short_sequence_takes_the_plain_python_path(name: str) -> None:
    """What the comparisons above compare is there: functions and categorical rule tables
    run in plain Python (`single.run` gives None when it leaves a run to numpy)."""
    case = programs.get(name)
    program = case.build()
    x = case.generate(np.random.default_rng(0), 1)[0]
    step = interp_symbolic.mlp_step(program)
    assert single.run(program, x, case.max_layers, step) is not None


def _clashing_rules(clash: str) -> symbolic.Program:
    """Rules that go wrong where the token is 1 (two fire on `b`, or one writes 3 to a
    cat<3>), or that test a number (which the plain-Python path leaves to numpy)."""
    variables: dict[str, symbolic.Var] = {
        "t": pb.input_var(3),
        "p": pb.position_var(6),
        "b": pb.var(3),
        "x": pb.numeric_var(values=(0.0, 1.0), input_init_fn=lambda t: float(t == 2)),
    }
    rules = [symbolic.Rule((("t", 2),), "b", 0, 1), symbolic.Rule((("t", 1),), "b", 0, 2)]
    if clash == "two":
        rules.append(symbolic.Rule((("p", 1),), "b", 0, 1))
    elif clash == "ill-typed":
        rules.append(symbolic.Rule((("p", 3), ("t", 1)), "b", 2, 3))
    else:
        rules.append(symbolic.Rule((("x", 1.0),), "b", 1, 2))
    return pb.program_spec_from_rules(variables, {}, rules, "b", 3, 6, name=clash)


@pytest.mark.parametrize("clash", ["two", "ill-typed", "number"])
def test_rule_tables_in_python_equal_numpy_errors_included(
    clash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = _clashing_rules(clash)
    outcomes = set()
    for x in ([0, 2, 0], [0, 1, 2, 1, 1], [1, 1, 1, 1, 1, 1], [2, 2], [0, 0, 0]):
        python = _alone_both_ways(program, x, 3, monkeypatch)
        outcomes.add(python[0] if isinstance(python[0], str) else "ran")
    if clash == "number":
        assert program.derived["single_rules"] is None  # left to numpy
        assert outcomes == {"ran"}
    else:
        assert outcomes == {"ran", "RuleConflictError" if clash == "two" else "IllTypedWriteError"}


@pytest.mark.parametrize(("name", "build", "inputs", "layers"), CASES, ids=[c[0] for c in CASES])
def test_attention_paths_and_reuse_agree(
    name: str,
    build: Callable[[], symbolic.Program],
    inputs: list[list[int]],
    layers: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program, max_layers = build(), layers
    want = _outcome(lambda: _fresh_layers(program, inputs, max_layers))
    for cells, block in ((10**9, 1 << 20), (0, 1 << 20), (0, 1)):  # pairs, per key, blocks
        monkeypatch.setattr(attention, "QUADRATIC_CELLS", cells)
        monkeypatch.setattr(attention, "BLOCK_CELLS", block)
        assert _outcome(lambda: interp.run(program, inputs, max_layers)) == want, cells


@pytest.mark.parametrize("enabled", [True, False])
def test_a_write_that_only_flips_a_zeros_sign_is_read_next_layer(
    enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(single, "ENABLED", enabled)
    # Layer 1 writes f := -0.0 and h := 1; layer 2 reads -0.0 and writes g := 1.
    assert interp.run(_signed_zero(), [[0, 1], [1]], 4).outputs == [[1, 1], [1]]


def test_strict_checks_numbers_on_layers_whose_mlp_is_skipped() -> None:
    """The head mean `avg` is 0.5 from layer 1 on, off `f`'s grid; the MLP reads only `t`,
    so from layer 1 on it is skipped, but strict mode must still report `avg`."""

    def ffn(z: Any) -> None:
        z["f"] = 1.0 if z["t"] == 1 else 0.0

    variables = {
        "t": pb.input_var(2),
        "f": pb.numeric_var(values=(0.0, 1.0), input_init_fn=lambda t: 0.0),
        "o": pb.var(2),
    }
    heads = {"avg": pb.qkv("o", "o", "f")}
    program = pb.program_spec(variables, heads, ffn, "o", input_range=2)
    with pytest.raises(errors.UndefinedBehaviourError, match="layer 1: numerical 'avg'"):
        interp.run(program, [[0, 1], [1, 0]], 3, strict=True)


def _fresh_layers(
    program: symbolic.Program, inputs: list[list[int]], max_layers: int | None
) -> loop.RunResult:
    """`interp.run` with nothing kept from one layer to the next (a new `Reuse` each)."""
    step = interp_symbolic.mlp_step(program)
    return run_layers(program, inputs, max_layers, step, drop_finished=True)


def test_a_memo_that_starts_over_gives_the_same_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    program = _numbers_program()
    inputs = _inputs(2, 60, 8, 12)
    want = _outcome(lambda: interp.run(_numbers_program(), inputs, 4))
    monkeypatch.setattr(read_memo, "MAX_KEYS", 3)
    for _ in range(2):
        assert _outcome(lambda: interp.run(program, inputs, 4)) == want
