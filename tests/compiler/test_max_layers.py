"""One route for a model's layer budget: IR3's `loop.max_layers`, written by the lowering
to IR3. `alta.compile(max_layers=N)` is that lowering's option, `CompiledModel.max_layers`
reads it back, and a call's own `max_layers` still overrides it."""

from __future__ import annotations

import io
from typing import ClassVar

import attrs
import cli_program
import pytest

import alta
from alta import passes
from alta.backends import base as backends
from alta.errors import CompileError, InterpreterError
from alta.ir import dense, sparse
from alta.model import CompiledModel
from alta.passes import lower_sparse_to_dense

LOWER = "lower-symbolic-to-sparse,lower-sparse-to-dense"
UNHALTED = [2, 1, 0, 1, 1, 0, 1]  # parity needs about one layer per token to halt


def test_compile_max_layers_is_the_lowering_option() -> None:
    dumps = io.StringIO()
    model = alta.compile(
        cli_program.build(),
        max_layers=5,
        instrument=passes.PrintIR(after=["lower-sparse-to-dense"], stream=dumps),
    )
    assert model.ir.loop.max_layers == 5 == model.max_layers
    # The lowering wrote it (nothing patches IR3 after the pipeline) ...
    assert "IR Dump After lower-sparse-to-dense{max-layers=5}" in dumps.getvalue()
    assert "max_layers = 5" in dumps.getvalue()
    # ... exactly as the option written in the pipeline does.
    same = alta.compile(cli_program.build(), pipeline=LOWER + "{max-layers=5}")
    assert same.ir.loop == alta.compile(cli_program.build(), pipeline=LOWER, max_layers=5).ir.loop
    assert same.max_layers == 5


def test_compile_max_layers_overrides_the_pipeline_and_none_keeps_it() -> None:
    text = LOWER + "{max-layers=7}"
    assert alta.compile(cli_program.build(), pipeline=text).max_layers == 7
    assert alta.compile(cli_program.build(), pipeline=text, max_layers=3).max_layers == 3
    assert alta.compile(cli_program.build()).max_layers is None


def test_the_model_budget_is_the_irs_and_a_call_overrides_it() -> None:
    model = alta.compile(cli_program.build(), max_layers=2)
    with pytest.raises(InterpreterError, match=r"within max_layers=2 \(given to alta.compile\)"):
        model(UNHALTED)
    assert model(UNHALTED, max_layers=20) == alta.interpret(cli_program.build(), UNHALTED, 20)
    with pytest.raises(AttributeError):
        model.max_layers = 9  # type: ignore[misc]  # read-only: set it in the IR
    longer = attrs.evolve(model.ir, loop=attrs.evolve(model.ir.loop, max_layers=20))
    again = CompiledModel(longer, "numpy", backends.get("numpy").build(longer), {})
    assert again.max_layers == 20
    assert again(UNHALTED) == alta.interpret(cli_program.build(), UNHALTED, 20)


def test_compiled_model_takes_max_layers_only_when_it_agrees_with_the_ir() -> None:
    module = alta.compile(cli_program.build(), max_layers=4).ir
    executor = backends.get("numpy").build(module)
    assert CompiledModel(module, "numpy", executor, {}, max_layers=4).max_layers == 4
    with pytest.raises(ValueError, match=r"max_layers=6 differs from the IR's loop\.max_layers=4"):
        CompiledModel(module, "numpy", executor, {}, max_layers=6)


@attrs.frozen
class FixedLoweringPass(passes.Pass):
    """A user's lowering to IR3 that has no max-layers option."""

    name: ClassVar[str] = "test-fixed-lowering"
    input_level: ClassVar[str] = "sparse"
    output_level: ClassVar[str] = "dense"

    def run(self, module: sparse.Module) -> dense.Module:
        return lower_sparse_to_dense.lower(module)


def test_max_layers_needs_a_lowering_that_takes_it() -> None:
    text = "lower-symbolic-to-sparse,test-fixed-lowering"
    with passes.registered(FixedLoweringPass):
        assert alta.compile(cli_program.build(), pipeline=text).max_layers is None
        with pytest.raises(CompileError, match=r"no lowering to alta\.dense with a max-layers"):
            alta.compile(cli_program.build(), pipeline=text, max_layers=3)
