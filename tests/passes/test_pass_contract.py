"""The pass contract around `run`: one lazy registry (fed by the built-in table, the
`alta.passes` entry points and `register`), and the `PassContext` in which passes record
the statistics `--pass-statistics` prints."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import attrs
import cli_program
import pytest

from alta import lang as pb
from alta import passes, programs
from alta.errors import CompileWarning, PipelineError
from alta.ir import sparse
from alta.passes import base, context
from alta.passes.dce import DeadCodeEliminationPass

LOWER = "lower-symbolic-to-sparse,lower-sparse-to-dense"


@attrs.frozen
class EntryPointPass(passes.Pass):
    name: ClassVar[str] = "test-entry-point"
    level: ClassVar[str] = "dense"

    def run(self, module: Any) -> Any:
        return module


@attrs.frozen
class RuntimePass(passes.Pass):
    name: ClassVar[str] = "test-runtime"
    level: ClassVar[str] = "sparse"

    def run(self, module: Any) -> Any:
        return module


@attrs.frozen
class RuntimeClash(passes.Pass):
    name: ClassVar[str] = "test-runtime"
    level: ClassVar[str] = "sparse"


@attrs.frozen
class BuiltinClash(passes.Pass):
    name: ClassVar[str] = "dce"
    level: ClassVar[str] = "sparse"


NOT_A_PASS = 42

Fresh = Callable[..., None]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Fresh:
    """`fresh(*entry_points)`: the registry as a new process starts it, with these entry
    points installed and not yet read; the real registry comes back after the test."""

    def start(*eps: EntryPoint) -> None:
        monkeypatch.setattr(base, "_REGISTRY", base._builtin_entries())
        monkeypatch.setattr(base, "_entry_points_read", False)
        monkeypatch.setattr(base, "entry_points", lambda group: list(eps))

    return start


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, base.ENTRY_POINT_GROUP)


# --------------------------------------------------------------------------- registry


def test_builtins_are_a_table_loaded_on_lookup(fresh: Fresh) -> None:
    fresh()
    assert passes.available() == sorted(base.BUILTIN)
    assert all(base._REGISTRY[name].cls is None for name in base.BUILTIN)  # listed only
    assert passes.lookup("dce") is DeadCodeEliminationPass
    assert base._REGISTRY["dce"].cls is DeadCodeEliminationPass
    for name, target in base.BUILTIN.items():
        cls = passes.lookup(name)
        assert cls is not None and cls.name == name
        assert f"{cls.__module__}:{cls.__qualname__}" == target
    assert passes.lookup("no-such-pass") is None


def test_nothing_is_imported_until_a_pipeline_names_it() -> None:
    """Importing a built-in pass module registers nothing: the table alone offers it."""
    code = (
        "import sys, alta\n"
        "from alta import passes\n"
        "from alta.passes import base\n"
        "assert 'dce' in passes.available()\n"
        "assert 'alta.passes.dce' not in sys.modules\n"
        "import alta.passes.dce\n"
        "assert base._REGISTRY['dce'].cls is None\n"
        "passes.parse('dce')\n"
        "assert base._REGISTRY['dce'].cls is alta.passes.dce.DeadCodeEliminationPass\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_entry_points_are_listed_then_loaded_when_used(fresh: Fresh) -> None:
    fresh(_ep("test-entry-point", f"{__name__}:EntryPointPass"))
    assert "test-entry-point" in passes.available()
    assert base._REGISTRY["test-entry-point"].cls is None  # listed, not loaded
    stages = passes.run_pipeline(cli_program.build(), LOWER + ",test-entry-point")
    assert stages[-1] is stages[-2]
    assert passes.lookup("test-entry-point") is EntryPointPass
    passes.unregister("test-entry-point")
    assert "test-entry-point" not in passes.available()


@pytest.mark.parametrize(
    ("ep", "message"),
    [
        (_ep("dce", f"{__name__}:EntryPointPass"), "reuses the name of an existing pass"),
        (_ep("fixpoint", f"{__name__}:EntryPointPass"), "'fixpoint' is pipeline syntax"),
    ],
)
def test_an_entry_point_may_not_take_a_name(fresh: Fresh, ep: EntryPoint, message: str) -> None:
    fresh(ep)
    for _ in range(2):  # not read half-way and then forgotten: every use reports it
        with pytest.raises(PipelineError, match=message):
            passes.available()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{__name__}:NOT_A_PASS", "must name a Pass subclass whose name is 'test-bad'"),
        (f"{__name__}:EntryPointPass", "must name a Pass subclass whose name is 'test-bad'"),
        ("no_such_module_for_alta:Pass", "cannot load pass 'test-bad' from entry point"),
    ],
)
def test_a_broken_entry_point_is_named_when_used(fresh: Fresh, value: str, message: str) -> None:
    fresh(_ep("test-bad", value))
    assert "test-bad" in passes.available()
    with pytest.raises(PipelineError, match=message):
        passes.parse("test-bad")
    assert "test-bad  (cannot load" in passes.list_passes()  # the others are still listed
    assert "dce  [sparse]" in passes.list_passes()


def test_register_adds_a_class_at_run_time(fresh: Fresh) -> None:
    fresh()
    assert passes.register(RuntimePass) is RuntimePass
    assert passes.register(RuntimePass) is RuntimePass  # the same class again: harmless
    assert passes.lookup("test-runtime") is RuntimePass
    assert passes.parse("test-runtime") == [RuntimePass()]
    with pytest.raises(PipelineError, match=r"already registered by .*\.RuntimePass; .*Clash"):
        passes.register(RuntimeClash)
    with pytest.raises(
        PipelineError, match=r"'dce' is reserved for the built-in pass alta\.passes\.dce:Dead"
    ):
        passes.register(BuiltinClash)
    passes.unregister("test-runtime")
    with pytest.raises(PipelineError, match="unknown pass 'test-runtime'"):
        passes.parse("test-runtime")


def test_register_after_an_entry_point_of_the_same_name(fresh: Fresh) -> None:
    fresh(_ep("test-runtime", f"{__name__}:RuntimePass"))
    assert passes.register(RuntimePass) is RuntimePass  # the class the entry point names
    assert base._REGISTRY["test-runtime"].cls is RuntimePass
    with pytest.raises(PipelineError, match=r"already registered by entry point 'test-runtime"):
        passes.register(RuntimeClash)


def test_registered_leaves_the_registry_as_it_found_it(fresh: Fresh) -> None:
    fresh()
    before = passes.available()
    with passes.registered(RuntimePass):
        assert passes.lookup("test-runtime") is RuntimePass
    assert passes.available() == before
    with (
        pytest.raises(PipelineError, match="reserved for the built-in"),
        passes.registered(RuntimePass, BuiltinClash),
    ):
        pass
    assert passes.available() == before  # what it did add is gone again
    passes.register(RuntimePass)
    with passes.registered(RuntimePass):
        pass
    assert passes.lookup("test-runtime") is RuntimePass  # it was there before: it stays


def test_unregister_refuses_builtins_and_unknown_names(fresh: Fresh) -> None:
    fresh()
    with pytest.raises(PipelineError, match="'dce' is a built-in pass"):
        passes.unregister("dce")
    with pytest.raises(PipelineError, match="no pass named 'test-none'"):
        passes.unregister("test-none")
    assert passes.available() == sorted(base.BUILTIN)


# --------------------------------------------------------------------------- context


@attrs.frozen
class CountingPass(passes.Pass):
    """Keeps the first rule, and records as it works, as the built-in passes do."""

    name: ClassVar[str] = "test-counting"
    level: ClassVar[str] = "sparse"

    def run(self, module: sparse.Module) -> sparse.Module:
        ctx = passes.context.current()
        kept = module.rules[:1]
        ctx.record("rules", len(module.rules), len(kept))
        ctx.record("kept", len(kept))
        ctx.note(f"context of {ctx.pass_name}")
        return module if kept == module.rules else attrs.evolve(module, rules=kept)


@attrs.frozen
class OldStylePass(passes.Pass):
    """Computes its statistics afterwards, as passes did before the context."""

    name: ClassVar[str] = "test-old-style"
    level: ClassVar[str] = "sparse"

    def run(self, module: sparse.Module) -> sparse.Module:
        return module

    def statistics(self, before: Any, after: Any) -> list[str]:
        return [f"old style, {len(after.rules)} rules"]


def test_context_record_and_note() -> None:
    ctx = passes.PassContext("p")
    ctx.record("rules", 4428, 57)
    ctx.record("d_model", 12)
    ctx.record("mlp widths", [3, 4], [2, 4])
    ctx.note("dropped 1 raising path(s)")
    assert ctx.lines == [
        "rules 4428 -> 57",
        "d_model 12",
        "mlp widths [3, 4] -> [2, 4]",
        "dropped 1 raising path(s)",
    ]
    assert context.current() is not ctx
    with ctx.active():
        assert context.current() is ctx
    assert context.current() is not ctx and context.current().lines == []


def test_passes_record_their_statistics_in_a_fresh_context_per_run() -> None:
    stats = passes.PassStatistics(stream=io.StringIO())
    text = "lower-symbolic-to-sparse,test-counting,test-counting,test-old-style"
    with passes.registered(CountingPass, OldStylePass):
        stages = passes.run_pipeline(cli_program.build(), text, stats)
    rules = len(stages[1].rules)
    assert [line for line in stats.lines if not line.startswith("lower-")] == [
        f"test-counting: rules {rules} -> 1",
        "test-counting: kept 1",
        "test-counting: context of test-counting",
        "test-counting: rules 1 -> 1",  # the second run starts with an empty context
        "test-counting: kept 1",
        "test-counting: context of test-counting",
        "test-old-style: old style, 1 rules",
    ]
    assert context.current().lines == []  # nothing leaks out of the run


def test_a_pass_run_by_hand_records_into_a_context_nobody_reads() -> None:
    module = passes.run_pipeline(cli_program.build(), "lower-symbolic-to-sparse")[-1]
    assert CountingPass().run(module).rules == module.rules[:1]
    assert context.current().lines == []


def test_statistics_asked_outside_a_pipeline_run_the_pass_again() -> None:
    module = passes.run_pipeline(cli_program.build(), "lower-symbolic-to-sparse")[-1]
    n = len(module.rules)
    assert DeadCodeEliminationPass().statistics(module, module) == [
        "variables 5 -> 5",
        "heads 2 -> 2",
        f"rules {n} -> {n}",
    ]
    assert RuntimePass().statistics(module, module) == ["unchanged"]  # records nothing


def _dividing() -> Any:
    """q = 12 // t: the path with t = 0 raises, and lowering drops it."""
    variables = {"t": pb.input_var(4), "q": pb.var(13)}

    def ffn(z: Any) -> None:
        z["q"] = 12 // z["t"]

    return pb.program_spec(variables, {}, ffn, output_name="q", input_range=4)


