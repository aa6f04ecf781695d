"""Differential fuzzing: compiled models (numpy backend) against the interpreter.

A random valid program (tests/strategies.py) runs on random inputs in the interpreter's
strict mode. Inputs where strict mode reports undefined behaviour (a categorical head
selecting several positions, a None query, a numerical value off its declared values) or
where the MLP function reads an undefined variable are skipped: there the compiled
model may legitimately differ. Everywhere else the compiled model must agree exactly:
its outputs, and every variable after the embedding and after each layer (numbers up
to float32 rounding).

The non-strict fuzzer (tests/strategies_ub.py) generates programs that may also have
undefined behaviour (multi-match heads, ill-typed writes, raising function paths, rule
conflicts, chained heads) and checks that only `AltaError`s escape, that the compiled model
agrees with the interpreter wherever strict mode reports nothing, and that every report
names what is at fault.

`make fuzz` (HYPOTHESIS_PROFILE=fuzz) runs thousands of examples; the default profile
runs a few hundred in well under two minutes.
"""

from __future__ import annotations

from typing import Any

import pytest
import strategies
import strategies_ub
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

import alta
from alta import errors
from alta.backends import base
from alta.ir import symbolic

#: At least this many examples per run, whatever the profile says (fuzz asks for more).
MIN_EXAMPLES = 500
#: Layers of the second, longer run of a program that halts.
LONG_RUN = 24
#: Compile errors for limitations the compiler documents; such programs are skipped.
UNSUPPORTED = ("too close for float32",)


#: The non-strict fuzzer: at least this many examples on numpy...
MIN_UB_EXAMPLES = 500
#: ... and this many on every installed backend (a tenth of the profile's, at least).
MIN_UB_BACKEND_EXAMPLES = 30


def _examples() -> int:
    return max(MIN_EXAMPLES, settings().max_examples)


def _ub_examples(minimum: int, share: int = 1) -> int:
    return max(minimum, settings().max_examples // share)


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
    if model.sparse_ir is not None and any(r.equals for r in model.sparse_ir.rules):
        event("rules test an equality (fold-equalities)")
    strategies.assert_agrees(program, model, kept, max_layers)
    if program.halt is not None:
        _run_long(program, model, [seq for seq, _ in kept])


def _run_long(program: symbolic.Program, model: Any, seqs: list[list[int]]) -> None:
    """Enough layers for most sequences to halt: each halts (and freezes) on its own."""
    kept, _ = strategies.expected(program, seqs, LONG_RUN)
    if kept:
        got = model([seq for seq, _ in kept], max_layers=LONG_RUN, allow_unhalted=True)
        for (seq, want), out in zip(kept, got, strict=True):
            assert strategies.outputs_agree(program, out, want), (
                f"input {seq}, {LONG_RUN} layers: compiled {out} != interpreter {want}"
            )


@pytest.mark.fuzz
@settings(max_examples=_examples(), deadline=None)
@given(st.data())
def test_fuzz_compiled_matches_interpreter(data: st.DataObject) -> None:
    """The default pipeline (with its optimisation passes)."""
    _differential(data, "default")


@pytest.mark.fuzz
@settings(max_examples=_examples(), deadline=None)
@given(st.data())
def test_fuzz_lowering_only_matches_interpreter(data: st.DataObject) -> None:
    """The lowerings alone, so every rule and variable reaches the weight builders."""
    _differential(data, strategies.LOWER_ONLY)


# --------------------------------------------------------------------------- non-strict


def _non_strict(data: st.DataObject, backends: list[str]) -> None:
    generated = data.draw(strategies_ub.generated_programs(), label="program")
    note(generated.source)
    program, exc = strategies_ub.alta_only("building the program", generated.build)
    assert exc is None, f"the generator writes programs that build: {exc}"
    assert program is not None
    count = data.draw(st.sampled_from((1, 2, 3, 4)), label="batch size")
    inputs = st.lists(strategies.inputs(program), min_size=count, max_size=count)
    seqs = data.draw(inputs, label="inputs")
    layers = [1, 2, 3, 4, 5, 6, 0] + ([LONG_RUN] if program.halt is not None else [])
    max_layers = data.draw(st.sampled_from(layers), label="max_layers")
    pipeline = data.draw(st.sampled_from(("default", strategies.LOWER_ONLY)), label="pipeline")
    outcome = strategies_ub.check(program, seqs, max_layers, pipeline, backends)
    event(f"inputs kept: {outcome.kept}/{len(seqs)}")
    for feature in strategies_ub.features(program):
        event(f"program: {feature}" + (", inputs kept" if outcome.kept else ""))
    for why in sorted(set(outcome.strict_errors)):
        event(f"strict interpreter: {why}")
    if outcome.compile_error:
        event(f"compile refused: {outcome.compile_error.split(':')[0][:60]}")
    kinds = ("ill-typed write", "raising path", "may fire together")
    for kind in kinds:
        if kind in (outcome.strict_compile_error or ""):
            event(f"strict=True refuses: {kind}")


_UB_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@pytest.mark.fuzz
@settings(max_examples=_ub_examples(MIN_UB_EXAMPLES), **_UB_SETTINGS)
@given(st.data())
def test_fuzz_non_strict_numpy(data: st.DataObject) -> None:
    """Programs with undefined behaviour: only AltaErrors, reports that name the fault, and
    the numpy model equals the interpreter wherever strict mode reports nothing."""
    _non_strict(data, ["numpy"])


@pytest.mark.fuzz
@settings(max_examples=_ub_examples(MIN_UB_BACKEND_EXAMPLES, share=10), **_UB_SETTINGS)
@given(st.data())
def test_fuzz_non_strict_every_backend(data: st.DataObject) -> None:
    """The same on every installed backend (fewer examples: jax compiles each model)."""
    _non_strict(data, base.available())
