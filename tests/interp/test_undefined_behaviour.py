"""Undefined behaviour (docs/semantics.md): accepted when built, reported when reached.

Each program here is written for this file and reproduces one idiom that programs from
outside the library use. Results are compared with plain-Python references, and compiled
models with the interpreter on every installed backend.
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import alta
from alta import errors
from alta import lang as pb
from alta.backends import base
from alta.ir import symbolic

BACKENDS = base.available()


@pytest.fixture(autouse=True)
def _quiet_compile_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", alta.CompileWarning)
        yield


def _compile_recording(program: Any, **kw: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = alta.compile(program, **kw)
    return model, [str(w.message) for w in caught if issubclass(w.category, alta.CompileWarning)]


def _all_backends_agree(program: Any, inputs: list[list[int]], max_layers: int) -> None:
    expected = alta.interpret(program, inputs, max_layers=max_layers)
    for backend in BACKENDS:
        model = alta.compile(program, backend=backend, max_layers=max_layers)
        assert model(inputs, allow_unhalted=True) == expected, backend


def _random_inputs(rng: np.random.Generator, n: int, low: int, high: int, length: int) -> list:
    return [rng.integers(low, high, size=rng.integers(1, length + 1)).tolist() for _ in range(n)]


# --------------------------------------------------------------------------- defaults


def _left_neighbour_program() -> Any:
    """`prev` is a set-valued query initialised from the position; {} is not among its
    values, so its default {} is never used."""
    n = 6
    values = [frozenset({max(p - 1, 0)}) for p in range(n)]
    variables: dict[str, symbolic.Var] = {
        "tok": pb.input_var(4),
        "pos": pb.position_var(n),
        "prev": pb.set_var(range=n, values=values, position_init_fn=lambda p: {max(p - 1, 0)}),
        "out": pb.var(4),
    }
    heads = {"left": pb.qkv("prev", "pos", "tok")}

    def ffn(z: Any) -> None:
        z["out"] = z["left"]

    return pb.program_spec(variables, heads, ffn, "out", input_range=4, position_range=n)


def test_unused_default_outside_values_is_accepted_and_runs() -> None:
    program = _left_neighbour_program()
    rng = np.random.default_rng(0)
    inputs = _random_inputs(rng, 40, 0, 4, 6)
    got = alta.interpret(program, inputs, max_layers=1)
    assert got == [[x[max(i - 1, 0)] for i in range(len(x))] for x in inputs]
    _all_backends_agree(program, inputs, max_layers=1)


def test_used_default_outside_values_is_an_error() -> None:
    variables: dict[str, symbolic.Var] = {
        "tok": pb.input_var(2),
        "s": pb.set_var(range=2, values=[frozenset({1})]),
    }
    with pytest.raises(errors.ProgramError, match="variable 's': default"):
        pb.program_spec(variables, {}, lambda z: None, "tok", input_range=2)


def test_reserved_variable_name_is_an_error() -> None:
    variables = {"tok": pb.input_var(2), "relative_qk": pb.var(1)}
    with pytest.raises(errors.ProgramError, match=r"'relative_qk'.*reserved"):
        pb.program_spec(variables, {"l": pb.v_relative("tok", -1)}, lambda z: None, "tok", 2)


# --------------------------------------------------------------------------- ill-typed writes


def _successor_program(position_range: int, as_rules: bool) -> Any:
    """`nxt := pos + 1`; pos has range 6, so pos == 5 writes 6, outside range(6). With
    position_range 5 no run reaches pos == 5; with 6, a run of length 6 does."""
    variables = {"tok": pb.input_var(2), "pos": pb.position_var(6), "nxt": pb.var(6)}
    if as_rules:
        mlp = pb.MLPBuilder(variables, {})
        for pos in mlp.get("pos"):
            mlp.set("nxt", pos + 1)
        return pb.program_spec_from_rules(
            variables, {}, mlp.rules, "nxt", 2, position_range=position_range
        )

    def ffn(z: Any) -> None:
        z["nxt"] = z["pos"] + 1

    return pb.program_spec(variables, {}, ffn, "nxt", 2, position_range=position_range)


@pytest.mark.parametrize("as_rules", [False, True])
def test_unreachable_ill_typed_write_compiles_with_a_warning(as_rules: bool) -> None:
    program = _successor_program(5, as_rules)
    inputs = [[0] * n for n in range(1, 6)]
    assert alta.interpret(program, inputs, max_layers=1) == [
        list(range(1, n + 1)) for n in range(1, 6)
    ]
    model, caught = _compile_recording(program, max_layers=1)
    # MLPBuilder enumerates every old value of `nxt` when the rule does not read it.
    assert len(caught) == 1 and f"dropped {6 if as_rules else 1} ill-typed write" in caught[0]
    assert "'nxt' := 6" in caught[0] and "may never reach" in caught[0]
    assert model(inputs) == alta.interpret(program, inputs, max_layers=1)
    _all_backends_agree(program, inputs, max_layers=1)
    with pytest.raises(errors.CompileError, match=r"strict=True.*'nxt' := 6"):
        alta.compile(program, max_layers=1, strict=True)


@pytest.mark.parametrize("as_rules", [False, True])
def test_reachable_ill_typed_write_raises_with_its_location(as_rules: bool) -> None:
    program = _successor_program(6, as_rules)
    assert alta.interpret(program, [[1, 0, 1]], max_layers=1) == [[1, 2, 3]]
    with pytest.raises(errors.IllTypedWriteError) as info:
        alta.interpret(program, [[0, 1], [1] * 6], max_layers=1)
    msg = str(info.value)
    assert "layer 0" in msg and "sequence 1, position 5" in msg and "outside range(6)" in msg
    assert ("rule #" in msg and "pos == 5" in msg) if as_rules else "pos=5" in msg


def test_ill_typed_write_in_a_later_layer_names_that_layer() -> None:
    variables = {"tok": pb.input_var(2), "m": pb.var(10)}

    def ffn(z: Any) -> None:
        z["m"] = z["m"] + 3 + z["tok"]

    program = pb.program_spec(variables, {}, ffn, "m", 2)
    with pytest.raises(
        errors.IllTypedWriteError, match=r"layer 2: .*'m' := 12.*sequence 1, position 1"
    ):
        alta.interpret(program, [[0, 0], [0, 1]], max_layers=5)


# --------------------------------------------------------------------------- raising paths


def _division_program() -> Any:
    variables = {"t": pb.input_var(4), "q": pb.var(13)}

    def ffn(z: Any) -> None:
        z["q"] = 12 // z["t"]

    return pb.program_spec(variables, {}, ffn, "q", input_range=4)


def test_reachable_raising_path_raises_in_the_interpreter() -> None:
    program = _division_program()
    assert alta.interpret(program, [3, 1, 2], max_layers=1) == [4, 12, 6]
    with pytest.raises(errors.InterpreterError) as info:
        alta.interpret(program, [[1], [2, 0]], max_layers=1)
    msg = str(info.value)
    assert "ZeroDivisionError" in msg and "layer 0" in msg and "sequence 1, position 1" in msg


def test_raising_path_is_dropped_with_a_warning_and_refused_when_strict() -> None:
    program = _division_program()
    model, caught = _compile_recording(program, max_layers=1)
    assert len(caught) == 1 and "1 raising path" in caught[0] and "t=0" in caught[0]
    inputs = [list(x) for x in itertools.product(range(1, 4), repeat=3)]
    assert model(inputs) == [[12 // t for t in x] for x in inputs]
    _all_backends_agree(program, inputs, max_layers=1)
    with pytest.raises(errors.CompileError, match="raising path"):
        alta.compile(program, max_layers=1, strict=True)


def test_pass_statistics_report_what_lowering_dropped() -> None:
    from alta import passes

    stats = passes.PassStatistics(stream=io.StringIO())
    alta.compile(_division_program(), max_layers=1, instrument=stats)
    assert "lower-symbolic-to-sparse: dropped 1 raising path(s)" in stats.lines


# --------------------------------------------------------------------------- rule conflicts


def _two_writers(left_heads: bool, overlap: bool) -> Any:
    """Rules `a == 1 -> y := 1` and `b == 1 -> y := 2` with flags a and b derived from the
    token (or from the left neighbour's token, through heads). They never hold together
    unless `overlap`, where b means token >= 1 and so holds wherever a does."""
    second: Callable[[int], bool] = (lambda t: t >= 1) if overlap else (lambda t: t == 2)
    variables: dict[str, Any] = {
        "tok": pb.input_var(3),
        "is1": pb.input_var(2, init_fn=lambda t: t == 1),
        "is2": pb.input_var(2, init_fn=second),
        "y": pb.var(3),
    }
    heads = {}
    a, b = "is1", "is2"
    if left_heads:
        heads = {"l1": pb.v_relative("is1", -1), "l2": pb.v_relative("is2", -1)}
        a, b = "l1", "l2"
    rules = [
        symbolic.Rule(((a, 1), ("y", 0)), "y", 0, 1),
        symbolic.Rule(((b, 1), ("y", 0)), "y", 0, 2),
    ]
    return pb.program_spec_from_rules(variables, heads, rules, "y", input_range=3)


def _conflict_reference(x: list[int], left: bool) -> list[int]:
    src = [None, *x[:-1]] if left else x
    return [{1: 1, 2: 2}.get(t, 0) if t is not None else 0 for t in src]  # type: ignore[call-overload]


def test_conflict_proven_impossible_gives_no_warning() -> None:
    program = _two_writers(left_heads=False, overlap=False)
    _, caught = _compile_recording(program, max_layers=1)
    assert caught == []  # the flags come from one token: never both 1
    inputs = [list(x) for x in itertools.product(range(3), repeat=3)]
    assert alta.interpret(program, inputs, max_layers=1) == [
        _conflict_reference(x, False) for x in inputs
    ]
    _all_backends_agree(program, inputs, max_layers=1)


def test_unprovable_conflict_that_never_fires_warns_and_agrees() -> None:
    program = _two_writers(left_heads=True, overlap=False)
    _, caught = _compile_recording(program, max_layers=1)
    assert len(caught) == 1 and "1 pair(s) of rules may fire together" in caught[0]
    assert "%l1 in {1}" in caught[0] and "%l2 in {1}" in caught[0]
    inputs = [list(x) for x in itertools.product(range(3), repeat=4)]
    assert alta.interpret(program, inputs, max_layers=1) == [
        _conflict_reference(x, True) for x in inputs
    ]
    _all_backends_agree(program, inputs, max_layers=1)
    with pytest.raises(errors.CompileError, match=r"strict=True.*may fire together"):
        alta.compile(program, max_layers=1, strict=True)


def test_conflict_that_fires_raises_in_the_interpreter() -> None:
    program = _two_writers(left_heads=False, overlap=True)
    _, caught = _compile_recording(program, max_layers=1)
    assert len(caught) == 1 and "may fire together" in caught[0]
    assert alta.interpret(program, [0, 2, 0], max_layers=1) == [0, 2, 0]
    with pytest.raises(errors.RuleConflictError) as info:
        alta.interpret(program, [[0], [2, 0, 1]], max_layers=1)
    msg = str(info.value)
    assert "rules #0" in msg and "#1" in msg and "sequence 1, position 2" in msg
    assert "layer 0" in msg and "'y'" in msg


# --------------------------------------------------------------------------- heads


def _pointer_chase() -> Any:
    """Three chained heads: h1 = ptr[ptr[i]], h2 = ptr[h1], h3 = ptr[h2]."""
    n = 6
    variables = {"ptr": pb.input_var(n), "pos": pb.position_var(n), "out": pb.var(n)}
    heads = {
        "h1": pb.qkv("ptr", "pos", "ptr"),
        "h2": pb.qkv("h1", "pos", "ptr"),
        "h3": pb.qkv("h2", "pos", "ptr"),
    }

    mlp = pb.MLPBuilder(variables, heads)
    for h3 in mlp.get("h3"):  # no rule fires where h3 is None: `out` keeps its default
        mlp.set("out", h3)
    return pb.program_spec_from_rules(
        variables, heads, mlp.rules, "out", input_range=n, position_range=n
    )


def _chase(x: list[int]) -> list[int | None]:
    def step(i: int | None) -> int | None:
        return x[i] if i is not None and i < len(x) else None

    out = []
    for i in range(len(x)):
        value: int | None = x[i]
        for _ in range(3):
            value = step(value)
        out.append(value)
    return out


def test_chain_of_three_heads_reads_in_declaration_order() -> None:
    program = _pointer_chase()
    rng = np.random.default_rng(3)
    inputs = _random_inputs(rng, 60, 0, 6, 6)
    got = alta.interpret(program, inputs, max_layers=1)
    assert got == [[_none_to_default(v) for v in _chase(x)] for x in inputs]
    _all_backends_agree(program, inputs, max_layers=1)


def _none_to_default(value: int | None) -> int:
    return 0 if value is None else value  # `out` keeps its default where h3 is None


def test_head_reading_a_later_head_is_an_error_naming_both() -> None:
    variables = {"ptr": pb.input_var(4), "pos": pb.position_var(4)}
    heads = {"early": pb.qkv("late", "pos", "ptr"), "late": pb.qkv("ptr", "pos", "ptr")}
    with pytest.raises(errors.ProgramError, match=r"'early'.*'late'.*declared after"):
        pb.program_spec(variables, heads, lambda z: None, "ptr", 4, position_range=4)


def _first_equal_program() -> Any:
    """`where` selects the positions holding my token: several when tokens repeat."""
    variables = {"tok": pb.input_var(3), "pos": pb.position_var(8), "out": pb.var(8, default=7)}
    heads = {"where": pb.qkv("tok", "tok", "pos")}
    mlp = pb.MLPBuilder(variables, heads)
    for where in mlp.get("where"):
        mlp.set("out", where)
    return pb.program_spec_from_rules(
        variables, heads, mlp.rules, "out", input_range=3, position_range=8
    )


def test_multi_match_categorical_head_gives_none_at_every_length() -> None:
    program = _first_equal_program()
    for n in range(1, 9):
        for x in itertools.islice(itertools.product(range(3), repeat=n), 200):
            want = []
            for t in x:
                hits = [j for j, u in enumerate(x) if u == t]
                want.append(hits[0] if len(hits) == 1 else None)
            got = alta.interpret(program, list(x), max_layers=1)
            assert got == [7 if w is None else w for w in want], x


def test_multi_match_is_reported_in_strict_mode() -> None:
    program = _first_equal_program()
    with pytest.raises(errors.UndefinedBehaviourError, match=r"head 'where'.*more than one"):
        alta.interpret(program, [1, 2, 1], max_layers=1, strict=True)


def test_sparse_interpreter_reports_a_firing_conflict_with_its_location() -> None:
    from alta.interp import sparse as sparse_interpreter
    from alta.passes import lower_symbolic_to_sparse

    module = lower_symbolic_to_sparse.lower(_two_writers(left_heads=False, overlap=True))
    assert sparse_interpreter.run(module, [[0, 2]], max_layers=1).outputs == [[0, 2]]
    with pytest.raises(errors.RuleConflictError) as info:
        sparse_interpreter.run(module, [[0], [2, 1]], max_layers=1)
    msg = str(info.value)
    assert "rules #0 and #1" in msg and "sequence 1, position 1" in msg and "'y'" in msg
