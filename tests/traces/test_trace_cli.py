"""`alta trace` (alta.traces.cli.main): shards from a file of inputs; errors that name
the file, the line and the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from alta import traces
from alta.errors import AltaError
from alta.traces import cli


def test_a_good_run_writes_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text("# START then bits\n2 1 0 1\n\n2 1 1\n2\n")
    out = tmp_path / "out"
    code = cli.main(
        ["parity_sequential_relative", "--inputs", str(inputs), "--out", str(out), "--seed", "3"]
    )
    assert code == 0
    assert "3 sequences" in capsys.readouterr().out
    manifest = traces.read_manifest(out)
    assert manifest["sequences"] == 3 and manifest["seed"] == 3
    shards = list(traces.read(out))
    assert traces.concat(shards).inputs == ((2, 1, 0, 1), (2, 1, 1), (2,))


def test_no_noise_and_max_layers(tmp_path: Path) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text("2 1 0 1 1\n")
    out = tmp_path / "out"
    args = ["--no-noise", "--max-layers", "2", "--shard-records", "4"]
    cli.main(["parity_sequential_relative", "--inputs", str(inputs), "--out", str(out), *args])
    manifest = traces.read_manifest(out)
    assert manifest["noise"] is None and manifest["records"] == 10
    assert all(s["records"] <= 4 for s in manifest["shards"])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("2 1 0\n2 1 x 1\n", r"in\.txt:2: token 3 'x' is not an integer"),
        ("2 1\n\n2 1 5\n", r"in\.txt:3: token 3 '5' is outside input_range 3"),
        ("2 -1\n", r"in\.txt:1: token 2 '-1' is outside input_range"),
    ],
)
def test_bad_inputs_name_file_line_and_token(tmp_path: Path, text: str, match: str) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text(text)
    with pytest.raises(AltaError, match=match):
        cli.main(["parity_sequential_relative", "--inputs", str(inputs), "--out", str(tmp_path)])


def test_a_missing_file_and_an_unknown_program(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(AltaError, match=r"nope\.txt: no such input file"):
        cli.main(["parity_sequential_relative", "--inputs", str(missing), "--out", str(tmp_path)])
    with pytest.raises(AltaError, match="library programs"):
        cli.main(["no_such_program", "--inputs", str(missing), "--out", str(tmp_path)])


def test_a_module_attr_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    inputs = tmp_path / "in.txt"
    inputs.write_text("2 1 0 1\n")
    out = tmp_path / "out"
    assert cli.main(["tests.cli_program:build", "--inputs", str(inputs), "--out", str(out)]) == 0
    assert traces.read_manifest(out)["program"] == "cli_parity"


def test_an_out_dir_that_cannot_be_made_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alta import cli as alta_cli

    inputs = tmp_path / "in.txt"
    inputs.write_text("2 1 0 1\n")
    code = alta_cli.main(
        ["trace", "parity_sequential_relative", "--inputs", str(inputs), "--out", f"{inputs}/sub"]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("alta: error: cannot make the trace directory")
    assert "Traceback" not in err
