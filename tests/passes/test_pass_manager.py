"""The pass manager: pipeline text, options, level checks, failure wrapping, verify-each,
user passes, instrumentation, the registry and the IR2/IR3 verifiers."""

from __future__ import annotations

import importlib
import importlib.metadata
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs
import cli_program
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alta
from alta import passes
from alta.errors import PassError, PipelineError, VerifyError
from alta.ir import analysis, dense, sparse
from alta.ir.verify import verify_dense, verify_sparse
from alta.passes import base

ROOT = Path(__file__).resolve().parents[2]
LOWER = "lower-symbolic-to-sparse,lower-sparse-to-dense"
CALLS: list[str] = []


@attrs.frozen
class OptionsPass(passes.Pass):
    name: ClassVar[str] = "test-options"
    level: ClassVar[str] = "sparse"
    count: int = 1
    ratio: float = 0.5
    flag: bool = True
    label: str = "x"
    limit: int | None = None
    mode: Literal["fast", "slow"] = "fast"

    def run(self, module: Any) -> Any:
        return module


@attrs.frozen
class RecordPass(passes.Pass):
    """Returns the module unchanged and records that it ran."""

    name: ClassVar[str] = "test-record"
    level: ClassVar[str] = "sparse"
    tag: str = "record"

    def run(self, module: Any) -> Any:
        CALLS.append(self.tag)
        return module


@attrs.frozen
class SymbolicNoopPass(passes.Pass):
    name: ClassVar[str] = "test-symbolic-noop"
    level: ClassVar[str] = "symbolic"

    def run(self, module: Any) -> Any:
        CALLS.append(self.name)
        return module


@attrs.frozen
class RenamePass(passes.Pass):
    name: ClassVar[str] = "test-rename"
    level: ClassVar[str] = "sparse"
    new_name: str = "renamed"

    def run(self, module: sparse.Module) -> sparse.Module:
        return attrs.evolve(module, name=self.new_name)


@attrs.frozen
class ExplodePass(passes.Pass):
    name: ClassVar[str] = "test-explode"
    level: ClassVar[str] = "sparse"

    def run(self, module: Any) -> Any:
        raise ValueError("boom")


@attrs.frozen
class WriteHeadOutputPass(passes.Pass):
    """Breaks IR2 on purpose: a rule that writes a head output."""

    name: ClassVar[str] = "test-write-head-output"
    level: ClassVar[str] = "sparse"

    def run(self, module: sparse.Module) -> sparse.Module:
        bad = sparse.Rule(atoms=(), var="parity_left", new=1)
        return attrs.evolve(module, rules=(*module.rules, bad))


TEST_PASSES = (
    OptionsPass,
    RecordPass,
    SymbolicNoopPass,
    RenamePass,
    ExplodePass,
    WriteHeadOutputPass,
)
#: What was registered when this module was imported: none of its test passes.
AT_IMPORT = frozenset(passes.available())


@pytest.fixture(autouse=True)
def _test_passes() -> Iterator[None]:
    """The test passes exist for one test at a time; the registry is left as it was."""
    CALLS.clear()
    with passes.registered(*TEST_PASSES):
        yield


@pytest.fixture(scope="module")
def sparse_module() -> sparse.Module:
    return passes.run_pipeline(cli_program.build(), "lower-symbolic-to-sparse")[-1]


# --------------------------------------------------------------------------- pipeline text


@pytest.mark.parametrize(
    "text",
    [
        LOWER,
        passes.DEFAULT_PIPELINE,
        "lower-symbolic-to-sparse,lower-sparse-to-dense{max-layers=7}",
        'lower-symbolic-to-sparse,test-options{count=3 flag=false label="a b"},lower-sparse-to-dense',
        "",
    ],
)
def test_pipeline_round_trips(text: str) -> None:
    parsed = passes.parse(text)
    assert passes.print_pipeline(parsed) == text
    assert passes.parse(passes.print_pipeline(parsed)) == parsed
    assert str(passes.PassManager(parsed)) == text


def test_whitespace_and_underscores_are_accepted() -> None:
    parsed = passes.parse(" lower-symbolic-to-sparse , lower-sparse-to-dense{ max_layers=3 } ")
    assert parsed[1].max_layers == 3


