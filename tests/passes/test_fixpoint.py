"""`fixpoint(...)` in pipeline text: parsing, printing, errors, running, instruments."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import ClassVar

import attrs
import cli_program
import pytest

from alta import passes
from alta.errors import PassError, PipelineError, VerifyError
from alta.ir import sparse


@attrs.frozen
class BangPass(passes.Pass):
    """Appends '!' to the module's name until it ends with `n` of them."""

    name: ClassVar[str] = "test-fixpoint-bang"
    level: ClassVar[str] = "sparse"
    n: int = 2

    def run(self, module: sparse.Module) -> sparse.Module:
        if module.name.endswith("!" * self.n):
            return module
        return attrs.evolve(module, name=module.name + "!")


@attrs.frozen
class AlwaysNewPass(passes.Pass):
    """Never converges: returns a new object every time."""

    name: ClassVar[str] = "test-fixpoint-always-new"
    level: ClassVar[str] = "sparse"

    def run(self, module: sparse.Module) -> sparse.Module:
        return attrs.evolve(module)


@attrs.frozen
class BreakPass(passes.Pass):
    """Breaks IR2 on purpose: a rule that writes a head output."""

    name: ClassVar[str] = "test-fixpoint-break"
    level: ClassVar[str] = "sparse"

    def run(self, module: sparse.Module) -> sparse.Module:
        bad = sparse.Rule(atoms=(), var="parity_left", new=1)
        return attrs.evolve(module, rules=(*module.rules, bad))


@pytest.fixture(autouse=True)
def _test_passes() -> Iterator[None]:
    """The test passes exist for one test at a time; the registry is left as it was."""
    with passes.registered(BangPass, AlwaysNewPass, BreakPass):
        yield


def _fault(text: str, start_level: str | None = None) -> tuple[str, int]:
    with pytest.raises(PipelineError) as info:
        passes.parse(text, start_level)
    message, shown, marks = str(info.value).rsplit("\n", 2)
    assert shown == "  " + text
    return message, marks.index("^") - 2


@pytest.mark.parametrize(
    "text",
    [
        "fixpoint(dce)",
        passes.DEFAULT_PIPELINE,
        "lower-symbolic-to-sparse,fixpoint{max-rounds=3}(minimize-rules{max-layers=4},dce),"
        "lower-sparse-to-dense,fixpoint(prune-mlp-units)",
        "fixpoint(canonicalize,fixpoint{max-rounds=2}(dce,prune-values))",
    ],
)
def test_fixpoint_round_trips(text: str) -> None:
    parsed = passes.parse(text)
    assert passes.print_pipeline(parsed) == text
    assert passes.parse(passes.print_pipeline(parsed)) == parsed
    assert str(passes.PassManager(parsed)) == text


def test_whitespace_around_the_parentheses() -> None:
    parsed = passes.parse(" fixpoint {max-rounds=4} ( dce ,\n canonicalize ) , dce")
    assert passes.print_pipeline(parsed) == "fixpoint{max-rounds=4}(dce,canonicalize),dce"


def test_the_default_pipeline_uses_fixpoint() -> None:
    assert "fixpoint(minimize-rules,prune-values)" in passes.DEFAULT_PIPELINE
    assert passes.DEFAULT_PIPELINE.count("minimize-rules") == 1


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("fixpoint(dce", 8, "the '(' of 'fixpoint' is never closed"),
        ("dce,fixpoint(dce,canonicalize", 12, "the '(' of 'fixpoint' is never closed"),
        ("fixpoint()", 9, "fixpoint() is empty: it needs at least one pass"),
        ("fixpoint( )", 10, "fixpoint() is empty"),
        ("fixpoint", 8, "expected '(' after 'fixpoint'"),
        ("fixpoint{max-rounds=2},dce", 22, "expected '(' after 'fixpoint'"),
        ("dce(canonicalize)", 3, "only fixpoint(...) takes passes in parentheses"),
        ("dce)", 3, "')' without a matching '('"),
        ("fixpoint(dce) dce", 14, "expected ',' between passes"),
        ("fixpoint(dce,,dce)", 13, "expected a pass name before ','"),
        ("fixpoint(dce canonicalize)", 13, "expected ',' between passes"),
    ],
)
def test_syntax_errors_have_a_caret(text: str, column: int, message: str) -> None:
    got, at = _fault(text)
    assert got.startswith("pipeline syntax error: ")
    assert message in got
    assert at == column


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (
            "fixpoint(dce,lower-sparse-to-dense)",
            13,
            "'lower-sparse-to-dense' takes alta.sparse and returns alta.dense, but the passes "
            "in fixpoint(...) must each take and return the same IR level",
        ),
        (
            "fixpoint(fixpoint(lower-symbolic-to-sparse))",
            18,
            "'lower-symbolic-to-sparse' takes alta.symbolic and returns alta.sparse",
        ),
        (
            "lower-symbolic-to-sparse,fixpoint(dce,prune-mlp-units)",
            38,
            "'prune-mlp-units' expects alta.dense but receives alta.sparse (after 'dce')",
        ),
        ("fixpoint{max-rounds=0}(dce)", 20, "expected at least 1 round, got 0"),
        ("fixpoint{max-rounds=many}(dce)", 20, "expected int"),
        ("fixpoint{rounds=3}(dce)", 9, "did you mean 'max-rounds'?"),
        ("fixpoint{max-rounds=3 max_rounds=4}(dce)", 22, "is given twice"),
        ("fixpoint(dce,prune-dims)", 13, "unknown pass 'prune-dims' (split into 'prune-values'"),
    ],
)
def test_resolution_and_level_errors_have_a_caret(text: str, column: int, message: str) -> None:
    got, at = _fault(text)
    assert message in got
    assert at == column


