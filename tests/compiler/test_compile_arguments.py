"""`alta.compile` refuses arguments of the wrong type by name, and drops non-finite
numerical writes as the ill-typed writes they are (docs/semantics.md)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import alta
from alta import errors
from alta import lang as pb
from alta.backends import base
from alta.ir import symbolic

INF = float("inf")


def _copy() -> symbolic.Program:
    return pb.program_spec({"a": pb.input_var(3)}, {}, lambda z: None, "a", 3)


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"pipeline": None}, errors.PipelineError, r"pipeline must be a pipeline string"),
        ({"pipeline": 3}, errors.PipelineError, r"pipeline must be a pipeline string .*, got 3$"),
        ({"instrument": 5}, errors.PipelineError, r"instrument must be an alta Instrumentation"),
        ({"instrument": [5]}, errors.PipelineError, r"instrument must be .* got \[5\]"),
        ({"strict": "yes"}, errors.CompileError, r"strict must be True or False, got 'yes'"),
        ({"strict": 1}, errors.CompileError, r"strict must be True or False, got 1"),
        ({"max_layers": 2**63}, errors.InputError, r"max_layers must be at most 2\*\*63 - 1"),
    ],
    ids=[
        "pipeline-None",
        "pipeline-3",
        "instrument-5",
        "instrument-[5]",
        "strict-yes",
        "strict-1",
        "max_layers-2**63",
    ],
)
def test_bad_arguments_are_named(kw: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        alta.compile(_copy(), **kw)


@pytest.mark.parametrize("backend", base.available())
def test_a_pipeline_max_layers_past_int64_is_refused(backend: str) -> None:
    """The pipeline option bypasses `alta.compile(max_layers=...)`: numpy and onnx crashed
    with a bare OverflowError. The IR3 verifier refuses it, after the lowering."""
    pipeline = f"lower-symbolic-to-sparse,lower-sparse-to-dense{{max-layers={2**64}}}"
    with pytest.raises(errors.PassError, match=r"max_layers must be in \[0, 2\*\*63 - 1\]"):
        alta.compile(_copy(), backend=backend, pipeline=pipeline)


@pytest.mark.parametrize("backend", base.available())
def test_max_layers_at_the_int64_limit_runs(backend: str) -> None:
    model = alta.compile(_copy(), backend=backend, max_layers=2**63 - 1)
    assert model([0, 1]) == [0, 1]  # a fixed point ends the run at once
    with pytest.raises(errors.InputError, match=r"max_layers must be at most"):
        model([0, 1], max_layers=2**63)


def test_a_function_writing_inf_is_dropped_with_a_warning() -> None:
    """The model used to return None where the interpreter returned inf, with no warning
    even under strict=True."""

    def ffn(z: Any) -> None:
        if z["a"] == 1:
            z["n"] = INF

    program = pb.program_spec({"a": pb.input_var(3), "n": pb.numeric_var()}, {}, ffn, "n", 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = alta.compile(program, max_layers=1)
    messages = [str(w.message) for w in caught if issubclass(w.category, alta.CompileWarning)]
    assert any("ill-typed" in m and "inf is not a finite float" in m for m in messages)
    assert model([0, 2]) == alta.interpret(program, [0, 2], max_layers=1) == [0.0, 0.0]
    with pytest.raises(errors.CompileError, match=r"strict=True: .*inf is not a finite float"):
        alta.compile(program, max_layers=1, strict=True)