def test_options_are_converted_from_field_types() -> None:
    (p,) = passes.parse("test-options{count=3 ratio=2 flag=false label='a b' limit=none mode=slow}")
    assert p == OptionsPass(count=3, ratio=2.0, flag=False, label="a b", limit=None, mode="slow")
    assert isinstance(p.ratio, float)
    (q,) = passes.parse("test-options{limit=12 flag=YES label=none}")
    assert (q.limit, q.flag, q.label) == (12, True, "none")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("test-options{count=three}", "option 'count': expected int, got 'three'"),
        ("test-options{flag=maybe}", "option 'flag': expected bool, got 'maybe'"),
        ("test-options{mode=medium}", "expected one of fast|slow"),
        ("test-options{count=1 count=2}", "option 'count' is given twice"),
        ("test-options{cont=1}", "has no option 'cont'; did you mean 'count'?"),
        ("test-symbolic-noop{x=1}", "pass 'test-symbolic-noop' takes no options, got 'x'"),
        ("lower-sparse-to-dense{max-layer=3}", "did you mean 'max-layers'?"),
    ],
)
def test_bad_options(text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        passes.parse(text)


@pytest.mark.parametrize("text", ["a,,b", "a,", "x{y}", "x{y=}", "x y", "x{y='open}"])
def test_syntax_errors_point_at_the_column(text: str) -> None:
    with pytest.raises(PipelineError, match="pipeline syntax error") as info:
        passes.parse(text)
    assert text in str(info.value) and "^" in str(info.value)


def test_unknown_pass_names_are_all_reported_with_suggestions() -> None:
    with pytest.raises(PipelineError) as info:
        passes.parse("lower-symbolic-to-spars,test-recrod,lower-sparse-to-dense,zzz")
    msg = str(info.value)
    assert "'lower-symbolic-to-spars' (did you mean 'lower-symbolic-to-sparse'?)" in msg
    assert "'test-recrod' (did you mean 'test-record'?)" in msg
    assert "'zzz'" in msg and "unknown passes" in msg


def test_level_errors_are_raised_before_any_pass_runs() -> None:
    program = cli_program.build()
    with pytest.raises(
        PipelineError,
        match=r"'test-record' expects alta\.sparse but receives "
        r"alta\.symbolic \(after 'test-symbolic-noop'\)",
    ):
        passes.run_pipeline(program, "test-symbolic-noop,test-record," + LOWER)
    with pytest.raises(
        PipelineError,
        match=r"'lower-symbolic-to-sparse' expects alta\.symbolic "
        r"but receives alta\.sparse \(the pipeline's input\)",
    ):
        passes.run_pipeline(passes.run_pipeline(program, "lower-symbolic-to-sparse")[-1], LOWER)
    pm = passes.PassManager([RecordPass()])
    with pytest.raises(PipelineError, match=r"receives alta\.symbolic"):
        pm.run(program)
    with pytest.raises(PipelineError, match=r"'test-symbolic-noop' expects alta\.symbolic"):
        passes.PassManager([RecordPass(), SymbolicNoopPass()])
    assert CALLS == []


# --------------------------------------------------------------------------- running


def test_failures_name_the_pass_and_the_passes_before() -> None:
    with pytest.raises(PassError) as info:
        passes.run_pipeline(cli_program.build(), "lower-symbolic-to-sparse,test-explode")
    assert str(info.value) == "pass 'test-explode' failed after [lower-symbolic-to-sparse]: boom"
    assert isinstance(info.value.__cause__, ValueError)


def test_verify_each_catches_a_pass_that_breaks_the_ir() -> None:
    text = "lower-symbolic-to-sparse,test-write-head-output,lower-sparse-to-dense"
    with pytest.raises(PassError) as info:
        passes.run_pipeline(cli_program.build(), text)
    msg = str(info.value)
    assert msg.startswith("pass 'test-write-head-output' failed after [lower-symbolic-to-sparse]: ")
    assert isinstance(info.value.__cause__, VerifyError)
    stages = passes.run_pipeline(cli_program.build(), text.rsplit(",", 1)[0], verify_each=False)
    new = len(stages[1].rules)  # the index of the rule the pass added
    assert len(stages[-1].rules) == new + 1
    assert f"rule #{new}: writes head output '%parity_left'" in msg
    assert f"\n    rule #{new} : true -> %parity_left := 1" in msg


def test_user_passes_run_at_their_position_in_a_pipeline_string() -> None:
    text = (
        "lower-symbolic-to-sparse,test-record{tag=one},test-rename{new-name=mine},"
        "test-record{tag=two},lower-sparse-to-dense"
    )
    stages = passes.run_pipeline(cli_program.build(), text)
    assert [passes.level_of(m) for m in stages] == ["symbolic", *["sparse"] * 4, "dense"]
    assert CALLS == ["one", "two"]
    assert stages[2] is stages[1]  # unchanged means the same object
    assert stages[3].name == "mine" and stages[-1].name == "mine"
    model = alta.compile(cli_program.build(), pipeline=text)
    assert model.ir.name == "mine"
    assert model([[2, 1, 1, 0, 1]]) == alta.interpret(cli_program.build(), [[2, 1, 1, 0, 1]])


def test_unregistered_pass_instances_run_programmatically() -> None:
    @attrs.frozen
    class Local(passes.Pass):
        name: ClassVar[str] = "local"
        level: ClassVar[str] = "sparse"

        def run(self, module: Any) -> Any:
            CALLS.append("local")
            return module

    pm = passes.PassManager([*passes.parse("lower-symbolic-to-sparse"), Local()])
    assert passes.level_of(pm.run(cli_program.build())) == "sparse" and CALLS == ["local"]


def test_up_to_stops_at_a_level() -> None:
    pm = passes.PassManager.parse("test-symbolic-noop," + LOWER)
    assert str(pm.up_to("sparse", "symbolic")) == "test-symbolic-noop,lower-symbolic-to-sparse"
    assert str(pm.up_to("symbolic", "symbolic")) == "test-symbolic-noop"
    assert str(passes.PassManager.parse(LOWER).up_to("symbolic", "symbolic")) == ""
    with pytest.raises(PipelineError, match=r"never produces alta\.dense"):
        passes.PassManager.parse("lower-symbolic-to-sparse").up_to("dense", "symbolic")


# --------------------------------------------------------------------------- instruments


def test_print_ir_after_all_shows_every_level() -> None:
    out = io.StringIO()
    alta.compile(
        cli_program.build(),
        pipeline="test-symbolic-noop," + LOWER,
        instrument=passes.PrintIR(after_all=True, stream=out),
    )
    text = out.getvalue()
    for header in (
        "alta.symbolic @cli_parity",
        "alta.sparse @cli_parity",
        "alta.dense @cli_parity",
    ):
        assert header in text
    assert "IR Dump After test-symbolic-noop (unchanged)" in text
    assert text.count("// -----// IR Dump") == 4  # the input, then after each of three passes


def test_print_ir_before_after_and_after_change() -> None:
    out = io.StringIO()
    text = "lower-symbolic-to-sparse,test-record,test-rename,lower-sparse-to-dense"
    instruments = [
        passes.PrintIR(before="test-rename", after=["lower-sparse-to-dense"], stream=out),
        passes.PrintIR(after_change=True, stream=out),
    ]
    passes.run_pipeline(cli_program.build(), text, instrument=instruments)
    dumps = re.findall(r"// -----// (.*) //----- //", out.getvalue())
    assert dumps == [
        "IR Dump After lower-symbolic-to-sparse",
        "IR Dump Before test-rename",
        "IR Dump After test-rename",
        "IR Dump After lower-sparse-to-dense",
        "IR Dump After lower-sparse-to-dense",
    ]


def test_pass_statistics() -> None:
    stats = passes.PassStatistics(stream=io.StringIO())
    text = "lower-symbolic-to-sparse,test-record,test-rename,lower-sparse-to-dense"
    model = alta.compile(cli_program.build(), pipeline=text, instrument=[stats])
    rules, d_model = model.sparse_ir.rules, model.ir.d_model
    assert stats.lines == [
        f"lower-symbolic-to-sparse: rules {len(rules)}",
        "lower-symbolic-to-sparse: variables 5",
        "test-record: unchanged",
        f"test-rename: rewritten, sizes unchanged: rules {len(rules)}, variables 5, heads 2",
        f"lower-sparse-to-dense: d_model {d_model}",
        f"lower-sparse-to-dense: mlp widths {list(model.ir.mlp_widths)}",
    ]
    assert stats.stream.getvalue().startswith("===- pass statistics -===\n")  # type: ignore[union-attr]


def test_generic_statistics_report_size_changes(sparse_module: sparse.Module) -> None:
    fewer = attrs.evolve(sparse_module, rules=sparse_module.rules[:1])
    assert base.generic_statistics(sparse_module, fewer) == [
        f"rules {len(sparse_module.rules)} -> 1"
    ]
    assert base.generic_statistics(fewer, fewer) == ["unchanged"]


def test_time_passes_prints_a_table() -> None:
    out = io.StringIO()
    timer = passes.TimePasses(stream=out)
    passes.run_pipeline(cli_program.build(), LOWER, instrument=timer)
    table = out.getvalue()
    assert "pass execution timing report" in table
    assert re.search(r"\d+\.\d{4}\s+\d+\.\d%\s+lower-symbolic-to-sparse", table)
    assert re.search(r"\d+\.\d{4}\s+100\.0%\s+total", table)
    assert [name for name, _ in timer.timings] == LOWER.split(",")


def test_list_passes_shows_levels_and_options() -> None:
    listing = passes.list_passes()
    assert "lower-sparse-to-dense  [sparse -> dense]" in listing
    assert "max-layers: int | None = none" in listing
    assert "test-options  [sparse]" in listing


# --------------------------------------------------------------------------- registry


def test_register_refuses_duplicate_and_reserved_names() -> None:
    with pytest.raises(PipelineError, match="already registered"):

        @passes.register
        @attrs.frozen
        class Again(passes.Pass):
            name: ClassVar[str] = "test-record"
            level: ClassVar[str] = "sparse"

    with pytest.raises(PipelineError, match="reserved for the built-in"):

        @passes.register
        @attrs.frozen
        class Mine(passes.Pass):
            name: ClassVar[str] = "lower-sparse-to-dense"
            level: ClassVar[str] = "sparse"

    with pytest.raises(TypeError, match="must set `level`"):

        @passes.register
        @attrs.frozen
        class NoLevel(passes.Pass):
            name: ClassVar[str] = "test-no-level"


def test_test_passes_are_registered_by_the_fixture_only() -> None:
    names = {cls.name for cls in TEST_PASSES}
    assert names <= set(passes.available())
    assert not names & AT_IMPORT  # importing this module registered nothing


# --------------------------------------------------------------------------- doc example


def test_contributing_example_is_the_example_file() -> None:
    doc = (ROOT / "CONTRIBUTING.md").read_text()
    block = re.search(
        r"<!-- example: docs/examples/custom_pass.py -->\n```python\n(.*?)```\n<!-- end example -->",
        doc,
        re.DOTALL,
    )
    assert block is not None, "CONTRIBUTING.md lost its example markers"
    assert block.group(1) == (ROOT / "docs/examples/custom_pass.py").read_text()


def test_contributing_example_runs(
    sparse_module: sparse.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # the CLI's --load imports it under this name too
    DropNoopRulesPass = importlib.import_module("docs.examples.custom_pass").DropNoopRulesPass

    text = "lower-symbolic-to-sparse,drop-noop-rules{var=done},lower-sparse-to-dense"
    stages = passes.run_pipeline(cli_program.build(), text)
    assert stages[2] is stages[1]
    assert passes.parse(text)[1] == DropNoopRulesPass(var="done")
    noop = sparse.Rule((sparse.Atom("done", frozenset({1})),), "done", 1)
    padded = attrs.evolve(sparse_module, rules=(*sparse_module.rules, noop))
    assert DropNoopRulesPass().run(padded).rules == sparse_module.rules
    assert DropNoopRulesPass(var="parity").run(padded) is padded


# --------------------------------------------------------------------------- verifiers


def test_sparse_conflicts_quote_both_rules(sparse_module: sparse.Module) -> None:
    extra = sparse.Rule((sparse.Atom("done", frozenset({0})),), "parity", 1)
    broken = attrs.evolve(sparse_module, rules=(*sparse_module.rules, extra))
    with pytest.raises(VerifyError) as info:
        verify_sparse(broken, check_conflicts=True)
    msg = str(info.value)
    first = min(i for i, r in enumerate(sparse_module.rules) if r.var == "parity")
    new = len(sparse_module.rules)
    assert f"rules #{first} and #{new} can fire together and both write '%parity'" in msg
    assert f"\n    rule #{first} : %done in {{0}}" in msg
    assert f"\n    rule #{new} : %done in {{0}} -> %parity := 1" in msg


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {"output": "nope"}, "output names unknown variable '%nope'"),
        (lambda m: {"halt": sparse.Halt("done", 5)}, "halt value 5 is not in the domain"),
        (
            lambda m: {
                "rules": (sparse.Rule((sparse.Atom("done", frozenset({7})),), "parity", 0),)
            },
            "atom value 7 is not in the domain of '%done'",
        ),
        (lambda m: {"rules": (sparse.Rule((), "parity", None),)}, "writes none to '%parity'"),
        (lambda m: {"rules": (sparse.Rule((), "ghost", 0),)}, "writes unknown variable '%ghost'"),
        (
            lambda m: {"heads": (attrs.evolve(m.heads[0], key="ghost"), m.heads[1])},
            "key names unknown variable '%ghost'",
        ),
    ],
)
def test_sparse_verifier_names_the_offender(
    sparse_module: sparse.Module, change: Any, message: str
) -> None:
    with pytest.raises(VerifyError, match=re.escape(message)):
        verify_sparse(attrs.evolve(sparse_module, **change(sparse_module)))


