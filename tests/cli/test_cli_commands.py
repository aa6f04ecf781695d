"""`alta run`, `alta compile`, `alta export` and `alta --version`, on good input and on
user mistakes (each an `alta: error: ...` line and exit code 1, never a traceback)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import alta
from alta import cli
from alta.backends import base

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = "parity_sequential_relative"
FILE_PROGRAM = str(ROOT / "tests" / "cli_program.py") + ":build"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"alta {alta.__version__}"


def test_run_interprets_a_batch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", PROGRAM, "--input", "2 1 0 1", "--input", "2,1,1")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["0 1 1 0  (3 layers)", "0 1 0  (2 layers)"]


@pytest.mark.parametrize("backend", base.available())
def test_run_compiled_matches_the_interpreter(
    capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    code, out, _ = run(capsys, "run", FILE_PROGRAM, "--input", "2 1 0 1", "--backend", backend)
    assert code == 0 and out == "0 1 1 0  (3 layers)\n"


@pytest.mark.parametrize("backend", [None, "numpy"])
def test_run_trace_prints_every_layer(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    extra = ["--backend", backend] if backend else []
    code, out, _ = run(capsys, "run", PROGRAM, "--input", "2 1 0 1", "--trace", *extra)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "# sequence 0: 2 1 0 1"
    assert [line for line in lines if line.startswith("layer")] == [
        "layer 1:",
        "layer 2:",
        "layer 3:",
    ]
    assert any(line.split()[:1] == ["parity"] for line in lines)
    assert lines[-1] == "0 1 1 0  (3 layers)"


def test_run_without_a_halt_test_uses_the_library_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "run", "parity_sum_mod_2", "--input", "0 1 1", "--backend", "numpy")
    assert code == 0 and out.endswith("(1 layer)\n")


def test_compile_then_run_export_and_opt_the_saved_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "parity.alta"
    code, _, err = run(capsys, "compile", PROGRAM, "-o", str(path), "--pipeline", "default")
    assert code == 0 and "wrote" in err and path.is_file()
    code, out, _ = run(capsys, "run", str(path), "--input", "2 1 0 1")
    assert code == 0 and out == "0 1 1 0  (3 layers)\n"
    code, out, _ = run(capsys, "opt", str(path))
    assert code == 0 and out.startswith("alta.dense @parity_sequential_relative")
    if "onnx" in base.available():
        onnx_path = tmp_path / "parity.onnx"
        code, _, _ = run(capsys, "export", str(path), "-o", str(onnx_path))
        assert code == 0 and onnx_path.stat().st_size > 0


@pytest.mark.skipif("onnx" not in base.available(), reason="needs onnx")
def test_export_without_a_halt_test(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_path = str(tmp_path / "sum.onnx")
    code, _, _ = run(capsys, "export", "parity_sum_mod_2", "-o", out_path)  # library budget
    assert code == 0
    code, _, err = run(capsys, "export", "tests.cli_program:build", "-o", out_path)  # halts
    assert code == 0, err


def test_compile_from_printed_ir2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ir2 = tmp_path / "p.alta"
    code, out, _ = run(capsys, "opt", PROGRAM, "--emit", "sparse")
    ir2.write_text(out)
    code, _, _ = run(capsys, "compile", str(ir2), "-o", str(tmp_path / "m.alta"))
    assert code == 0
    code, out, _ = run(capsys, "run", str(ir2), "--input", "2 1 0 1")
    assert code == 0 and out == "0 1 1 0  (3 layers)\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no_such_program", "--input", "1"], "neither module:function nor a library"),
        (["run", PROGRAM, "--input", "2 x 1"], "'x' is not an integer token"),
        (["run", PROGRAM], "needs at least one --input"),
        (["run", PROGRAM, "--input", "2 1 7"], "token 7 is outside input_range 3"),
        (["run", "missing.alta", "--input", "1"], "'missing.alta' does not exist"),
        (["run", "./no_such_file.py:build", "--input", "1"], "'./no_such_file.py' does not exist"),
        (["run", FILE_PROGRAM.replace(":build", ":nope"), "--input", "1"], "no attribute 'nope'"),
        (["run", PROGRAM, "--input", "1", "--backend", "nope"], "unknown backend 'nope'"),
        (["compile", PROGRAM, "-o", "/no/such/dir/m.alta"], "directory '/no/such/dir'"),
        (["compile", PROGRAM, "-o", "model.txt"], r"ends in \.alta"),
        (["compile", PROGRAM, "-o", "m.alta", "--pipeline", "no-such-pass"], "no-such-pass"),
        (["export", "tests.cli_program:nope", "-o", "x.onnx"], "no attribute 'nope'"),
    ],
)
def test_user_mistakes_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(ROOT)
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("alta: error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_unwritable_onnx_output(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    code, _, err = run(capsys, "export", PROGRAM, "-o", "/no/such/dir/x.onnx")
    assert code == 1 and "cannot write the ONNX file '/no/such/dir/x.onnx'" in err


def test_a_file_program_that_takes_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "prog.py"
    source.write_text("def build(n):\n    return n\n")
    code, _, err = run(capsys, "run", f"{source}:build", "--input", "1")
    assert code == 1 and "takes arguments" in err
    source.write_text("def build(:\n")
    code, _, err = run(capsys, "run", f"{source}:build", "--input", "1")
    assert code == 1 and "is not valid Python" in err


def test_errors_in_a_subprocess_have_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "alta"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "alta.cli"]
    proc = subprocess.run(
        [*command, "run", "./missing.py:build", "--input", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("alta: error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--pipeline", "not{a pipeline"], "--pipeline"),
        (["--max-layers", "3"], "--max-layers"),
        (["--strict"], "--strict"),
    ],
)
def test_compile_of_a_saved_model_refuses_compile_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], named: str
) -> None:
    """They were silently dropped: `--max-layers 3` wrote a model with max_layers 16."""
    path = tmp_path / "m.alta"
    assert run(capsys, "compile", PROGRAM, "-o", str(path))[0] == 0
    copy = tmp_path / "copy.alta"
    code, _, err = run(capsys, "compile", str(path), "-o", str(copy), *flags)
    assert code == 1 and err.startswith("alta: error: ") and not copy.exists()
    assert f"is a saved model, compiled already: {named}" in err
    assert run(capsys, "compile", str(path), "-o", str(copy))[0] == 0  # a plain copy still works


@pytest.mark.parametrize("opset", ["0", "-3", "5", "99"])
def test_export_refuses_an_opset_out_of_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, opset: str
) -> None:
    pytest.importorskip("onnx")
    out_path = tmp_path / "x.onnx"
    code, _, err = run(capsys, "export", PROGRAM, "-o", str(out_path), "--opset", opset)
    assert code == 1 and err.startswith("alta: error: ") and "Traceback" not in err
    assert f"ONNX opset {opset} is not supported" in err and not out_path.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import no_such_module_zz\ndef build(): pass\n", "raised ModuleNotFoundError"),
        ("def build():\n    raise RuntimeError('boom')\n", "calling it raised RuntimeError: boom"),
        ("1 / 0\n", "raised ZeroDivisionError"),
    ],
)
def test_exceptions_in_the_users_program_file_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, message: str
) -> None:
    path = tmp_path / "prog.py"
    path.write_text(source)
    code, _, err = run(capsys, "run", f"{path}:build", "--input", "0")
    assert code == 1 and err.count("\n") == 1 and err.startswith("alta: error: ")
    assert str(path) in err and message in err
