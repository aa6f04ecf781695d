"""`alta data scan`: it writes the split it names, and a user's mistake is a `UsageError`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alta.data import cli
from alta.errors import UsageError


def test_writes_the_length_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scan"
    assert cli.main(["scan", "--split", "length", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["split"] == "length"
    assert manifest["counts"] == {"train": 16_990, "test": 3_920}
    assert len((out / "test.jsonl").read_text().splitlines()) == 3_920
    assert "16990 train and 3920 test" in capsys.readouterr().out


def test_seed_reaches_the_simple_split(tmp_path: Path) -> None:
    cli.main(["scan", "--split", "simple", "--seed", "7", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "manifest.json").read_text())["seed"] == 7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "--split", "mcd1", "--out", "x"], "invalid choice: 'mcd1'"),
        (["scan", "--split", "length"], "--out"),
        (["scan", "--split", "simple", "--seed", "x", "--out", "y"], "invalid int value"),
        (["cogs"], "invalid choice: 'cogs'"),
        ([], "needs a data set"),
    ],
)
def test_mistakes_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        cli.main(argv)


def test_out_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is not a directory"):
        cli.main(["scan", "--split", "length", "--out", str(tmp_path / "f")])
