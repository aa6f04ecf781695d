"""The function-MLP cache (alta/interp/read_tree.py): writes cached on the values of the
variables the function read. It must give exactly what calling the function at every
position gives (`function_reference`), report errors as before, and fill lazily."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest
from function_reference import assert_same_run, both_walks, run_uncached

import alta
from alta import errors, interp, programs
from alta import lang as pb
from alta.interp import mlp
from alta.ir import symbolic

__all__ = ["both_walks"]  # every test runs with each walk of the tree

FUNCTION_PROGRAMS = [
    name
    for name, case in programs.PROGRAMS.items()
    if isinstance(case.build().mlp, symbolic.FunctionMLP)
]


@pytest.mark.parametrize("name", FUNCTION_PROGRAMS)
def test_library_programs_match_calling_the_function_everywhere(name: str) -> None:
    case = programs.get(name)
    program = case.build()
    inputs = case.generate(np.random.default_rng(7), 24) + case.edge_cases()
    want = run_uncached(program, inputs, case.max_layers)
    assert_same_run(interp.run(program, inputs, case.max_layers), want)  # fills the cache
    assert_same_run(interp.run(program, inputs, case.max_layers), want)  # reuses it
    for i in (0, 5, len(inputs) - 1):  # one sequence at a time
        alone = interp.run(program, [inputs[i]], case.max_layers)
        assert alone.outputs == [want.outputs[i]]
    assert all(case.check(x, y) for x, y in zip(inputs, want.outputs, strict=True))


# --------------------------------------------------------------------------- fresh programs


def _branchy(calls: list[int] | None = None) -> symbolic.Program:
    """Reads `a`, then `c` only when a != 0; `u` varies but is never read."""
    variables = {
        "a": pb.input_var(4, init_fn=lambda t: t % 4),
        "u": pb.input_var(4, init_fn=lambda t: t // 4),
        "c": pb.position_var(8),
        "b": pb.var(8),
        "d": pb.var(5),
    }

    def ffn(z: Any) -> None:
        if calls is not None:
            calls.append(1)
        if z["a"] == 0:
            z["b"] = 1
        elif z["c"] > 2:
            z["b"] = z["c"] - 2
            z["d"] = z["a"]
        else:
            z["d"] = 4

    return pb.program_spec(variables, {}, ffn, "b", input_range=16, position_range=8)


def _branchy_reference(tokens: list[int]) -> list[int]:
    return [1 if t % 4 == 0 else (i - 2 if i > 2 else 0) for i, t in enumerate(tokens)]


def _inputs(seed: int, n: int, high: int, length: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, size=rng.integers(1, length + 1)).tolist() for _ in range(n)]


def test_reads_that_depend_on_values_match_plain_python() -> None:
    program = _branchy()
    for inputs in (_inputs(0, 40, 16, 8), _inputs(1, 3, 16, 8), [[5, 0, 9, 3, 12, 7]]):
        assert alta.interpret(program, inputs, max_layers=1) == [
            _branchy_reference(x) for x in inputs
        ]
        assert_same_run(interp.run(program, inputs, 1), run_uncached(program, inputs, 1))


def test_the_function_runs_once_per_path_of_reads_not_per_state() -> None:
    calls: list[int] = []
    program = _branchy(calls)
    inputs = [[(t + c) % 16 for c in range(8)] for t in range(16)] * 4  # 128 states
    first = alta.interpret(program, inputs, max_layers=1)
    # Paths: a == 0 (one), or a in {1, 2, 3} and then each c in 0..7 (24): 25 at most.
    assert 0 < len(calls) <= 25
    calls.clear()
    assert alta.interpret(program, inputs, max_layers=1) == first
    assert [alta.interpret(program, x, max_layers=1) for x in inputs[:3]] == first[:3]
    assert calls == []  # every path was seen: no call at all


def _prefix_max() -> symbolic.Program:
    """Each layer, m := max(m, m one to the left); `left` is None at position 0, so the
    function reads it only after checking `first`."""
    variables = {
        "m": pb.input_var(10),
        "first": pb.position_var(2, init_fn=lambda p: int(p == 0)),
    }
    heads = {"left": pb.v_relative("m", -1)}

    def ffn(z: Any) -> None:
        if z["first"] == 0 and z["left"] > z["m"]:
            z["m"] = z["left"]

    return pb.program_spec(variables, heads, ffn, "m", input_range=10, position_range=12)


def test_a_guarded_read_of_a_head_output_matches_plain_python() -> None:
    program = _prefix_max()
    inputs = _inputs(2, 50, 10, 12)
    want = [[max(x[: i + 1]) for i in range(len(x))] for x in inputs]
    assert alta.interpret(program, inputs, max_layers=12) == want
    assert [alta.interpret(program, x, max_layers=12) for x in inputs[:4]] == want[:4]
    assert_same_run(interp.run(program, inputs, 12), run_uncached(program, inputs, 12))


def _numbers_and_sets() -> symbolic.Program:
    """Reads a small set, a number, a wide set (41 members) and a numerical head that is
    None unless the sequence holds a 7 (the function catches that read's error)."""
    variables: dict[str, symbolic.Var] = {
        "t": pb.input_var(8),
        "f": pb.numeric_var(input_init_fn=lambda t: t / 4, values=tuple(t / 4 for t in range(8))),
        "s": pb.set_var(range=5, input_init_fn=lambda t: frozenset(range(t % 5))),
        "w": pb.set_var(range=41, input_init_fn=lambda t: frozenset({t, t + 32})),
        "q": pb.var(8, default=7),
        "out": pb.var(16),
    }
    heads = {"avg": pb.qkv("q", "t", "f")}

    def ffn(z: Any) -> None:
        if z["t"] == 6:
            try:
                avg = z["avg"]
            except errors.UndefinedReadError:
                avg = None
            z["out"] = 13 if avg is None else 14
        elif 2 in z["s"]:
            z["out"] = len(z["s"]) + 8
        elif z["f"] > 1.0:
            z["out"] = round(z["f"] * 4)
        elif 33 in z["w"]:
            z["out"] = 15

    return pb.program_spec(variables, heads, ffn, "out", input_range=8)


def _numbers_and_sets_reference(tokens: list[int]) -> list[int]:
    def one(t: int) -> int:
        if t == 6:
            return 14 if 7 in tokens else 13
        if t % 5 >= 3:
            return t % 5 + 8
        return t if t > 4 else 15 if t == 1 else 0

    return [one(t) for t in tokens]


def test_numbers_sets_and_a_caught_undefined_read_match_plain_python() -> None:
    program = _numbers_and_sets()
    for inputs in (_inputs(3, 40, 8, 9), _inputs(4, 2, 8, 9), [[6, 1, 0], [6, 7, 5]]):
        want = [_numbers_and_sets_reference(x) for x in inputs]
        assert alta.interpret(program, inputs, max_layers=1) == want
        assert_same_run(interp.run(program, inputs, 1), run_uncached(program, inputs, 1))


def test_a_function_that_reads_nothing_or_reads_twice() -> None:
    def constant(z: Any) -> None:
        z["b"] = 3

    def twice(z: Any) -> None:
        if z["a"] > 1 and z["a"] != 3:
            z["b"] = z["a"]

    variables = {"a": pb.input_var(4), "b": pb.var(4)}
    inputs = _inputs(5, 20, 4, 6)
    for fn, want in ((constant, lambda t: 3), (twice, lambda t: t if t == 2 else 0)):
        program = pb.program_spec(variables, {}, fn, "b", input_range=4)
        for _ in range(2):
            got = alta.interpret(program, inputs, max_layers=1)
            assert got == [[want(t) for t in x] for x in inputs]


# --------------------------------------------------------------------------- errors


def _raising(kind: str) -> symbolic.Program:
    """b := a, except where a == 3: from c == 5 on, "raise" raises and "ill_typed"
    writes c + 3 (8 is outside b's range); "undefined" reads `left` wherever a == 3,
    which is None at position 0."""
    variables = {"a": pb.input_var(4), "c": pb.position_var(8), "b": pb.var(8)}
    heads = {"left": pb.v_relative("a", -1)}

    def ffn(z: Any) -> None:
        if kind == "undefined" and z["a"] == 3:
            z["b"] = z["left"]
        elif z["a"] == 3 and z["c"] >= 5:
            if kind == "raise":
                raise ValueError("boom")
            z["b"] = z["c"] + 3
        else:
            z["b"] = z["a"]

    return pb.program_spec(variables, heads, ffn, "b", input_range=4, position_range=8)


@pytest.mark.parametrize(
    ("kind", "error", "what"),
    [
        ("raise", errors.InterpreterError, "the MLP function raised ValueError: boom at"),
        ("ill_typed", errors.IllTypedWriteError, "the MLP function writes 'b' := 8 is outside"),
    ],
)
def test_a_raising_path_is_reported_on_every_run_with_its_position(
    kind: str, error: type[Exception], what: str
) -> None:
    program = _raising(kind)
    clean = [[3, 3, 3, 3, 3], [0, 1, 2, 3, 0, 1, 2, 0]] * 20  # no a == 3 at c >= 5
    assert alta.interpret(program, clean, max_layers=1) == clean
    bad = [*clean, [1] * 8, [0, 0, 0, 0, 0, 3, 3], [3] * 8]  # first at sequence 41, c = 5
    for batch in (bad, bad[40:]):
        for _ in range(2):  # a raising call is never cached
            with pytest.raises(error) as info:
                alta.interpret(program, batch, max_layers=1)
            msg = str(info.value)
            assert msg.startswith("layer 0: ") and what in msg
            assert f"sequence {len(batch) - 2}, position 5 (state {{a=3, c=5, b=0," in msg


def test_a_run_that_raised_leaves_a_cache_that_later_runs_can_use() -> None:
    """The calls before the raising one extended the tree (a number's codes too)."""

    def ffn(z: Any) -> None:
        if z["f"] > 1.6:
            raise ValueError("too big")
        z["b"] = round(z["f"] * 4)

    variables: dict[str, symbolic.Var] = {
        "t": pb.input_var(8),
        "f": pb.numeric_var(input_init_fn=lambda t: t / 4),
        "b": pb.var(8),
    }
    program = pb.program_spec(variables, {}, ffn, "b", input_range=8)
    with pytest.raises(errors.InterpreterError, match="too big"):
        alta.interpret(program, [[0, 1, 2, 3, 7]], max_layers=1)
    assert alta.interpret(program, [[3, 4, 5, 6, 2], [1]], max_layers=1) == [[3, 4, 5, 6, 2], [1]]


def test_an_undefined_read_names_the_variable_and_position() -> None:
    program = _raising("undefined")
    assert alta.interpret(program, [[0, 3, 3]], max_layers=1) == [[0, 0, 3]]
    inputs = [[1, 3, 2, 3]] * 10 + [[0, 1, 2, 3, 3]] + [[3] * 8]
    for batch in (inputs, inputs[-2:]):
        with pytest.raises(errors.UndefinedReadError) as info:
            alta.interpret(program, batch, max_layers=1)
        assert str(info.value).startswith(
            "layer 0: the MLP function read 'left', which is undefined (None) at sequence "
            f"{len(batch) - 1}, position 0 (state {{a=3, c=0, b=0,"
        )


def test_a_function_that_changes_its_reads_is_reported() -> None:
    flips = [False]

    def ffn(z: Any) -> None:
        if flips[0]:
            z["b"] = z["c"]
        else:
            z["b"] = z["a"]

    variables = {"a": pb.input_var(4), "c": pb.position_var(4), "b": pb.var(4)}
    program = pb.program_spec(variables, {}, ffn, "b", input_range=4, position_range=4)
    assert alta.interpret(program, [0, 1], max_layers=1) == [0, 1]
    flips[0] = True
    with pytest.raises(errors.InterpreterError, match="must be deterministic"):
        alta.interpret(program, [2, 3], max_layers=1)


# --------------------------------------------------------------------------- lifetime


def test_the_cache_lives_with_the_program_and_dies_with_it() -> None:
    program = _branchy()
    alta.interpret(program, [[1, 2, 3]], max_layers=1)
    tree = program.derived["read_tree"]
    alta.interpret(program, [[5, 6, 7, 8]], max_layers=1)
    assert program.derived["read_tree"] is tree
    other = _branchy()
    alta.interpret(other, [[1, 2, 3]], max_layers=1)
    assert other.derived["read_tree"] is not tree
    ref = weakref.ref(program)
    del program, tree
    gc.collect()
    assert ref() is None


def test_a_tree_past_its_bound_is_dropped_and_refilled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlp, "MAX_TREE_NODES", 6)
    program = _prefix_max()
    inputs = _inputs(6, 40, 10, 12)
    want = run_uncached(program, inputs, 12)
    assert_same_run(interp.run(program, inputs, 12), want)
    tree = program.derived["read_tree"]
    assert tree.size > 6
    assert_same_run(interp.run(program, inputs, 12), want)
    assert program.derived["read_tree"] is not tree
