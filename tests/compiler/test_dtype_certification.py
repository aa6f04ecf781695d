"""A model built in a dtype it is not certified exact in says so (docs/encodings.md,
"Precision"): a CompileWarning, or a CompileError under strict=True; never silence."""

from __future__ import annotations

import warnings

import pytest

import alta
from alta import lang as pb
from alta.errors import CompileError, CompileWarning

pytestmark = pytest.mark.filterwarnings("error::alta.errors.CompileWarning")


def share_of_large() -> alta.Program:
    """Each position gets the class of the share of tokens >= 2: a numerical head (an
    average), so no half dtype is certified."""
    shares = tuple(sorted({i / n for n in range(1, 9) for i in range(n + 1)}))
    variables = {
        "one": pb.var(2, default=1),
        "large": pb.numeric_var(input_init_fn=lambda t: float(t >= 2), values=(0, 1)),
        "cls": pb.var(3),
    }
    heads = {"share": pb.qkv("one", "one", "large", output_spec=pb.numeric_var(values=shares))}

    def ffn(z):
        z["cls"] = 0 if z["share"] < 0.25 else (1 if z["share"] < 0.75 else 2)

    return pb.program_spec(
        variables, heads, ffn, output_name="cls", input_range=4, position_range=8
    )


def plus_first() -> alta.Program:
    """Each position adds the first token to its own, mod 3: categorical only."""
    variables = {
        "tok": pb.input_var(3),
        "zero": pb.var(8, default=0),
        "pos": pb.position_var(8),
        "out": pb.var(3),
    }
    heads = {"first": pb.qkv("zero", "pos", "tok")}

    def ffn(z):
        z["out"] = (z["tok"] + z["first"]) % 3

    return pb.program_spec(
        variables, heads, ffn, output_name="out", input_range=3, position_range=8
    )


def test_uncertified_dtype_warns_and_strict_refuses() -> None:
    program = share_of_large()
    inputs = [[0, 2, 3], [1], [3, 3, 0, 1, 2, 2, 0, 1]]
    with pytest.warns(CompileWarning, match=r"float16.*not certified exact"):
        model = alta.compile(program, max_layers=1, dtype="float16")
    assert "float16" not in model.stats["certified_dtypes"]
    with pytest.raises(CompileError, match=r"strict=True: .*float16"):
        alta.compile(program, max_layers=1, dtype="float16", strict=True)
    exact = alta.compile(program, max_layers=1)  # float32: certified, no warning
    assert exact(inputs) == alta.interpret(program, inputs, max_layers=1)


def test_certified_half_dtype_is_quiet() -> None:
    program = plus_first()
    model = alta.compile(program, max_layers=1, dtype="float16")
    assert "float16" in model.stats["certified_dtypes"]
    inputs = [[0, 1, 2, 1], [2], [1, 1, 0, 2, 2, 1, 0, 1]]
    expected = [[(t + x[0]) % 3 for t in x] for x in inputs]
    assert alta.interpret(program, inputs, max_layers=1) == expected
    assert model(inputs) == expected


def test_load_in_uncertified_dtype_warns(tmp_path) -> None:
    path = tmp_path / "share.alta"
    alta.compile(share_of_large(), max_layers=1).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        alta.load(path)  # float32: certified
    with pytest.warns(CompileWarning, match="float16"):
        alta.load(path, dtype="float16")
