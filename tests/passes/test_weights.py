"""Unit tests of the weight builders (lower-sparse-to-dense and its MLP builder).

Each test compiles a tiny program, then feeds hand-built residual vectors through the
compiled weights (`model.ir.weights`, `model.ir.loop`) in float32, as the backends run
them, and checks the result against what the weights are meant to compute.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import strategies

import alta
from alta import lang as pb
from alta.ir import dense, symbolic
from alta.passes import lower_sparse_to_dense as lsd

F32 = np.float32


# --------------------------------------------------------------------------- helpers


def _compile(program: symbolic.Program) -> dense.Module:
    """The lowerings alone: no optimisation pass prunes the dims these tests look at."""
    return alta.compile(program, backend="numpy", pipeline=strategies.LOWER_ONLY, max_layers=1).ir


def _w(ir: dense.Module, name: str) -> np.ndarray:
    return np.asarray(ir.weights[name], dtype=F32)


def _state(ir: dense.Module, values: Mapping[str, Any]) -> np.ndarray:
    """A residual vector holding `values` (a variable not named holds None: zeros)."""
    x = np.zeros(ir.d_model)
    for name, value in values.items():
        x += dense.encode(ir.slot(name), value, ir.d_model)
    return x.astype(F32)


def _decode(ir: dense.Module, x: np.ndarray, name: str) -> Any:
    slot = ir.slot(name)
    raw = dense.decode(slot, np.asarray(x, dtype=np.float64)[None])[0]
    if slot.kind == "numerical":
        return None if np.isnan(raw) else float(raw)
    return None if raw < 0 else int(raw)


def _mlp(ir: dense.Module, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """x + MLP(x) in float32, and the activations of every hidden layer (a layer's skips
    read the MLP input, source 0, or an earlier layer's output)."""
    outputs, hidden = [x], []
    for layer in ir.loop.mlp.layers:
        h = outputs[-1] @ _w(ir, layer.w) + _w(ir, layer.b)
        for source, skip in layer.skips:
            h = h + outputs[source] @ _w(ir, skip)
        if layer.act == dense.CLIPPED_RELU:
            h = np.clip(h, F32(0), F32(1))
            hidden.append(h)
        outputs.append(h)
    return x + outputs[-1], hidden


def _head(ir: dense.Module, name: str) -> dense.Head:
    return next(h for h in ir.loop.attention.heads if h.name == name)


def _attend(ir: dense.Module, name: str, xs: np.ndarray) -> np.ndarray:
    """One head over positions `xs` [n, d] (every position allowed), in float32: its
    contribution to the residual at every position, null slot included."""
    head = _head(ir, name)
    q = xs @ _w(ir, head.wq) + _w(ir, head.bq)
    k = xs @ _w(ir, head.wk) + _w(ir, head.bk)
    v = xs @ _w(ir, head.wv) + _w(ir, head.bv)
    logits = q @ k.T
    null = F32(head.null_logit)
    top = np.maximum(logits.max(axis=1, initial=-np.inf), null)
    weights = np.exp(logits - top[:, None])
    total = weights.sum(axis=1) + np.exp(null - top)
    return ((weights @ v) / total[:, None]) @ _w(ir, head.wo)


def _logit(ir: dense.Module, name: str, x_query: np.ndarray, x_key: np.ndarray) -> float:
    head = _head(ir, name)
    q = x_query @ _w(ir, head.wq) + _w(ir, head.bq)
    k = x_key @ _w(ir, head.wk) + _w(ir, head.bk)
    return float(q @ k)


def _copy_rules(
    variables: dict[str, symbolic.Var], heads: dict[str, pb.AttentionHead], pairs: Mapping[str, str]
) -> list[symbolic.Rule]:
    """Rules that copy each head output `h` into `dst` as index(value) + 1 (0 = None)."""
    mlp = pb.MLPBuilder(variables, heads)
    specs = pb.all_variables(variables, heads)
    for head, dst in pairs.items():
        for value in mlp.get(head):
            mlp.set(dst, specs[head].domain().index(value) + 1)
    return mlp.rules


# --------------------------------------------------------------------------- embedding


def test_embedding_rows_for_token_position_and_const_init() -> None:
    table, ptable = (2, 0, 1), (1, 1, 0, 2)
    variables = {
        "tok": pb.input_var(3, init_fn=lambda t: table[t]),
        "pos": pb.position_var(3, init_fn=lambda p: ptable[p]),
        "both": pb.input_var(3, init_fn=lambda t: table[t], position_init_fn=lambda p: 0),
        "const": pb.var(3, default=1),
        "num": pb.numeric_var(
            values=(-2.5, 0.5), default=-2.5, input_init_fn=lambda t: (-2.5, 0.5, 0.5)[t]
        ),
        "set": pb.set_var(
            range=3, values=(frozenset(), frozenset({0, 2})), default=frozenset({0, 2})
        ),
    }
    heads = {"h": pb.v_relative("tok", -1)}
    mlp = pb.MLPBuilder(variables, heads)
    for name in ("const", "num", "set"):  # written, so not folded away as constants
        for value in mlp.get("h"):
            mlp.set(name, variables[name].domain()[value % 2] if name != "const" else value)
    program = pb.program_spec_from_rules(
        variables, heads, mlp.rules, output_name="tok", input_range=3, position_range=4
    )
    ir = _compile(program)
    tokens, positions = _w(ir, "embed.tokens"), _w(ir, "embed.positions")
    assert tokens.shape == (3, ir.d_model) and positions.shape == (4, ir.d_model)
    for t in range(3):
        want = _state(
            ir,
            {
                "tok": table[t],
                "both": table[t],
                "const": 1,
                "num": (-2.5, 0.5, 0.5)[t],
                "set": frozenset({0, 2}),
                "relative_qk": 0,
            },
        )
        np.testing.assert_array_equal(tokens[t], want)
    for p in range(4):
        # Only position-initialised variables; `both` is token-initialised (input first).
        np.testing.assert_array_equal(positions[p], _state(ir, {"pos": ptable[p]}))
    # Head outputs start as None: zero in both tables.
    h = ir.slot("h")
    assert not tokens[:, h.start : h.stop].any() and not positions[:, h.start : h.stop].any()


def test_unwritten_constants_are_folded_but_still_read() -> None:
    variables = {"key": pb.var(2, default=1), "val": pb.input_var(2), "out": pb.var(3)}
    heads = {"h": pb.qkv("key", "key", "val", relative_position_mask={-1})}
    rules = _copy_rules(variables, heads, {"h": "out"})
    program = pb.program_spec_from_rules(variables, heads, rules, output_name="out", input_range=2)
    model = alta.compile(program, pipeline=strategies.LOWER_ONLY, max_layers=1)
    assert model.ir.slot("key").width == 0  # a constant: no residual dims
    # ... and the head still matches on it (through its biases).
    assert model([1, 0, 1]) == alta.interpret(program, [1, 0, 1], max_layers=1) == [0, 2, 1]


# --------------------------------------------------------------------------- attention


def _categorical_head_program() -> symbolic.Program:
    variables = {
        "q": pb.input_var(3),
        "k": pb.position_var(3, init_fn=lambda p: p % 3),
        "v": pb.input_var(3, init_fn=lambda t: (t + 1) % 3),
        "s": pb.set_var(
            range=3,
            values=(frozenset(), frozenset({0}), frozenset({1, 2})),
            input_init_fn=lambda t: (frozenset(), frozenset({0}), frozenset({1, 2}))[t],
        ),
        "out": pb.var(4),
        "out_s": pb.var(4),
    }
    heads = {"h": pb.qkv("q", "k", "v"), "hs": pb.qkv("s", "k", "v")}
    rules = _copy_rules(variables, heads, {"h": "out", "hs": "out_s"})
    return pb.program_spec_from_rules(
        variables, heads, rules, output_name="out", input_range=3, position_range=6
    )


def test_categorical_head_qk_scores_a_match_only() -> None:
    ir = _compile(_categorical_head_program())
    null = _head(ir, "h").null_logit
    for a, b in itertools.product(range(3), repeat=2):
        score = _logit(ir, "h", _state(ir, {"q": a}), _state(ir, {"k": b}))
        assert score == (lsd.MATCH_LOGIT if a == b else 0.0)
    assert 0.0 < null < lsd.MATCH_LOGIT
    # A None query or key (zeros) scores like a non-match: the null slot wins.
    assert _logit(ir, "h", _state(ir, {}), _state(ir, {"k": 1})) == 0.0
    assert _logit(ir, "h", _state(ir, {"q": 1}), _state(ir, {})) == 0.0


def test_set_query_head_scores_membership() -> None:
    ir = _compile(_categorical_head_program())
    for members, b in itertools.product((frozenset(), frozenset({0}), frozenset({1, 2})), range(3)):
        score = _logit(ir, "hs", _state(ir, {"s": members}), _state(ir, {"k": b}))
        assert score == (lsd.MATCH_LOGIT if b in members else 0.0)
    # Position 0 ({1, 2}) selects position 1 only; position 1 (the empty set) none.
    rows = [
        {"s": frozenset({1, 2}), "k": 0, "v": 0},
        {"s": frozenset(), "k": 1, "v": 2},
        {"s": frozenset({0}), "k": 0, "v": 1},
    ]
    update = _attend(ir, "hs", np.stack([_state(ir, r) for r in rows]))
    np.testing.assert_array_equal(update[0], _state(ir, {"hs": 2}))
    assert not update[1].any()


def test_categorical_head_copies_one_match_and_reads_no_match_as_zeros() -> None:
    ir = _compile(_categorical_head_program())
    out = ir.slot("h")
    # Positions: (q, k, v). Position 0 matches position 2 only; position 1 matches none.
    rows = [{"q": 2, "k": 0, "v": 1}, {"q": 1, "k": 0, "v": 0}, {"q": 0, "k": 2, "v": 2}]
    update = _attend(ir, "h", np.stack([_state(ir, r) for r in rows]))
    np.testing.assert_array_equal(update[0], _state(ir, {"h": 2}))  # exact one-hot copy
    assert not update[1].any()  # no match: exactly the zero vector (None)
    assert not update[:, : out.start].any() and not update[:, out.stop :].any()


def test_numerical_head_value_and_defined_flag() -> None:
    variables = {
        "k": pb.input_var(2),
        "n": pb.numeric_var(
            values=(-3.5, 0.25), default=0.25, input_init_fn=lambda t: (-3.5, 0.25)[t]
        ),
        "out": pb.var(2),
    }
    heads = {
        "h": pb.qkv(
            "k",
            "k",
            "n",
            relative_position_mask={-1, 1},
            output_spec=pb.numeric_var(values=(-3.5, -1.625, 0.25)),
        )
    }
    mlp = pb.MLPBuilder(variables, heads)
    for value in mlp.get("h"):
        mlp.set("out", int(value > 0))
    program = pb.program_spec_from_rules(
        variables, heads, mlp.rules, output_name="out", input_range=2
    )
    ir = _compile(program)
    slot = ir.slot("h")
    assert slot.values == ("value", "defined")
    # Every position allowed here (no mask): position 0 (key 0) selects positions 0 and
    # 1 and reads their mean; position 2 (key 1) selects itself.
    xs = np.stack(
        [
            _state(ir, {"k": 0, "n": -3.5}),
            _state(ir, {"k": 0, "n": 0.25}),
            _state(ir, {"k": 1, "n": 0.25}),
        ]
    )
    update = _attend(ir, "h", xs)  # every position allowed here: q == k matches
    np.testing.assert_allclose(update[0, slot.start], (-3.5 + 0.25) / 2, rtol=1e-6)
    assert update[0, slot.start + 1] == pytest.approx(1.0)
    np.testing.assert_allclose(update[2, slot.start], 0.25, rtol=1e-6)
    none = _attend(ir, "h", np.stack([_state(ir, {"n": 0.25})]))  # key None: no match
    assert not none.any()


# --------------------------------------------------------------------------- MLP


VALUES = (-3.5, -1.25, -1.246, -1.0, 0.0, 0.004, 0.25, 2.0)


@pytest.mark.parametrize("nullable", [False, True], ids=["plain", "head-output"])
def test_bucket_expansion_is_one_hot_on_every_value(nullable: bool) -> None:
    """Every value (below -1, around 0, and pairs closer than 1e-2) fires exactly its own
    bucket's rule and no other; None (a head output with nothing selected) fires none."""
    variables: dict[str, symbolic.Var] = {
        # Token-initialised, so every value is reachable (and n is no constant).
        "n": pb.numeric_var(values=VALUES, input_init_fn=lambda t: VALUES[t]),
        "out": pb.var(len(VALUES) + 1),
    }
    heads = {"h": pb.v_relative("n", -1)} if nullable else {}
    source = "h" if nullable else "n"
    mlp = pb.MLPBuilder(variables, heads)
    for value in mlp.get(source):
        mlp.set("out", VALUES.index(value) + 1)
    program = pb.program_spec_from_rules(
        variables, heads, mlp.rules, output_name="out", input_range=len(VALUES)
    )
    ir = _compile(program)
    for value in VALUES:
        x, hidden = _mlp(
            ir,
            _state(
                ir, {source: value, "out": 0, "n": 0.0} if nullable else {source: value, "out": 0}
            ),
        )
        assert _decode(ir, x, "out") == VALUES.index(value) + 1, value
        if nullable:
            assert _decode(ir, x, "h") is None  # and the head output is cleared
        else:  # (a head output's clear units are linear in it, so not 0/1)
            for h in hidden:
                assert set(np.unique(h)) <= {0.0, 1.0}, f"{value}: activations not binary"
    if nullable:
        x, hidden = _mlp(ir, _state(ir, {"n": 0.0, "out": 0}))
        assert _decode(ir, x, "out") == 0  # None matches no bucket


def test_clear_units_restore_head_outputs_to_zero() -> None:
    variables = {
        "c": pb.input_var(3),
        "n": pb.numeric_var(values=(-3.5, -0.5, 2.0), default=-0.5),
        "m": pb.numeric_var(values=(-2.0, -1.0), default=-1.0),
        "out": pb.var(2),
    }
    heads = {"hc": pb.v_relative("c", -1), "hn": pb.v_relative("n", 1), "hm": pb.v_relative("m", 1)}
    program = pb.program_spec(variables, heads, lambda z: None, output_name="out", input_range=3)
    ir = _compile(program)
    cases = [{"hc": v} for v in range(3)] + [{"hn": v} for v in (-3.5, -0.5, 2.0)]
    cases += [{"hm": v} for v in (-2.0, -1.0)] + [{"hc": 1, "hn": 2.0, "hm": -2.0}, {}]
    for heads_now in cases:
        before = {"c": 2, "n": -0.5, "m": -1.0, "out": 1}
        x, _ = _mlp(ir, _state(ir, {**before, **heads_now}))
        np.testing.assert_array_equal(x, _state(ir, before), err_msg=str(heads_now))


def test_rule_units_fire_exactly_when_every_atom_holds() -> None:
    """Rules with one, two and three atoms; every assignment of the variables they read
    gives exactly the writes of the rules whose atoms all hold."""
    sets = (frozenset(), frozenset({1}), frozenset({0, 1}))
    # Token-initialised over their whole ranges: every value is reachable, and none of
    # them is a constant (the compiler builds units for reachable values only).
    variables = {
        "a": pb.input_var(3, init_fn=lambda t: t % 3),
        "b": pb.input_var(2, init_fn=lambda t: t % 2),
        "s": pb.set_var(range=2, values=sets, input_init_fn=lambda t: sets[t % 3]),
        "x": pb.input_var(4),
        "y": pb.input_var(3, init_fn=lambda t: t % 3),
        "z": pb.input_var(2, init_fn=lambda t: t % 2),
    }
    mlp = pb.MLPBuilder(variables, {})
    for a in mlp.get("a"):  # one atom (plus x's own)
        if a == 2:
            mlp.set("x", 3)
    for a, b in mlp.get("a", "b"):  # two atoms (plus y's own)
        if (a + b) % 2:
            mlp.set("y", a)
    for a, b, s in mlp.get("a", "b", "s"):  # three atoms, one a set
        if a != 1 and b == 1 and 0 in s:
            mlp.set("z", 1)
    rules = mlp.rules
    program = pb.program_spec_from_rules(variables, {}, rules, output_name="x", input_range=4)
    ir = _compile(program)
    domains = {n: v.domain() for n, v in variables.items()}
    for combo in itertools.product(*domains.values()):
        state = dict(zip(domains, combo, strict=True))
        want = dict(state)
        for rule in rules:
            if all(state[n] == v for n, v in rule.lhs) and state[rule.var] == rule.old:
                want[rule.var] = rule.new
        x, hidden = _mlp(ir, _state(ir, state))
        for h in hidden:
            assert set(np.unique(h)) <= {0.0, 1.0}, state
        got = {n: _decode(ir, x, n) for n in ("a", "b", "x", "y", "z")}
        assert got == {n: want[n] for n in got}, state
        np.testing.assert_array_equal(x, _state(ir, want))