def test_fixpoint_level_follows_the_input() -> None:
    with pytest.raises(PipelineError, match=r"expects alta\.sparse but receives alta\.symbolic"):
        passes.parse("fixpoint(dce)", "symbolic")
    pm = passes.PassManager.parse("fixpoint(dce),lower-sparse-to-dense")
    assert (pm.input_level, pm.output_level) == ("sparse", "dense")
    cut = passes.PassManager.parse(passes.DEFAULT_PIPELINE).up_to("sparse", "symbolic")
    assert str(cut) == passes.DEFAULT_PIPELINE.split(",lower-sparse-to-dense")[0]


def test_register_refuses_the_name_fixpoint() -> None:
    class Fix(passes.Pass):
        name: ClassVar[str] = "fixpoint"
        level: ClassVar[str] = "sparse"

    with pytest.raises(PipelineError, match="'fixpoint' is pipeline syntax"):
        passes.register(Fix)


# --------------------------------------------------------------------------- running

TEXT = "lower-symbolic-to-sparse,fixpoint(test-fixpoint-bang,dce),lower-sparse-to-dense"
INNER = ["test-fixpoint-bang", "dce"] * 3  # two rounds change the name, the third nothing


def test_runs_rounds_until_nothing_changes_and_instruments_see_every_run() -> None:
    stats = passes.PassStatistics(stream=io.StringIO())
    timer = passes.TimePasses(stream=io.StringIO())
    dumps = io.StringIO()
    printer = passes.PrintIR(after_all=True, stream=dumps)
    stages = passes.run_pipeline(cli_program.build(), TEXT, [stats, timer, printer])
    assert len(stages) == 4  # input, then one stage per top-level entry
    assert stages[2].name == stages[1].name + "!!"
    assert [n for n, _ in timer.timings] == [
        "lower-symbolic-to-sparse",
        *INNER,
        "lower-sparse-to-dense",
    ]
    bangs = [line for line in stats.lines if line.startswith("test-fixpoint-bang")]
    assert len(bangs) == 3 and bangs[-1] == "test-fixpoint-bang: unchanged"
    titles = [line for line in dumps.getvalue().splitlines() if line.startswith("// -----//")]
    assert titles[1:] == [
        "// -----// IR Dump After lower-symbolic-to-sparse //----- //",
        "// -----// IR Dump After test-fixpoint-bang //----- //",
        "// -----// IR Dump After dce (unchanged) //----- //",
        "// -----// IR Dump After test-fixpoint-bang //----- //",
        "// -----// IR Dump After dce (unchanged) //----- //",
        "// -----// IR Dump After test-fixpoint-bang (unchanged) //----- //",
        "// -----// IR Dump After dce (unchanged) //----- //",
        "// -----// IR Dump After lower-sparse-to-dense //----- //",
    ]


def test_python_constructed_fixpoint_runs_too() -> None:
    module = passes.run_pipeline(cli_program.build(), "lower-symbolic-to-sparse")[-1]
    fix = passes.Fixpoint([BangPass(n=3)], max_rounds=4)
    assert fix.run(module).name == module.name + "!!!"
    assert passes.PassManager([fix]).run(module).name == module.name + "!!!"
    assert fix.spec() == "fixpoint{max-rounds=4}(test-fixpoint-bang{n=3})"
    with pytest.raises(PassError, match="did not converge"):
        passes.Fixpoint([BangPass(n=3)], max_rounds=3).run(module)
    with pytest.raises(ValueError, match="at least one pass"):
        passes.Fixpoint([])


def test_no_convergence_within_the_bound_is_a_pass_error_naming_the_passes() -> None:
    text = "lower-symbolic-to-sparse,fixpoint{max-rounds=3}(test-fixpoint-always-new,dce)"
    with pytest.raises(PassError) as info:
        passes.run_pipeline(cli_program.build(), text)
    message = str(info.value)
    assert "fixpoint{max-rounds=3}(test-fixpoint-always-new,dce) did not converge" in message
    assert "its passes (test-fixpoint-always-new, dce)" in message
    assert "round 3 of 3" in message


def test_each_inner_run_is_verified() -> None:
    text = "lower-symbolic-to-sparse,fixpoint(dce,test-fixpoint-break)"
    with pytest.raises(PassError) as info:
        passes.run_pipeline(cli_program.build(), text)
    assert str(info.value).startswith(
        "pass 'test-fixpoint-break' failed after [lower-symbolic-to-sparse, dce]: "
    )
    assert isinstance(info.value.__cause__, VerifyError)


def test_default_pipeline_runs_whole_rounds() -> None:
    timer = passes.TimePasses(stream=io.StringIO())
    passes.run_pipeline(cli_program.build(), passes.DEFAULT_PIPELINE, timer)
    names = [name for name, _ in timer.timings]
    rounds = names.count("minimize-rules")
    assert rounds >= 1 and names.count("prune-values") == rounds