_VALUE_SETS = st.frozensets(st.integers(0, 2), min_size=1)
_RULES = st.lists(
    st.tuples(
        st.sampled_from("abc"),
        st.dictionaries(st.sampled_from("abc"), _VALUE_SETS),
        st.integers(0, 2),
    ),
    max_size=40,
)


@settings(max_examples=60)
@given(_RULES)
def test_split_conflicts_equal_the_pairwise_check(drawn: list[Any]) -> None:
    rules = tuple(
        sparse.Rule(tuple(sparse.Atom(v, vals) for v, vals in sorted(atoms.items())), var, new)
        for var, atoms, new in drawn
    )
    domain = (0, 1, 2)
    module = sparse.Module(
        name="m",
        variables={
            n: sparse.Variable(n, sparse.CATEGORICAL, domain, sparse.Init("token", domain), range=3)
            for n in "abc"
        },
        heads=(),
        rules=rules,
        output="a",
        input_range=3,
        position_range=None,
        halt=None,
    )
    reach = analysis.reachable_values(module)
    pairwise = [
        (i, j)
        for i, a in enumerate(rules)
        for j, b in enumerate(rules)
        if i < j and a.var == b.var and analysis.can_fire_together(a, b, reach)
    ]
    assert list(analysis.conflicts(module)) == pairwise


