"""Binary codes, shared clearing and certified dtypes, on programs written for this test.

Each program is checked three ways: the interpreter against a plain-Python reference, and
every installed backend against the interpreter, with compact encodings and all one-hot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import alta
from alta import lang as pb
from alta import passes
from alta.backends import base
from alta.ir import dense, parser

N, HOPS = 40, 5


def pointer_walk() -> alta.ir.symbolic.Program:
    """Follow next-pointers HOPS times from position 0; every position ends up holding the
    last position reached. `ptr := hop` does not pin ptr's old value (shared clearing),
    and ptr, position and the tokens form one class of 40 values (a 6-bit code)."""

    def step(z: object) -> None:
        if z["steps"] < HOPS:  # type: ignore[index]
            z["ptr"] = z["hop"]  # type: ignore[index]
            z["steps"] = z["steps"] + 1  # type: ignore[index]

    variables = {
        "tok": pb.input_var(N),
        "pos": pb.position_var(N),
        "ptr": pb.var(N, default=0),
        "steps": pb.var(HOPS + 1, default=0),
    }
    heads = {"hop": pb.qkv("ptr", "pos", "tok")}
    return pb.program_spec(
        variables, heads, step, "ptr", N, N, pb.halt_spec("steps", HOPS), name="pointer_walk"
    )


def walk_reference(tokens: list[int]) -> list[int]:
    p = 0
    for _ in range(HOPS):
        p = tokens[p]
    return [p] * len(tokens)


def walk_inputs(n: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, N + 1, size=n)
    return [rng.integers(0, int(k), size=int(k)).tolist() for k in lengths]


def residue_counter() -> alta.ir.symbolic.Program:
    """An explicit rule table (MLPBuilder): a counter of 0..23 climbs one per layer and a
    flag tracks whether it is a multiple of 3 -- value sets that share no bits."""
    variables = {"tok": pb.input_var(2), "cnt": pb.var(24, default=0), "m3": pb.var(2)}
    mlp = pb.MLPBuilder(variables, {})
    for c in mlp.get("cnt"):
        mlp.set("cnt", min(c + 1, 23))
        mlp.set("m3", int((c + 1) % 3 == 0))
    return pb.program_spec_from_rules(
        variables, {}, mlp.rules, "m3", 2, halt=pb.halt_spec("cnt", STOP), name="residue"
    )


STOP = 21


def residue_reference(stop: int) -> int:
    """The program's loop in plain Python: both writes read the old counter."""
    cnt = m3 = 0
    while cnt != stop:
        cnt, m3 = min(cnt + 1, 23), int((cnt + 1) % 3 == 0)
    return m3


def test_pointer_walk_is_coded_smaller_and_exact_on_every_backend() -> None:
    program, inputs = pointer_walk(), walk_inputs(60)
    expected = alta.interpret(program, inputs)
    assert expected == [walk_reference(x) for x in inputs]
    compact = alta.compile(program)
    one_hot = alta.compile(program, pipeline=_one_hot_pipeline())
    coded = {s.var for s in compact.ir.layout if s.encoding == dense.BINARY}
    assert {"ptr", "tok", "hop"} <= coded
    assert compact.stats["d_model"] < one_hot.stats["d_model"] // 3
    assert sum(compact.stats["mlp_widths"]) < sum(one_hot.stats["mlp_widths"])
    assert one_hot(inputs) == expected
    for backend in base.available():
        assert alta.compile(program, backend=backend)(inputs) == expected, backend


def test_explicit_rules_with_scattered_value_sets() -> None:
    program = residue_counter()
    inputs = [[0] * k for k in range(1, 9)]
    expected = alta.interpret(program, inputs)
    assert expected == [[residue_reference(STOP)] * k for k in range(1, 9)]
    for pipeline in ("default", _one_hot_pipeline()):
        for backend in base.available():
            assert alta.compile(program, backend=backend, pipeline=pipeline)(inputs) == expected


def test_printed_ir3_shows_codes_and_skips_and_parses_back() -> None:
    module = alta.compile(pointer_walk()).ir
    text = str(module)
    assert "categorical binary [" in text
    assert "skip" in text  # shared clearing reads the rule layer's inputs
    again = parser.parse(text, dict(module.weights))
    assert str(again) == text


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_certified_dtypes_are_exact(dtype: str) -> None:
    program, inputs = pointer_walk(), walk_inputs(30, seed=1)
    model = alta.compile(program, dtype=dtype)
    certified = model.stats["certified_dtypes"]
    assert dtype in certified  # integer weights, 0/±1 inputs, no numbers: half is exact too
    assert model(inputs) == [walk_reference(x) for x in inputs]


def test_numbers_are_not_certified_in_half_precision() -> None:
    from alta.programs import get

    model = alta.compile(get("parity_sum_mod_2").build())
    assert model.stats["certified_dtypes"][:2] == ["float64", "float32"]
    assert "float16" not in model.stats["certified_dtypes"]


def _one_hot_pipeline() -> str:
    assert "choose-encodings," in passes.DEFAULT_PIPELINE
    return passes.DEFAULT_PIPELINE.replace("choose-encodings,", "")


@pytest.mark.parametrize(
    "name", ["addition_rules", "parity_sequential_relative_rules", "subleq_rules", "scan"]
)
def test_library_models_are_exact_in_their_certified_half_dtypes(name: str) -> None:
    """numpy computes float16 natively; a model certified for it must agree exactly."""
    from alta.programs import get

    case = get(name)
    program = case.build()
    inputs = case.generate(np.random.default_rng(3), 12)
    expected = alta.interpret(program, inputs, max_layers=case.max_layers)
    model = alta.compile(program, dtype="float16", max_layers=case.max_layers)
    assert "float16" in model.stats["certified_dtypes"]
    assert model(inputs, allow_unhalted=case.max_layers is not None) == expected


def test_ir2_codes_round_trip_and_inconsistent_codes_are_refused() -> None:
    from alta.errors import VerifyError

    golden = (Path(__file__).parent / "goldens" / "choose-encodings.alta").read_text()
    source = "\n".join(line for line in golden.splitlines() if not line.startswith("//"))
    choose = passes.lookup("choose-encodings")
    assert choose is not None
    coded = choose().run(parser.parse(source))
    assert dict(coded.codes) == {"tok": 4, "pos": 4, "ptr": 4, "hop": 4}
    assert parser.parse(str(coded)) == coded
    half = str(coded).replace("  encode %pos binary 4\n", "")
    with pytest.raises(VerifyError, match="joined variables share one code"):
        parser.parse(half)
    for code, message in (
        ("encode %flag binary 1", "at least 2"),
        ("encode %flag binary 0", "at least 2"),  # (0 would read as value-only)
        ("encode %tok binary 4", "'%tok' already has an 'encode' line"),
    ):
        bad = str(coded).replace("output %ptr", f"output %ptr\n  {code}")
        with pytest.raises(VerifyError, match=message):
            parser.parse(bad)
