"""`alta show`: pictures decoded from the compiled model's residuals, beside the
interpreter's values; a self-contained HTML page, checked in a real browser when one is
installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest

import alta
from alta import cli, programs, show
from alta.errors import InputError
from alta.model import CompiledModel
from alta.show import views

pytest.importorskip("matplotlib")

PARITY = "parity_sequential_relative"


@pytest.fixture(scope="module")
def parity() -> tuple[alta.Program, CompiledModel]:
    program = programs.get(PARITY).build()
    return program, alta.compile(program)


@pytest.fixture(scope="module")
def parity_view(parity: tuple[alta.Program, CompiledModel]) -> views.View:
    program, model = parity
    return show.view(model, [2, 1, 0, 1, 1], program=program)


def test_decoded_residuals_equal_the_interpreter(parity_view: views.View) -> None:
    v = parity_view
    assert v.interpreted is not None and v.halted
    assert v.mismatches() == []
    assert v.compiled[-1]["parity"] == alta.interpret(programs.get(PARITY).build(), [2, 1, 0, 1, 1])
    assert "parity=0" in v.labels and "done=1" in v.labels
    assert v.residuals.shape == (v.layers + 1, 5, len(v.labels))


def test_set_and_numerical_program_decodes_to_the_interpreter() -> None:
    program = programs.get("sort_unique").build()
    v = show.view(alta.compile(program), [0, 3, 1, 2], program=program)
    assert v.interpreted is not None and v.mismatches() == []
    assert any("∋" in label for label in v.labels)  # a set's members
    assert "x" in v.labels  # a number's value dim
    assert v.compiled[-1]["output"] == alta.interpret(program, [0, 3, 1, 2])


def test_attention_rows_sum_to_one_and_the_relative_head_looks_left(
    parity_view: views.View,
) -> None:
    for head in parity_view.heads:
        pattern = parity_view.attention[head]  # [layers, N, N + 1]
        np.testing.assert_allclose(pattern.sum(axis=2), 1.0, atol=1e-9)
        top = pattern.argmax(axis=2)
        assert (top[:, 0] == 5).all()  # position 0 has no left neighbour: the null slot
        assert (top[:, 1:] == np.arange(4)).all()


def test_rules_fired_come_from_the_ir2_rules(parity_view: views.View) -> None:
    assert parity_view.rules and parity_view.rules[0].startswith("rule #0")
    assert parity_view.fired is not None and len(parity_view.fired) == parity_view.layers
    assert any(rules for layer in parity_view.fired for rules in layer)


def test_page_is_self_contained_with_figures_and_tables(
    parity_view: views.View, tmp_path: Path
) -> None:
    page = show.page.write(parity_view, tmp_path)
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 3
    assert "http://" not in text and "https://" not in text
    assert text.count("<table>") == parity_view.layers + 2  # values per layer, then rules
    assert "rule #0" in text and "every decoded value equals" in text
    assert {p.name for p in tmp_path.iterdir()} >= {"residuals.png", "attention.png"}


def test_a_mismatch_is_highlighted(parity_view: views.View, tmp_path: Path) -> None:
    last = dict(parity_view.compiled[-1])
    last["parity"] = [1 - p for p in last["parity"]]
    wrong = attrs.evolve(parity_view, compiled=(*parity_view.compiled[:-1], last))
    assert {(k, name) for k, name, _ in wrong.mismatches()} == {(wrong.layers, "parity")}
    text = show.page.write(wrong, tmp_path).read_text()
    assert text.count('class="bad"') == 5 and "5 value(s) differ" in text


def test_model_show_returns_a_figure(parity: tuple[alta.Program, CompiledModel]) -> None:
    from matplotlib.figure import Figure

    program, model = parity
    assert isinstance(model.show([2, 1, 0], program=program), Figure)
    assert isinstance(model.show([2, 1, 0], layer=0), Figure)
    with pytest.raises(show.VizError, match=r"layer 9 is not in 0\.\.2"):
        model.show([2, 1, 0], layer=9)
    with pytest.raises(InputError, match="one input sequence"):
        show.view(model, [[2, 1], [2, 0]])


def test_missing_matplotlib_names_the_extra(
    parity_view: views.View, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(show.VizError, match=r"pip install 'alta\[viz\]'"):
        show.figures.figure(parity_view)


def test_cli_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["show", PARITY, "--input", "2 1 0 1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "0 value(s) differ from the interpreter" in out
    assert (tmp_path / "index.html").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([PARITY, "--input", "2 x 1"], "'x' is not an integer token"),
        ([PARITY, "--input", "2 7 1"], "token 7 is outside input_range 3"),
        (["no_such_program", "--input", "1"], "'no_such_program' is neither"),
    ],
)
def test_cli_user_mistakes(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["show", *argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("alta: error:") and message in err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_the_page_renders_in_headless_chromium(parity_view: views.View, tmp_path: Path) -> None:
    import matplotlib.image

    page = show.page.write(parity_view, tmp_path / "page")
    shot = tmp_path / "shot.png"
    command = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri(),
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path)}  # chromium's profile, not the user's
    subprocess.run(command, check=True, capture_output=True, timeout=120, env=env)
    pixels = matplotlib.image.imread(shot)[..., :3]  # [2000, 1200, 3] in [0, 1]
    assert pixels.shape[:2] == (2000, 1200)
    figures = pixels[150:1900, 20:900]  # below the heading, where the images sit
    assert figures.std() > 0.1  # not blank
    dark = (figures.sum(axis=2) < 1.0).mean()  # the heatmaps' one-hot cells, the text
    assert dark > 0.01
    red = (figures[..., 0] > 0.3) & (figures[..., 1] < 0.1) & (figures[..., 2] < 0.2)
    blue = (figures[..., 2] > 0.3) & (figures[..., 0] < 0.1)
    assert red.mean() > 0.005 and blue.mean() > 0.005  # the residual and attention maps


def test_two_inputs_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The first --input was silently dropped."""
    argv = ["show", "parity_sequential_relative", "--input", "2 1", "--input", "2 0"]
    code = cli.main([*argv, "--out", str(tmp_path / "page")])
    err = capsys.readouterr().err
    assert code == 1 and "--input is given 2 times" in err and not (tmp_path / "page").exists()