def _dense() -> dense.Module:
    return passes.run_pipeline(cli_program.build(), LOWER)[-1]


def test_dense_verifier_checks_shapes_weights_layout_and_halt() -> None:
    module = _dense()
    assert verify_dense(module) is module
    weights = dict(module.weights)
    weights["embed.tokens"] = np.zeros((3, 5))
    with pytest.raises(
        VerifyError, match=r"embed tokens: weight has shape \[3,5\], expected \[3,8\]"
    ):
        verify_dense(attrs.evolve(module, weights=weights))
    del weights["embed.tokens"]
    with pytest.raises(
        VerifyError, match=r"refers to weight '@embed\.tokens', which does not exist"
    ):
        verify_dense(attrs.evolve(module, weights=weights))
    with pytest.raises(VerifyError, match=r"halt dim 99 is outside \[0, 8\)"):
        verify_dense(attrs.evolve(module, loop=attrs.evolve(module.loop, halt=dense.HaltTest(99))))
    gap = (attrs.evolve(module.layout[0], start=1), *module.layout[1:])
    with pytest.raises(VerifyError, match="slots must tile"):
        verify_dense(attrs.evolve(module, layout=gap))


def test_levels_are_an_enum_that_reads_as_text() -> None:
    from alta import programs
    from alta.ir.types import Kind, Level

    program = programs.get("parity_sequential_relative").build()
    module = passes.run_pipeline(program, "lower-symbolic-to-sparse")[-1]
    assert passes.level_of(program) is Level.SYMBOLIC and passes.level_of(module) is Level.SPARSE
    assert (
        passes.LEVELS
        == (Level.SYMBOLIC, Level.SPARSE, Level.DENSE)
        == ("symbolic", "sparse", "dense")
    )
    assert module.variables["parity"].kind is Kind.CATEGORICAL and Kind.SET == "set"


def test_parsed_pipelines_are_shared_only_for_built_in_passes() -> None:
    """A pipeline of built-in passes is parsed once per text (`pipeline._PARSED`); what a
    caller does to the list it got does not reach the next parse, and user passes (which
    may keep state) are made anew every time."""
    first = passes.PassManager.parse(passes.DEFAULT_PIPELINE, start_level="symbolic")
    again = passes.PassManager.parse(passes.DEFAULT_PIPELINE, start_level="symbolic")
    assert str(first) == passes.DEFAULT_PIPELINE
    assert all(a is b for a, b in zip(first.passes, again.passes, strict=True))  # one parse
    got = passes.pipeline.parse("dce,canonicalize", "sparse")
    got.clear()
    assert [p.name for p in passes.pipeline.parse("dce,canonicalize", "sparse")] == [
        "dce",
        "canonicalize",
    ]
    a = passes.pipeline.parse("dce,test-record{tag=x}", "sparse")  # (the fixture registers it)
    b = passes.pipeline.parse("dce,test-record{tag=x}", "sparse")
    assert a[1] == b[1] and a[1] is not b[1]
    assert ("dce,test-record{tag=x}", "sparse") not in passes.pipeline._PARSED
