"""Differential fuzzing: compiled models (numpy backend) against the interpreter.

A random valid program (tests/strategies.py) runs on random inputs in the interpreter's
strict mode. Inputs where strict mode reports undefined behaviour (a categorical head
selecting several positions, a None query, a numerical value off its declared values) or
where the MLP function reads an undefined variable are skipped: there the compiled
model may legitimately differ. Everywhere else the compiled model must agree exactly:
its outputs, and every variable after the embedding and after each layer (numbers up
to float32 rounding).

`make fuzz` (HYPOTHESIS_PROFILE=fuzz) runs thousands of examples; the default profile
runs a few hundred in well under two minutes.
"""

from __future__ import annotations

from typing import Any

import pytest
import strategies
from hypothesis import assume, event, given, note, settings
from hypothesis import strategies as st

import alta
from alta import errors
from alta.ir import symbolic

#: At least this many examples per run, whatever the profile says (fuzz asks for more).
MIN_EXAMPLES = 500
#: The default lowering with every IR2 optimisation pass in between.
OPTIMISED = (
    "lower-symbolic-to-sparse,canonicalize,minimize-rules,dce,prune-dims,lower-sparse-to-dense"
)
#: Compile errors for limitations the compiler documents; such programs are skipped.
UNSUPPORTED = ("too close for float32",)


def _examples() -> int:
    return max(MIN_EXAMPLES, settings().max_examples)


def _compile(program: symbolic.Program, max_layers: int, pipeline: str) -> Any:
    """Compile, or skip a program the compiler refuses for a documented reason."""
    try:
        return alta.compile(program, backend="numpy", pipeline=pipeline, max_layers=max_layers)
    except (errors.CompileError, errors.PassError) as exc:
        cause = exc.__cause__ if isinstance(exc, errors.PassError) else exc
        if isinstance(cause, errors.CompileError) and any(r in str(cause) for r in UNSUPPORTED):
            event("program skipped: unsupported")
            assume(False)
        raise


def _differential(data: st.DataObject, pipeline: str) -> None:
    generated = data.draw(strategies.generated_programs(), label="program")
    note(generated.source)
    program = generated.build()
    seqs = data.draw(st.lists(strategies.inputs(program), min_size=1, max_size=4), label="inputs")
    max_layers = data.draw(st.integers(1, 6), label="max_layers")
    kept, skipped = strategies.expected(program, seqs, max_layers)
    for why in skipped:
        event(f"input skipped: {why}")
    event(f"inputs kept: {len(kept)}/{len(seqs)}")
    assume(kept)
    model = _compile(program, max_layers, pipeline)
    strategies.assert_agrees(program, model, kept, max_layers)


@pytest.mark.fuzz
@settings(max_examples=_examples(), deadline=None)
@given(st.data())
def test_fuzz_compiled_matches_interpreter(data: st.DataObject) -> None:
    """The default pipeline."""
    _differential(data, "default")


@pytest.mark.fuzz
@settings(max_examples=_examples(), deadline=None)
@given(st.data())
def test_fuzz_optimised_pipeline_matches_interpreter(data: st.DataObject) -> None:
    """Every IR2 optimisation before lowering to dense weights."""
    _differential(data, OPTIMISED)