def test_lowering_notes_what_it_dropped_after_its_sizes() -> None:
    stats = passes.PassStatistics(stream=io.StringIO())
    with pytest.warns(CompileWarning, match="1 raising path"):
        module = passes.run_pipeline(_dividing(), "lower-symbolic-to-sparse", stats)[-1]
    assert stats.lines == [
        f"lower-symbolic-to-sparse: rules {len(module.rules)}",
        "lower-symbolic-to-sparse: variables 2",
        "lower-symbolic-to-sparse: dropped 1 raising path(s)",
    ]


class _Runs(passes.Instrumentation):
    def __init__(self) -> None:
        self.runs: list[tuple[passes.Pass, Any, Any]] = []

    def after_pass(self, pass_: passes.Pass, before: Any, after: Any) -> None:
        self.runs.append((pass_, before, after))


def _computed_afterwards(name: str, before: Any, after: Any) -> list[str]:
    """The lines each built-in's `statistics(before, after)` computed before passes
    recorded them as they ran."""
    if name == "lower-symbolic-to-sparse":
        return [f"rules {len(after.rules)}", f"variables {len(after.variables)}"]
    if name == "minimize-rules":
        return [f"rules {len(before.rules)} -> {len(after.rules)}"]
    if name == "prune-values":
        size = sum(len(v.values) for v in before.variables.values())
        new_size = sum(len(v.values) for v in after.variables.values())
        return [
            f"domain values {size} -> {new_size}",
            f"rules {len(before.rules)} -> {len(after.rules)}",
        ]
    if name == "dce":
        return [
            f"variables {len(before.variables)} -> {len(after.variables)}",
            f"heads {len(before.heads)} -> {len(after.heads)}",
            f"rules {len(before.rules)} -> {len(after.rules)}",
        ]
    if name == "choose-encodings":
        return [f"coded variables {len(before.codes)} -> {len(after.codes)}"]
    if name == "lower-sparse-to-dense":
        return [f"d_model {after.d_model}", f"mlp widths {list(after.mlp_widths)}"]
    if name == "prune-mlp-units":
        return [f"mlp widths {list(before.mlp_widths)} -> {list(after.mlp_widths)}"]
    return base.generic_statistics(before, after)


@pytest.mark.parametrize("name", ["parity_sequential_relative", "addition", "sort_unique"])
def test_default_pipeline_statistics_are_what_they_were(name: str) -> None:
    stats, runs = passes.PassStatistics(stream=io.StringIO()), _Runs()
    passes.run_pipeline(programs.get(name).build(), passes.DEFAULT_PIPELINE, [stats, runs])
    want = [
        f"{p.name}: {line}"
        for p, before, after in runs.runs
        for line in _computed_afterwards(p.name, before, after)
    ]
    assert stats.lines == want
