"""The `alta` command line: `alta opt`, `alta passes`, `alta bench`, and its errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from alta import cli, passes

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "tests.cli_program:build"
HEADERS = ("alta.symbolic @cli_parity", "alta.sparse @cli_parity", "alta.dense @cli_parity")


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_opt_prints_every_stage_and_statistics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "opt", PROGRAM, "--print-ir-after-all", "--pass-statistics")
    assert code == 0
    for header in HEADERS:
        assert header in err
    assert out.startswith("alta.dense @cli_parity") and "alta.sparse" not in out
    assert re.search(r"^lower-symbolic-to-sparse: rules \d+$", err, re.MULTILINE)
    assert re.search(r"^lower-sparse-to-dense: d_model \d+$", err, re.MULTILINE)


def test_opt_as_a_subprocess() -> None:
    script = Path(sys.executable).parent / "alta"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "alta.cli"]
    proc = subprocess.run(
        [*command, "opt", PROGRAM, "--print-ir-after-all", "--pass-statistics", "--time-passes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for header in HEADERS:
        assert header in proc.stdout + proc.stderr
    assert "pass execution timing report" in proc.stderr


@pytest.mark.parametrize(
    ("level", "header"), [("symbolic", HEADERS[0]), ("sparse", HEADERS[1]), ("dense", HEADERS[2])]
)
def test_emit_stops_at_a_level(capsys: pytest.CaptureFixture[str], level: str, header: str) -> None:
    code, out, err = run(capsys, "opt", PROGRAM, "--emit", level)
    assert code == 0 and err == ""
    assert out.startswith(header)
    assert [h for h in HEADERS if h in out] == [header]


def test_print_ir_before_and_after_named_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "opt",
        PROGRAM,
        "--print-ir-before=lower-symbolic-to-sparse",
        "--print-ir-after=lower-symbolic-to-sparse,lower-sparse-to-dense",
    )
    assert code == 0
    assert err.count("// -----// IR Dump") == 3
    assert "IR Dump Before lower-symbolic-to-sparse{merge-copies=true merge-olds=true} //" in err


def test_max_layers_and_library_programs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "opt", PROGRAM, "--max-layers", "5")
    assert code == 0 and "max_layers = 5" in out
    code, out, _ = run(capsys, "opt", "parity_sequential_relative_rules", "--emit", "sparse")
    assert code == 0 and out.startswith("alta.sparse @")


def test_user_pass_loaded_from_a_module(capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = "lower-symbolic-to-sparse,drop-noop-rules{var=done},lower-sparse-to-dense"
    code, out, err = run(
        capsys,
        "opt",
        PROGRAM,
        "--load",
        "docs.examples.custom_pass",
        f"--pass-pipeline={pipeline}",
        "--pass-statistics",
    )
    assert code == 0, err
    assert "drop-noop-rules: unchanged" in err and out.startswith("alta.dense")


def test_list_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "opt", "--list-passes")
    assert code == 0
    assert "lower-symbolic-to-sparse  [symbolic -> sparse]" in out
    assert "lower-sparse-to-dense  [sparse -> dense]" in out
    assert run(capsys, "passes")[1] == out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["opt", "tests.no_such_module:build"], "cannot import module 'tests.no_such_module'"),
        (["opt", "tests.cli_program:nothing"], "has no attribute 'nothing'"),
        (["opt", "tests.cli_program:NOT_A_PROGRAM"], "not a Program or a function returning one"),
        (["opt", "no-such-program"], "neither module:function nor a library program"),
        (["opt", "tests.cli_program"], "neither module:function nor a library program"),
        (["opt"], "alta opt needs a PROGRAM"),
        (
            ["opt", PROGRAM, "--pass-pipeline=lower-symbolic-to-spars"],
            "did you mean 'lower-symbolic-to-sparse'?",
        ),
        (
            ["opt", PROGRAM, "--pass-pipeline=lower-sparse-to-dense"],
            "'lower-sparse-to-dense' expects alta.sparse but receives alta.symbolic",
        ),
        (
            [
                "opt",
                PROGRAM,
                "--pass-pipeline=lower-symbolic-to-sparse,lower-sparse-to-dense",
                "--print-ir-after=dce",
            ],
            "which the pipeline",
        ),
        (["opt", PROGRAM, "--load", "no_such_plugin"], "--load no_such_plugin: cannot import"),
    ],
)
def test_errors_exit_1_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("alta: error: ") and message in err
    assert "Traceback" not in err


def test_bench_runs_the_packaged_suite(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alta import bench

    seen: list[list[str]] = []
    monkeypatch.setattr(bench, "main", lambda argv: seen.append(argv) or 3)
    code, _, _ = run(capsys, "bench", "--quick", "-n", "2")
    assert code == 3 and seen == [["--quick", "-n", "2"]]


def test_bench_help_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bench", "--help")
    assert code == 0 and out.startswith("usage: alta bench") and "--out" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "scan", "--limit", "-3"],
        ["bench", "scan", "--batch", "0"],
        ["bench", "--batches", "-5"],
    ],
)
def test_bench_refuses_counts_below_one(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A negative --limit once sliced the command list and ran the full benchmark."""
    code, _, err = run(capsys, *argv)
    assert code == 2 and "must be at least 1" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--print-ir-after", "--print-ir-before"])
