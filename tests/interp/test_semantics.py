"""The reference semantics of docs/semantics.md, one rule at a time.

Each test builds a tiny program by hand (or takes the library's prefix parity,
`parity_sequential_relative`: token 2 starts, each layer passes the parity one position
on), and its expected outputs are worked out by hand from the semantics (the comments
show the working), never by running the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import alta
from alta import errors, interp
from alta import lang as pb
from alta.ir import symbolic
from alta.programs import parity

# --------------------------------------------------------------------------- helpers


def _capture_rules(
    variables: dict[str, symbolic.Var], heads: dict[str, pb.AttentionHead], pairs: dict[str, str]
) -> list[symbolic.Rule]:
    """Rules that copy each categorical head `h` into `dst` as h + 1 (0 means None)."""
    mlp = pb.MLPBuilder(variables, heads)
    for head, dst in pairs.items():
        for value in mlp.get(head):
            mlp.set(dst, value + 1)
    return mlp.rules


def _captured(
    variables: Mapping[str, symbolic.Var],
    heads: dict[str, pb.AttentionHead],
    inputs: list[Any],
    *,
    input_range: int,
    position_range: int | None = None,
    max_layers: int = 1,
) -> dict[str, list[Any]]:
    """Run with rules that capture every categorical head; return {head: seen values}."""
    variables = dict(variables)
    pairs: dict[str, str] = {}
    for out, head in heads.items():
        pairs[out] = f"{out}_seen"
        variables[pairs[out]] = pb.var(_range_of(variables, head) + 1, default=0)
    rules = _capture_rules(variables, heads, pairs)
    found = {}
    for out, dst in pairs.items():
        program = pb.program_spec_from_rules(
            variables, heads, rules, dst, input_range, position_range=position_range
        )
        seen = alta.interpret(program, inputs, max_layers=max_layers)
        found[out] = _uncapture(seen)
    return found


def _uncapture(seen: list[Any]) -> list[Any]:
    """Undo the h + 1 encoding of `_capture_rules`, for one sequence or a batch."""
    return [_uncapture(s) if isinstance(s, list) else (None if s == 0 else s - 1) for s in seen]


def _range_of(variables: Mapping[str, symbolic.Var], head: pb.AttentionHead) -> int:
    spec = head.output_spec or variables[head.value]
    assert isinstance(spec, symbolic.CategoricalVar)
    return spec.range


def _copy_fn(pairs: dict[str, str]) -> Callable[[Any], None]:
    """An MLP function that copies each head output into a variable (reads must be defined)."""

    def ffn(z: Any) -> None:
        for src, dst in pairs.items():
            z[dst] = z[src]

    return ffn


def _noop(z: Any) -> None:
    del z


# --------------------------------------------------------------------------- categorical heads


def _lookup_head_parts() -> tuple[dict, dict]:
    # The key is the token, the query the position, the value the position:
    # h at i = the single j with token_j == i, else None.
    variables: dict[str, symbolic.Var] = {
        "k": pb.input_var(4),
        "q": pb.position_var(4),
        "v": pb.position_var(4),
    }
    return variables, {"h": pb.qkv("q", "k", "v")}


def test_categorical_head_one_zero_and_many_matches() -> None:
    variables, heads = _lookup_head_parts()
    # tokens [1, 1, 0, 3]: i=0 -> j=2; i=1 -> j=0,1 (two: None); i=2 -> none; i=3 -> j=3.
    out = _captured(variables, heads, [1, 1, 0, 3], input_range=4, position_range=4)
    assert out["h"] == [2, None, None, 3]


def test_categorical_head_all_none() -> None:
    variables, heads = _lookup_head_parts()
    # tokens [3, 3, 3]: query 0, 1, 2 never match; query... i=3 does not exist.
    out = _captured(variables, heads, [3, 3, 3], input_range=4, position_range=4)
    assert out["h"] == [None, None, None]


# --------------------------------------------------------------------------- relative heads


def _relative_parts() -> tuple[dict, dict]:
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(5)}
    heads = {
        "left": pb.v_relative("x", -1),
        "right": pb.v_relative("x", 1),
        "left2": pb.v_relative("x", -2),
        "both": pb.qkv("relative_qk", "relative_qk", "x", relative_position_mask={-1, 1}),
        "self": pb.qkv("relative_qk", "relative_qk", "x", relative_position_mask={0}),
    }
    return variables, heads


def test_relative_heads_at_sequence_edges() -> None:
    variables, heads = _relative_parts()
    out = _captured(variables, heads, [4, 2, 3], input_range=5)
    assert out["left"] == [None, 4, 2]  # nothing left of position 0
    assert out["right"] == [2, 3, None]  # nothing right of the last position
    assert out["left2"] == [None, None, 4]
    assert out["both"] == [2, None, 2]  # two neighbours in the middle: None
    assert out["self"] == [4, 2, 3]


def test_relative_heads_on_one_position() -> None:
    variables, heads = _relative_parts()
    out = _captured(variables, heads, [3], input_range=5)
    assert out == {"left": [None], "right": [None], "left2": [None], "both": [None], "self": [3]}


def test_relative_heads_do_not_see_padding() -> None:
    # In a ragged batch, the shorter sequence's right edge is its own last position.
    variables, heads = _relative_parts()
    out = _captured(variables, heads, [[1, 2], [4, 3, 0]], input_range=5)
    assert out["right"] == [[2, None], [3, 0, None]]
    assert out["both"] == [[2, 1], [3, None, 3]]


def test_content_query_with_relative_mask() -> None:
    # Key = token, query constant 1, mask {-1, -2}: the single token-1 position among the
    # two to the left, else None.  tokens [1, 0, 1, 1, 0]:
    # i=0: none; i=1: j=0 (1) -> 0; i=2: j=0,1 -> j=0 -> 0; i=3: j=1,2 -> j=2 -> 2;
    # i=4: j=2,3 both 1 -> None.
    variables: dict[str, symbolic.Var] = {
        "k": pb.input_var(2),
        "q": pb.var(2, default=1),
        "p": pb.position_var(5),
    }
    heads = {"h": pb.qkv("q", "k", "p", relative_position_mask={-1, -2})}
    out = _captured(variables, heads, [1, 0, 1, 1, 0], input_range=2, position_range=5)
    assert out["h"] == [None, 0, 0, 2, None]


# --------------------------------------------------------------------------- numerical heads


def _mean_program(mask: frozenset[int] = frozenset()) -> symbolic.Program:
    # value = 2 ** token; the head averages it over the positions whose key matches.
    variables: dict[str, symbolic.Var] = {
        "k": pb.input_var(2, init_fn=lambda t: int(t > 0)),
        "q": pb.var(2, default=1),
        "v": pb.numeric_var(input_init_fn=lambda t: float(2**t)),
        "out": pb.numeric_var(default=-1.0),
    }
    heads = {"mean": pb.qkv("q", "k", "v", relative_position_mask=mask)}
    return pb.program_spec(variables, heads, _copy_fn({"mean": "out"}), "out", input_range=3)


def test_numerical_head_mean_of_matches() -> None:
    # tokens [1, 0, 2, 1]: keys [1, 0, 1, 1]; values [2, 1, 4, 2]; mean of {2, 4, 2} = 8/3.
    out = alta.interpret(_mean_program(), [1, 0, 2, 1], max_layers=1)
    assert out == pytest.approx([8 / 3] * 4)


def test_numerical_head_mean_with_relative_mask() -> None:
    # Every key matches (query 1, keys 1 for tokens > 0); mask {-1, 0}: own and left value.
    # tokens [1, 2, 2, 1]: values [2, 4, 4, 2] -> [2, 3, 4, 3].
    out = alta.interpret(_mean_program(frozenset({-1, 0})), [1, 2, 2, 1], max_layers=1)
    assert out == pytest.approx([2.0, 3.0, 4.0, 3.0])


def test_numerical_head_mean_single_match_is_exact() -> None:
    # One matching position (token 2, value 4) -> exactly 4.0 everywhere.
    out = alta.interpret(_mean_program(), [0, 2, 0], max_layers=1)
    assert out == [4.0, 4.0, 4.0]


def _numerical_none_program() -> symbolic.Program:
    # seen := 1 when the mean head falls in any bucket; None matches no bucket.
    variables: dict[str, symbolic.Var] = {
        "k": pb.input_var(2),
        "q": pb.var(2, default=1),
        "v": pb.numeric_var(),
    }
    spec = pb.numeric_var(values=[0, 1])
    heads = {"mean": pb.qkv("q", "k", "v", output_spec=spec)}
    variables["seen"] = pb.var(2)
    mlp = pb.MLPBuilder(variables, heads)
    for _ in mlp.get("mean"):
        mlp.set("seen", 1)
    return pb.program_spec_from_rules(variables, heads, mlp.rules, "seen", input_range=2)


def test_numerical_head_none_without_matches() -> None:
    program = _numerical_none_program()
    assert alta.interpret(program, [0, 0], max_layers=1) == [0, 0]  # no key 1: None
    assert alta.interpret(program, [0, 1], max_layers=1) == [1, 1]  # one key 1: defined


# --------------------------------------------------------------------------- buckets

#: values (-5, -3, 0, 2) have bucket edges -4, -1.5 and 1; a tie goes to the lower bucket.
_BUCKET_VALUES = (-5.0, -3.0, 0.0, 2.0)
_BUCKET_CASES = [
    (-100.0, 0),
    (-6.0, 0),
    (-5.0, 0),
    (-4.0, 0),  # on the edge: lower bucket
    (-3.9, 1),
    (-3.0, 1),
    (-1.5, 1),  # on the edge: lower bucket
    (-1.4, 2),
    (-0.5, 2),
    (0.0, 2),
    (1.0, 2),  # on the edge: lower bucket
    (1.01, 3),
    (2.0, 3),
    (100.0, 3),
]


def _bucket_program() -> symbolic.Program:
    # x (token -> float) is copied by a mask-{0} head into h, whose spec has the buckets;
    # rules then write h's bucket index into b (4 = no bucket matched).
    table = [x for x, _ in _BUCKET_CASES]
    variables: dict[str, symbolic.Var] = {
        "x": pb.numeric_var(input_init_fn=lambda t: table[t]),
        "b": pb.var(5, default=4),
    }
    spec = pb.numeric_var(values=_BUCKET_VALUES)
    heads = {"h": pb.qkv("relative_qk", "relative_qk", "x", {0}, output_spec=spec)}
    mlp = pb.MLPBuilder(variables, heads)
    for value in mlp.get("h"):
        mlp.set("b", _BUCKET_VALUES.index(value))
    return pb.program_spec_from_rules(variables, heads, mlp.rules, "b", input_range=len(table))


def test_numerical_bucket_edges() -> None:
    program = _bucket_program()
    tokens = list(range(len(_BUCKET_CASES)))
    assert alta.interpret(program, tokens, max_layers=1) == [b for _, b in _BUCKET_CASES]


@pytest.mark.parametrize(("x", "bucket"), _BUCKET_CASES)
def test_bucket_index_function(x: float, bucket: int) -> None:
    assert symbolic.bucket_index(_BUCKET_VALUES, x) == bucket


def test_bucket_edges_are_midpoints() -> None:
    assert symbolic.bucket_edges(_BUCKET_VALUES) == (-4.0, -1.5, 1.0)


def test_numerical_variable_read_by_rules() -> None:
    # A numerical variable (not a head) sitting on its values matches its own bucket.
    variables: dict[str, symbolic.Var] = {
        "n": pb.numeric_var(values=[-2, 0.5], default=-2, input_init_fn=lambda t: [-2.0, 0.5][t]),
        "b": pb.var(3, default=2),
    }
    mlp = pb.MLPBuilder(variables, {})
    for n in mlp.get("n"):
        mlp.set("b", 0 if n < 0 else 1)
    program = pb.program_spec_from_rules(variables, {}, mlp.rules, "b", input_range=2)
    assert alta.interpret(program, [1, 0, 0], max_layers=1) == [1, 0, 0]


# --------------------------------------------------------------------------- set queries

_SETS = [frozenset(), frozenset({1}), frozenset({0, 2}), frozenset({3})]


def _set_parts() -> tuple[dict, dict]:
    # Query = a set chosen by the token, key = the position: j is selected when j in Q_i.
    variables: dict[str, symbolic.Var] = {
        "q": pb.set_var(range=4, values=_SETS, input_init_fn=lambda t: _SETS[t]),
        "k": pb.position_var(4),
        "v": pb.position_var(4, init_fn=lambda p: 3 - p),
        "w": pb.numeric_var(position_init_fn=lambda p: 10.0 * p),
    }
    heads = {"cat": pb.qkv("q", "k", "v")}
    return variables, heads


def test_set_query_categorical() -> None:
    # tokens [2, 1, 0] (length 3): Q = {0,2} -> two matches: None; {1} -> v_1 = 2;
    # {} -> None.  tokens [3, 1]: {3} -> position 3 does not exist: None; {1} -> v_1 = 2.
    variables, heads = _set_parts()
    out = _captured(variables, heads, [[2, 1, 0], [3, 1]], input_range=4, position_range=4)
    assert out["cat"] == [[None, 2, None], [None, 2]]


def test_set_query_numerical_mean() -> None:
    # tokens [2, 1, 2]: Q = {0,2} -> mean(w_0, w_2) = (0 + 20) / 2 = 10; {1} -> w_1 = 10.
    variables, _ = _set_parts()
    variables["out"] = pb.numeric_var(default=-1.0)
    heads = {"mean": pb.qkv("q", "k", "w")}
    program = pb.program_spec(
        variables, heads, _copy_fn({"mean": "out"}), "out", input_range=4, position_range=4
    )
    assert alta.interpret(program, [2, 1, 2], max_layers=1) == pytest.approx([10.0, 10.0, 10.0])


# --------------------------------------------------------------------------- None keys, queries


def test_none_key_never_matches() -> None:
    # key None for token 0; query 0 everywhere would match a key 0, but None is not 0.
    # tokens [0, 2, 0]: keys [None, 2, None], query 2 matches only j=1 -> v_1 = 1.
    variables: dict[str, symbolic.Var] = {
        "k": pb.input_var(3, init_fn=lambda t: None if t == 0 else t),
        "q2": pb.var(3, default=2),
        "p": pb.position_var(3),
    }
    heads = {"h": pb.qkv("q2", "k", "p")}
    out = _captured(variables, heads, [0, 2, 0], input_range=3, position_range=3)
    assert out["h"] == [1, 1, 1]


def test_none_query_does_not_match_none_key() -> None:
    variables: dict[str, symbolic.Var] = {
        "q": pb.var(3, default=None),
        "k": pb.var(3, default=None),
        "x": pb.input_var(3),
    }
    heads = {"h": pb.qkv("q", "k", "x")}
    out = _captured(variables, heads, [1, 2], input_range=3)
    assert out["h"] == [None, None]


# --------------------------------------------------------------------------- strict mode


def test_strict_multiple_matches_raises() -> None:
    variables, heads = _lookup_head_parts()
    program = pb.program_spec(variables, heads, _noop, "k", 4, position_range=4)
    with pytest.raises(errors.UndefinedBehaviourError, match="'h'"):
        alta.interpret(program, [1, 1, 0], max_layers=1, strict=True)
    # one match or none is well defined, also in strict mode
    assert alta.interpret(program, [1, 0, 3], max_layers=1, strict=True) == [1, 0, 3]


def test_strict_none_query_raises() -> None:
    variables: dict[str, symbolic.Var] = {
        "q": pb.var(3, default=None),
        "k": pb.input_var(3),
        "x": pb.input_var(3),
    }
    heads = {"h": pb.qkv("q", "k", "x")}
    program = pb.program_spec(variables, heads, _noop, "x", 3)
    with pytest.raises(errors.UndefinedBehaviourError, match="'q'"):
        alta.interpret(program, [1, 2], max_layers=1, strict=True)


def test_non_strict_none_query_gives_none() -> None:
    variables: dict[str, symbolic.Var] = {
        "q": pb.var(3, default=None),
        "k": pb.input_var(3),
        "x": pb.input_var(3),
    }
    heads = {"h": pb.qkv("q", "k", "x")}
    out = _captured(variables, heads, [1, 2, 0], input_range=3)
    assert out["h"] == [None, None, None]


def test_strict_relative_edges_are_defined() -> None:
    # No match at a sequence edge is well defined: strict mode must accept it.
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(3)}
    heads = {"left": pb.v_relative("x", -1)}
    program = pb.program_spec(variables, heads, _noop, "x", 3)
    assert alta.interpret(program, [1, 2], max_layers=2, strict=True) == [1, 2]


# --------------------------------------------------------------------------- MLP


def _swap_parts() -> dict[str, symbolic.Var]:
    return {"a": pb.input_var(3), "b": pb.input_var(3, init_fn=lambda t: (t + 1) % 3)}


def _swap_function(z: Any) -> None:
    z["a"], z["b"] = z["b"], z["a"]


def _swap_rules() -> list[symbolic.Rule]:
    mlp = pb.MLPBuilder(_swap_parts(), {})
    for a, b in mlp.get("a", "b"):
        mlp.set("a", b)
        mlp.set("b", a)
    return mlp.rules


@pytest.mark.parametrize("form", ["function", "rules"])
def test_simultaneous_updates_swap(form: str) -> None:
    # a = token, b = token + 1 (mod 3). One layer swaps them; reads see the pre-MLP state.
    if form == "function":
        program = pb.program_spec(_swap_parts(), {}, _swap_function, "a", 3)
    else:
        program = pb.program_spec_from_rules(_swap_parts(), {}, _swap_rules(), "a", 3)
    tokens = [0, 1, 2]
    assert alta.interpret(program, tokens, max_layers=1) == [1, 2, 0]
    assert alta.interpret(program, tokens, max_layers=2) == [0, 1, 2]
    result = interp.run(program, [tokens], max_layers=1)
    assert result.state["b"][0].tolist() == [0, 1, 2]


def test_rules_fire_all_at_once_on_pre_mlp_state() -> None:
    # Rule chain a:0->1 and (a==1) b:0->1. Both read the pre-MLP state, so after one layer
    # only a has changed; b follows one layer later.
    variables: dict[str, symbolic.Var] = {"a": pb.var(2), "b": pb.var(2)}
    rules = [
        symbolic.Rule((("a", 0),), "a", 0, 1),
        symbolic.Rule((("a", 1), ("b", 0)), "b", 0, 1),
    ]
    for layers, expected in [(1, [0]), (2, [1])]:
        program = pb.program_spec_from_rules(variables, {}, rules, "b", 1)
        assert alta.interpret(program, [0], max_layers=layers) == expected


def test_rule_conflict_only_when_both_fire() -> None:
    # Rules #0 (x==1) and #1 (x==2) both write y but never at one position.
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(3), "y": pb.var(3)}
    rules = [
        symbolic.Rule((("x", 1), ("y", 0)), "y", 0, 1),
        symbolic.Rule((("x", 2), ("y", 0)), "y", 0, 2),
    ]
    program = pb.program_spec_from_rules(variables, {}, rules, "y", 3)
    assert alta.interpret(program, [0, 1, 2], max_layers=1) == [0, 1, 2]


def test_rule_conflict_raises() -> None:
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(3), "y": pb.var(3)}
    rules = [
        symbolic.Rule((("y", 0),), "y", 0, 1),
        symbolic.Rule((("x", 2), ("y", 0)), "y", 0, 2),
    ]
    program = pb.program_spec_from_rules(variables, {}, rules, "y", 3)
    assert alta.interpret(program, [0, 1], max_layers=1) == [1, 1]
    with pytest.raises(errors.RuleConflictError, match="'y'") as info:
        alta.interpret(program, [0, 2], max_layers=1)
    assert "#0" in str(info.value) and "#1" in str(info.value)


def test_rules_writing_different_variables_both_apply() -> None:
    variables: dict[str, symbolic.Var] = {"a": pb.var(2), "b": pb.var(2)}
    rules = [symbolic.Rule((("a", 0),), "a", 0, 1), symbolic.Rule((("a", 0),), "b", 0, 1)]
    program = pb.program_spec_from_rules(variables, {}, rules, "b", 1)
    result = interp.run(program, [[0, 0]], max_layers=1)
    assert result.state["a"][0].tolist() == [1, 1]
    assert result.state["b"][0].tolist() == [1, 1]


def test_rule_fires_only_when_its_variable_holds_old() -> None:
    # x == 1 -> y: 0 -> 2. Where y already holds 1 the rule does not fire.
    variables: dict[str, symbolic.Var] = {
        "x": pb.input_var(2),
        "y": pb.input_var(3, init_fn=lambda t: 1 - t),
    }
    rules = [symbolic.Rule((("x", 1),), "y", 0, 2)]
    program = pb.program_spec_from_rules(variables, {}, rules, "y", 2)
    # tokens [1, 0]: y = [0, 1]; position 0 has x == 1 and y == 0 -> 2; position 1 has x == 0.
    assert alta.interpret(program, [1, 0], max_layers=1) == [2, 1]
    flipped = {"x": pb.input_var(2, init_fn=lambda t: 1), "y": variables["y"]}
    program = pb.program_spec_from_rules(flipped, {}, rules, "y", 2)
    # x == 1 everywhere, y = [0, 1]: only position 0 holds the old value.
    assert alta.interpret(program, [1, 0], max_layers=1) == [2, 1]


def test_rule_can_reset_to_none() -> None:
    variables: dict[str, symbolic.Var] = {"a": pb.var(2, default=1)}
    program = pb.program_spec_from_rules(
        variables, {}, [symbolic.Rule((("a", 1),), "a", 1, None)], "a", 1
    )
    assert alta.interpret(program, [0, 0], max_layers=1) == [None, None]


# --------------------------------------------------------------------------- head outputs live one layer


def test_head_output_lives_one_layer() -> None:
    # left is defined during layer 1 (its copy proves it) and None after it.
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(4), "y": pb.var(4)}
    heads = {"left": pb.v_relative("x", -1)}

    def ffn(z: Any) -> None:
        if z["x"] != 0:  # the first token is 0, so position 0 never reads `left`
            z["y"] = z["left"]

    program = pb.program_spec(variables, heads, ffn, "y", 4)
    assert alta.interpret(program, [0, 3, 2], max_layers=1) == [0, 0, 3]
    as_output = pb.program_spec(variables, heads, ffn, "left", 4)
    assert alta.interpret(as_output, [0, 3, 2], max_layers=0) == [None, None, None]
    assert alta.interpret(as_output, [0, 3, 2], max_layers=1) == [None, None, None]
    result = interp.run(program, [[0, 3, 2]], max_layers=2)
    assert result.state["left"][0].tolist() == [-1, -1, -1]


def test_head_output_starts_none_whatever_the_output_spec_default() -> None:
    spec = pb.var(4, default=2)
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(4)}
    heads = {"h": pb.qkv("relative_qk", "relative_qk", "x", {0}, output_spec=spec)}
    program = pb.program_spec(variables, heads, _noop, "h", 4)
    assert alta.interpret(program, [1, 2], max_layers=0) == [None, None]


# --------------------------------------------------------------------------- halting


def _countdown_program(with_halt: bool = True) -> symbolic.Program:
    # Each layer: c += 1 (up to 5); done := (c + 1 >= t) on the pre-MLP c. A sequence
    # halts after max(tokens) layers (at least one), with c = that count if frozen.
    variables: dict[str, symbolic.Var] = {"t": pb.input_var(5), "c": pb.var(6), "done": pb.var(2)}

    def ffn(z: Any) -> None:
        c = z["c"]
        if c < 5:
            z["c"] = c + 1
        z["done"] = int(c + 1 >= z["t"])

    halt = pb.halt_spec("done") if with_halt else None
    return pb.program_spec(variables, {}, ffn, "c", input_range=5, halt=halt)


def test_per_sequence_halting_in_a_batch() -> None:
    program = _countdown_program()
    batch = [[1], [3, 1], [2], [0, 4, 2]]
    result = interp.run(program, batch)
    assert result.layers.tolist() == [1, 3, 2, 4]
    # frozen after halting: c would keep counting if the halted sequence ran on
    assert result.outputs == [[1], [3, 3], [2], [4, 4, 4]]
    assert alta.interpret(program, batch) == [[1], [3, 3], [2], [4, 4, 4]]


def test_halting_matches_running_alone() -> None:
    program = _countdown_program()
    batch = [[1], [3, 1], [2]]
    assert alta.interpret(program, batch) == [alta.interpret(program, s) for s in batch]


def test_halting_before_max_layers() -> None:
    program = _countdown_program()
    # max_layers=2 caps the [3, 1] sequence; the others halt on their own.
    result = interp.run(program, [[1], [3, 1], [2]], max_layers=2)
    assert result.layers.tolist() == [1, 2, 2]
    assert result.outputs == [[1], [2, 2], [2]]


def test_halting_is_checked_after_a_layer() -> None:
    # done starts at 1 everywhere, yet one layer runs before the halt test.
    variables: dict[str, symbolic.Var] = {"c": pb.var(3), "done": pb.var(2, default=1)}

    def ffn(z: Any) -> None:
        z["c"] = 1

    program = pb.program_spec(variables, {}, ffn, "c", 1, halt=pb.halt_spec("done"))
    assert alta.interpret(program, [0, 0]) == [1, 1]


def test_halt_value_other_than_one() -> None:
    variables: dict[str, symbolic.Var] = {"s": pb.var(4)}

    def ffn(z: Any) -> None:
        z["s"] = min(z["s"] + 1, 3)

    program = pb.program_spec(variables, {}, ffn, "s", 1, halt=pb.halt_spec("s", 2))
    result = interp.run(program, [[0, 0]])
    assert result.layers.tolist() == [2]
    assert result.outputs == [[2, 2]]


# --------------------------------------------------------------------------- max_layers


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_max_layers_runs_exactly_n_layers(n: int) -> None:
    # The counter adds one per layer: after N layers it is N (the paper's code gives N+1).
    program = _countdown_program(with_halt=False)
    assert alta.interpret(program, [4, 4], max_layers=n) == [n, n]
    assert interp.run(program, [[4, 4]], max_layers=n).layers.tolist() == [n]


def test_max_layers_zero_gives_the_initial_state() -> None:
    program = pb.program_spec(_swap_parts(), {}, _swap_function, "b", 3)
    assert alta.interpret(program, [0, 1, 2], max_layers=0) == [1, 2, 0]


def test_max_layers_zero_with_a_halt_spec() -> None:
    # parity's initial state: 0 at the start token, else the bit itself.
    result = interp.run(parity.build_sequential_relative(), [[2, 1, 0, 1]], max_layers=0)
    assert result.layers.tolist() == [0]
    assert result.outputs == [[0, 1, 0, 1]]


# --------------------------------------------------------------------------- initial state


def test_input_init_before_position_init() -> None:
    both = symbolic.CategoricalVar(
        range=5, default=0, input_init_fn=lambda t: t + 2, position_init_fn=lambda p: p
    )
    variables: dict[str, symbolic.Var] = {
        "both": both,
        "kw": pb.input_var(5, position_init_fn=lambda p: 4),
        "num": pb.numeric_var(input_init_fn=lambda t: -1.0, position_init_fn=lambda p: 9.0),
    }
    for name, expected in [("both", [3, 2, 4]), ("kw", [1, 0, 2]), ("num", [-1.0] * 3)]:
        program = pb.program_spec(variables, {}, _noop, name, 3, position_range=3)
        assert alta.interpret(program, [1, 0, 2], max_layers=0) == expected


def test_position_init_and_default() -> None:
    variables: dict[str, symbolic.Var] = {
        "p": pb.position_var(4, init_fn=lambda p: 3 - p),
        "d": pb.var(4, default=2),
    }
    for name, expected in [("p", [3, 2, 1]), ("d", [2, 2, 2])]:
        program = pb.program_spec(variables, {}, _noop, name, 1, position_range=4)
        assert alta.interpret(program, [0, 0, 0], max_layers=0) == expected


def test_set_and_numerical_initial_values() -> None:
    variables: dict[str, symbolic.Var] = {
        "s": pb.set_var(range=3, input_init_fn=lambda t: {t, 2}),
        "n": pb.numeric_var(default=0.25),
    }
    program = pb.program_spec(variables, {}, _noop, "s", 2)
    assert alta.interpret(program, [0, 1], max_layers=0) == [frozenset({0, 2}), frozenset({1, 2})]
    program = pb.program_spec(variables, {}, _noop, "n", 2)
    assert alta.interpret(program, [0, 1], max_layers=0) == [0.25, 0.25]


# --------------------------------------------------------------------------- call forms


def test_single_and_batch_call_forms() -> None:
    program = parity.build_sequential_relative()
    # prefix parities, worked out by hand
    assert alta.interpret(program, [2, 1, 0, 1]) == [0, 1, 1, 0]
    assert alta.interpret(program, [2, 1, 1]) == [0, 1, 0]
    assert alta.interpret(program, [[2, 1, 0, 1], [2, 1, 1]]) == [[0, 1, 1, 0], [0, 1, 0]]
    assert alta.interpret(program, [[2, 1, 1]]) == [[0, 1, 0]]
    assert alta.interpret(program, ((2, 1), (2, 0, 1))) == [[0, 1], [0, 0, 1]]
    one: Any = np.array([2, 0, 1])
    two: Any = np.array([[2, 1], [2, 0]])
    assert alta.interpret(program, one) == [0, 0, 1]
    assert alta.interpret(program, two) == [[0, 1], [0, 0]]


def test_parity_halts_per_sequence() -> None:
    # done spreads one position per layer: a length-n sequence halts after n-1 layers
    # (and at least one layer runs).
    result = interp.run(
        parity.build_sequential_relative(), [[2], [2, 1], [2, 1, 0], [2, 1, 0, 1, 1]]
    )
    assert result.layers.tolist() == [1, 1, 2, 4]
    assert result.outputs == [[0], [0, 1], [0, 1, 1], [0, 1, 1, 0, 1]]


def test_empty_sequence_with_rules() -> None:
    program = pb.program_spec_from_rules(_swap_parts(), {}, _swap_rules(), "a", 3, halt=None)
    assert alta.interpret(program, [], max_layers=2) == []
    assert alta.interpret(program, [[], [0, 1]], max_layers=1) == [[], [1, 2]]


def test_empty_sequence_with_function() -> None:
    program = pb.program_spec(_swap_parts(), {}, _swap_function, "a", 3)
    assert alta.interpret(program, [], max_layers=2) == []
    assert alta.interpret(program, [[], [0, 1]], max_layers=1) == [[], [1, 2]]


def test_empty_sequence_with_heads() -> None:
    # An empty sequence has every position (none) halted, so it stops after one layer.
    program = parity.build_sequential_relative()
    assert alta.interpret(program, []) == []
    assert alta.interpret(program, [[]]) == [[]]


def test_empty_sequence_in_a_batch_with_heads() -> None:
    program = parity.build_sequential_relative()
    assert alta.interpret(program, [[], [2, 1]]) == [[], [0, 1]]
    result = interp.run(program, [[], [2, 1, 0]])
    assert result.layers.tolist() == [1, 2]


# --------------------------------------------------------------------------- properties

_bits = st.lists(st.integers(0, 1), max_size=12)


def _prefix_parity(bits: list[int]) -> list[int]:
    out, acc = [0], 0
    for b in bits:
        acc ^= b
        out.append(acc)
    return out


@pytest.mark.fuzz
@given(st.lists(_bits, min_size=1, max_size=5))
def test_fuzz_parity_batch_matches_reference(batch: list[list[int]]) -> None:
    program = parity.build_sequential_relative()
    result = interp.run(program, [[2, *bits] for bits in batch])
    assert result.outputs == [_prefix_parity(bits) for bits in batch]
    assert result.layers.tolist() == [max(len(bits), 1) for bits in batch]


@pytest.mark.fuzz
@given(
    # (an all-empty batch is test_empty_sequence_with_heads)
    st.lists(st.lists(st.integers(0, 4), max_size=6), min_size=1, max_size=4).filter(any),
    st.integers(-3, 3),
)
def test_fuzz_relative_head_reads_neighbour_or_none(batch: list[list[int]], k: int) -> None:
    variables: dict[str, symbolic.Var] = {"x": pb.input_var(5)}
    heads = {"h": pb.v_relative("x", k)}
    out = _captured(variables, heads, batch, input_range=5)["h"]
    expected = [[s[i + k] if 0 <= i + k < len(s) else None for i in range(len(s))] for s in batch]
    assert out == expected


_grid = st.integers(-80, 80).map(lambda i: i / 4)


@pytest.mark.fuzz
@given(st.lists(st.integers(-20, 20), min_size=1, max_size=6, unique=True), _grid)
def test_fuzz_bucket_is_nearest_value_ties_low(ints: list[int], x: float) -> None:
    values = tuple(float(v) for v in sorted(ints))
    distances = [abs(x - v) for v in values]
    assert symbolic.bucket_index(values, x) == distances.index(min(distances))


@pytest.mark.fuzz
@given(st.lists(st.lists(st.integers(0, 4), max_size=4), min_size=1, max_size=5))
def test_fuzz_countdown_halts_per_sequence(batch: list[list[int]]) -> None:
    # Halts after max(1, max tokens) layers; c counts the layers it ran.
    result = interp.run(_countdown_program(), batch)
    layers = [max([1, *s]) for s in batch]
    assert result.layers.tolist() == layers
    assert result.outputs == [[n] * len(s) for n, s in zip(layers, batch, strict=True)]
