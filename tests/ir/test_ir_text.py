"""The printed IR is a contract: IR2 and IR3 text parses back to the same module.

Every library program, at IR2 after lowering, at IR2 after the default sparse pipeline and
at IR3 after the full default pipeline: print -> parse -> print is the same text, and the
parsed module equals the original (IR3: the same record, the same weights and the same
outputs under the numpy backend). Then the parser's errors, and `alta opt FILE.alta`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from alta import cli, passes, programs
from alta.backends import base as backends
from alta.errors import VerifyError
from alta.ir import dense, parser, sparse
from alta.model import CompiledModel

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("lowered", "sparse", "dense")


@functools.cache
def _stages(name: str) -> dict[str, Any]:
    """IR2 after lowering, IR2 after the sparse part of the default pipeline, final IR3."""
    modules = passes.run_pipeline(programs.get(name).build(), passes.DEFAULT_PIPELINE)
    last_sparse = [m for m in modules if passes.level_of(m) == "sparse"][-1]
    return {"lowered": modules[1], "sparse": last_sparse, "dense": modules[-1]}


def _record(module: dense.Module) -> tuple[Any, ...]:
    """Every field of an IR3 module but its weights (dense.Module compares by identity)."""
    return tuple(getattr(module, f.name) for f in attrs.fields(dense.Module) if f.name != "weights")


def assert_same_dense(got: dense.Module, want: dense.Module) -> None:
    assert _record(got) == _record(want)
    assert list(got.weights) == list(want.weights)
    for name, array in want.weights.items():
        assert got.weights[name].dtype == array.dtype, name
        np.testing.assert_array_equal(got.weights[name], array, err_msg=name)


def _numpy_model(module: dense.Module, max_layers: int | None) -> CompiledModel:
    if max_layers is not None:
        module = attrs.evolve(module, loop=attrs.evolve(module.loop, max_layers=max_layers))
    executor = backends.get("numpy").build(module)
    return CompiledModel(
        ir=module, backend="numpy", executor=executor, stats={}, max_layers=max_layers
    )


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("name", programs.names())
def test_print_parse_print_is_identical(name: str, stage: str) -> None:
    module = _stages(name)[stage]
    text = str(module)
    parsed = parser.parse(text, getattr(module, "weights", None))
    assert str(parsed) == text
    if stage == "dense":
        assert_same_dense(parsed, module)
    else:
        assert parsed == module
        assert list(parsed.variables) == list(module.variables)


@pytest.mark.parametrize("name", programs.names())
def test_parsed_ir3_computes_the_same_outputs(name: str) -> None:
    case = programs.get(name)
    module = _stages(name)["dense"]
    parsed = parser.parse(str(module), module.weights)
    inputs = [list(x) for x in case.generate(np.random.default_rng(0), 20)]
    want = _numpy_model(module, case.max_layers)
    got = _numpy_model(parsed, case.max_layers)
    assert got(inputs) == want(inputs)
    tokens, lengths = want.pad(inputs)
    np.testing.assert_array_equal(got.run(tokens, lengths).layers, want.run(tokens, lengths).layers)


def test_ir3_weights_round_trip_through_an_npz_file(tmp_path: Path) -> None:
    module = _stages("sort_unique")["dense"]
    np.savez(tmp_path / "model.npz", **module.weights)
    with np.load(tmp_path / "model.npz") as npz:
        parsed = parser.parse(str(module), npz)
    assert_same_dense(parsed, module)


def test_ir2_prints_whole_init_tables() -> None:
    text = str(_stages("parity_sequential_absolute")["lowered"])
    assert "sha=" not in text and "entries" not in text
    assert "var %idx : cat<50> {0, 1, " in text
    assert "= position[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, " in text


def test_ir3_prints_the_record_with_stages_and_weight_digests() -> None:
    module = _stages("parity_sequential_relative_rules")["dense"]
    lines = [line.strip() for line in str(module).splitlines()]
    assert lines[0] == "alta.dense @parity_sequential_relative_rules {"
    assert lines[1] == "d_model = 8, input_range = 3, position_range = none"
    assert "slot %relative_qk : categorical [4:4] {}" in lines
    assert "loop {max_layers = none, halt = dim 3} {  // halts when %done == 1" in lines
    assert "stage 0 {" in lines and "stage 1 {" not in lines
    assert "head %parity_left {offsets = [-1], null_logit = 500.0} {" in lines
    assert any(
        re.fullmatch(r"tokens = @embed\.tokens : f64\[3,8\]  // nnz=\d+ sha=[0-9a-f]{8}", x)
        for x in lines
    )
    assert "layer clipped_relu {" in lines and "layer linear {" in lines
    assert lines[-2:] == ["readout %parity", "}"]


def test_odd_names_values_and_fields_round_trip() -> None:
    """Quoted names, sets, none, nan/inf, negative masks, a ranged numerical variable."""
    variables = {
        "my var": sparse.Variable(
            "my var", sparse.CATEGORICAL, (0, 2, 1), sparse.Init("token", (0, 2)), True, 3
        ),
        "s": sparse.Variable(
            "s",
            sparse.SET,
            (frozenset(), frozenset({1, 0})),
            sparse.Init("position", (frozenset(), frozenset({0, 1}))),
            False,
            3,
        ),
        "f": sparse.Variable(
            "f",
            sparse.NUMERICAL,
            (-0.5, 1e-05, float("inf"), 3.0),
            sparse.Init("const", (None,)),
            True,
            4,
        ),
        "h": sparse.Variable("h", sparse.NUMERICAL, (-0.5, 3.0), sparse.Init("head", ()), True),
        "c": sparse.Variable("c", sparse.CATEGORICAL, (0,), sparse.Init("const", (0,)), False, 1),
    }
    module = sparse.Module(
        name="odd-one",
        variables=variables,
        heads=(sparse.Head("h", "s", "my var", "f", frozenset({-2, 1})),),
        rules=(
            sparse.Rule((), "my var", None),
            sparse.Rule(
                (sparse.Atom("h", frozenset({3.0})), sparse.Atom("s", frozenset({frozenset()}))),
                "f",
                1e-05,
                True,
            ),
        ),
        output="my var",
        input_range=2,
        position_range=2,
        halt=sparse.Halt("c", 0),
    )
    text = str(module)
    assert text.splitlines()[0] == 'alta.sparse @"odd-one" {'
    assert 'var %"my var" : cat<3> {0, 2, 1} nullable = token[0, 2]' in text
    assert "var %f : num<4> {-0.5, 1e-05, inf, 3.0} nullable = none" in text
    assert "var %s : set<3> {{}, {0, 1}} = position[{}, {0, 1}]" in text
    parsed = parser.parse(text)
    assert parsed == module and str(parsed) == text


def test_comments_and_free_layout_are_accepted() -> None:
    text = str(_stages("parity_sequential_relative_rules")["sparse"])
    loose = "// a comment\n" + text.replace(", ", " ,\n  // more\n  ").replace("\n  ", "\n\t")
    assert str(parser.parse(loose)) == text


# ------------------------------------------------------------------------ errors

_SPARSE = """\
alta.sparse @t {
  input_range = 2, position_range = none
  var %x : cat<2> {0, 1} = token[0, 1]
  var %y : cat<2> {0, 1} = 0
  rule #0 : %x in {1} -> %y := 1
  output %y
}"""


@pytest.mark.parametrize(
    ("old", "new", "message", "line", "column"),
    [
        ("{0, 1} = token", "{0, 1 = token", "expected ',' or '}', got '='", 3, 25),
        ("%x in {1}", "%z in {1}", "unknown variable '%z' (declared above: x, y)", 5, 13),
        ("rule #0", "rule #3", "this is rule #0", 5, 9),
        (
            "var %y : cat<2>",
            "var %y : dog<2>",
            "expected 'cat' or 'num' or 'set', got 'dog'",
            4,
            12,
        ),
        ("%y := 1", "%y := 1.5", "a categorical variable holds integers", 5, 32),
        ("%y := 1", "%y := {1}", "a categorical variable holds no sets", 5, 32),
        ("var %y :", "var %x :", "variable '%x' is declared twice", 4, 7),
        ("  output %y\n", "", "the module has no 'output %VAR' line", 6, 1),
        ("token[0, 1]", "token[0, 1] ?", "unexpected character '?'", 3, 40),
        ("}", "} extra", "expected the end of the text after the module, got 'extra'", 7, 3),
        ("alta.sparse", "alta.symbolic", "alta.symbolic (IR1) text cannot be parsed", 1, 1),
        ("alta.sparse", "alta.tensor", "expected 'alta.sparse' or 'alta.dense'", 1, 1),
    ],
)
def test_parse_errors_quote_the_line_with_a_caret(
    old: str, new: str, message: str, line: int, column: int
) -> None:
    text = _SPARSE.replace(old, new, 1) if old != "}" else _SPARSE[:-1] + new
    with pytest.raises(VerifyError) as info:
        parser.parse(text)
    lines = str(info.value).splitlines()
    assert f"line {line}, column {column}: {message}" in lines[0]
    quoted, caret = lines[1], lines[2]
    assert quoted.strip() == text.splitlines()[line - 1].strip()
    assert caret.index("^") - 4 == column - 1 and quoted[4:] == text.splitlines()[line - 1]


def test_parsed_ir2_goes_through_the_verifier() -> None:
    with pytest.raises(VerifyError, match=r"alta.sparse @t: rule #0: writes 7, which is not in"):
        parser.parse(_SPARSE.replace("%y := 1", "%y := 7"))
    with pytest.raises(VerifyError, match="'clear' must list the head outputs"):
        parser.parse(_SPARSE.replace("  output", "  clear %x\n  output"))


def test_ir3_needs_its_weights_with_the_stated_shapes() -> None:
    module = _stages("parity_sequential_relative_rules")["dense"]
    text, weights = str(module), dict(module.weights)
    with pytest.raises(VerifyError, match=r"names its weights but does not hold them"):
        parser.parse(text)
    with pytest.raises(VerifyError, match=r"'@embed.tokens' is not among the weights given"):
        parser.parse(text, {k: v for k, v in weights.items() if k != "embed.tokens"})
    wrong = {**weights, "mlp.out.b": np.zeros(9)}
    with pytest.raises(
        VerifyError, match=r"'@mlp.out.b' is f64\[9\] in the weights given, not f64\[8\]"
    ):
        parser.parse(text, wrong)
    with pytest.raises(VerifyError, match=r"hold 1 that the text does not name: @stray"):
        parser.parse(text, {**weights, "stray": np.zeros(2)})
    with pytest.raises(VerifyError, match=r"line \d+, column 7: head %done_left lacks wo"):
        parser.parse(re.sub(r"\n\s*wo = @head\.done_left\.wo[^\n]*", "", text), weights)
    with pytest.raises(VerifyError, match="this is stage 0"):
        parser.parse(text.replace("stage 0", "stage 1"), weights)
    # The digests are comments: weights of the same shapes parse, and print their own.
    other = {k: v * 2 for k, v in weights.items()}
    reparsed = str(parser.parse(text, other))
    assert reparsed != text and re.sub(r"//.*", "", reparsed) == re.sub(r"//.*", "", text)


def test_parsed_ir3_goes_through_the_verifier() -> None:
    module = _stages("parity_sequential_relative_rules")["dense"]
    text = str(module).replace("halt = dim 3", "halt = dim 99")
    with pytest.raises(VerifyError, match=r"alta.dense @\S+: halt dim 99 is outside \[0, 8\)"):
        parser.parse(text, module.weights)


# ------------------------------------------------------------------------ alta opt FILE.alta


@pytest.fixture
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_opt_runs_the_default_pipeline_from_a_sparse_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = "parity_sequential_relative_rules"
    code, lowered, _ = run(
        capsys, "opt", name, "--emit", "sparse", "--pass-pipeline", "lower-symbolic-to-sparse"
    )
    assert code == 0
    path = tmp_path / "lowered.alta"
    path.write_text(lowered)
    code, out, err = run(capsys, "opt", str(path), "--pass-statistics")
    assert code == 0, err
    assert out == f"{_stages(name)['dense']}\n"
    first_ir2_pass = passes.DEFAULT_PIPELINE.split(",")[1]
    assert err.splitlines()[1].startswith(f"{first_ir2_pass}:")  # the pipeline starts at IR2
    code, out, _ = run(capsys, "opt", str(path), "--pass-pipeline=canonicalize,dce")
    assert code == 0 and out.startswith("alta.sparse @") and parser.parse(out)


def test_opt_reads_ir3_with_its_npz_beside_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    module = _stages("parity_sum_mod_2")["dense"]
    path = tmp_path / "model.alta"
    path.write_text(str(module))
    code, out, err = run(capsys, "opt", str(path))
    assert code == 1 and out == ""
    assert "holds alta.dense (IR3), whose weights are not part of the text" in err
    assert str(tmp_path / "model.npz") in err
    np.savez(tmp_path / "model.npz", **module.weights)
    code, out, err = run(capsys, "opt", str(path), "--print-ir-after-all")
    assert code == 0, err
    assert out == f"{module}\n"  # the default pipeline from IR3 is prune-mlp-units (a no-op)
    assert "IR Dump After prune-mlp-units" in err
    code, out, err = run(capsys, "opt", str(path), "--pass-pipeline=canonicalize")
    assert code == 1 and "expects alta.sparse but receives alta.dense" in err


def test_opt_file_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "opt", str(tmp_path / "missing.alta"))
    assert code == 1 and "does not exist" in err
    bad = tmp_path / "bad.alta"
    bad.write_text(_SPARSE.replace("cat<2> {0, 1} = 0", "cat<2> {0, 1} = 0 0"))
    code, out, err = run(capsys, "opt", str(bad))
    assert code == 1 and out == ""
    assert err.startswith("alta: error: alta.sparse text, line 4, column 30: expected 'var' or")
    assert "Traceback" not in err
    (tmp_path / "w.alta").write_text(str(_stages("parity_sum_mod_2")["dense"]))
    (tmp_path / "w.npz").write_bytes(b"not an npz")
    code, _, err = run(capsys, "opt", str(tmp_path / "w.alta"))
    assert code == 1 and "cannot read the weights" in err


def test_default_pipeline_from_each_level() -> None:
    assert cli.default_pipeline("symbolic") == passes.DEFAULT_PIPELINE
    assert cli.default_pipeline("sparse") == passes.DEFAULT_PIPELINE.split(",", 1)[1]
    assert cli.default_pipeline("dense") == "prune-mlp-units"