@pytest.mark.parametrize("name", ["minimize-rules", "prune-values"])
def test_print_ir_names_a_pass_inside_a_fixpoint(
    capsys: pytest.CaptureFixture[str], flag: str, name: str
) -> None:
    """The name check once looked only at the top level: the default pipeline runs these
    two only inside fixpoint(...), so they could not be printed."""
    code, _, err = run(capsys, "opt", PROGRAM, f"{flag}={name}")
    assert code == 0, err
    assert f"IR Dump {'After' if flag.endswith('after') else 'Before'} {name}" in err


def test_user_pass_loaded_from_a_file_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--load ./file.py` once raised a bare TypeError from importlib."""
    source = (ROOT / "docs" / "examples" / "custom_pass.py").read_text()
    (tmp_path / "mypasses.py").write_text(source.replace("drop-noop-rules", "drop-noop-rules-2"))
    pipeline = "lower-symbolic-to-sparse,drop-noop-rules-2{var=done},lower-sparse-to-dense"
    plugin = str(tmp_path / "mypasses.py")
    argv = ["opt", PROGRAM, "--load", plugin, f"--pass-pipeline={pipeline}", "--pass-statistics"]
    try:
        code, out, err = run(capsys, *argv)
    finally:  # the file registered its pass: leave the registry as other tests expect it
        if "drop-noop-rules-2" in passes.available():
            passes.unregister("drop-noop-rules-2")
    assert code == 0, err
    assert "drop-noop-rules-2: unchanged" in err and out.startswith("alta.dense")


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("./no_such_plugin.py", "'./no_such_plugin.py' does not exist"),
        (".relative_plugin", "is a relative module name"),
    ],
)
def test_load_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], load: str, message: str
) -> None:
    code, _, err = run(capsys, "opt", PROGRAM, "--load", load)
    assert code == 1 and err.startswith("alta: error: ") and message in err


def test_load_of_a_module_whose_import_raises(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "raising_plugin_zz.py").write_text("raise ValueError('plugin is broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run(capsys, "opt", PROGRAM, "--load", "raising_plugin_zz")
    assert code == 1 and err.startswith("alta: error: ") and "Traceback" not in err
    assert "raised ValueError: plugin is broken" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--programs", "no_such_program"], "'no_such_program' is not a library program"),
        (["bench", "--programs", "tests/cli_program.py:build"], "is not a library program"),
        (["bench", "scan", "--backend", "no_such_backend"], "unknown backend 'no_such_backend'"),
    ],
)
def test_bench_refuses_unknown_names_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    """An unknown --programs name was "benchmarked" on every backend and exited 0."""
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "results"))
    assert code == 1 and err.startswith("alta: error: ") and message in err
    assert out == "" and not (tmp_path / "results").exists()  # nothing ran, nothing written


@pytest.mark.parametrize("suite", [[], ["scan"]])
def test_bench_checks_out_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suite: list[str]
) -> None:
    """`--out FILE` once failed with a traceback after the whole benchmark had run."""
    a_file = tmp_path / "file"
    a_file.write_text("")
    for out in (a_file, a_file / "sub"):
        code, printed, err = run(capsys, "bench", *suite, "--out", str(out))
        assert code == 1 and err.startswith(f"alta: error: --out {out}") and printed == ""


def test_bench_on_cuda_without_cuda_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(capsys, "bench", "--device", "cuda", "--out", str(tmp_path))
    assert code == 1 and out == "" and "torch finds no CUDA device" in err
