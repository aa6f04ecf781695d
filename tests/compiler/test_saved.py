"""Saved models (`model.save`, `alta.load`): a loaded model gives the saved model's outputs
on every backend, and a file it cannot read is an error that names it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import alta
from alta import programs, saved
from alta.backends import base
from alta.errors import AltaError
from alta.model import CompiledModel

BACKENDS = base.available()


def _inputs(case: programs.ProgramCase, count: int = 4) -> list[list[int]]:
    return case.edge_cases()[:3] + case.generate(np.random.default_rng(0), count)


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompiledModel, Path]:
    case = programs.get("parity_sequential_relative")
    model = alta.compile(case.build())
    path = tmp_path_factory.mktemp("saved") / "parity.alta"
    model.save(path)
    return model, path


@pytest.mark.parametrize("backend", [b for b in ("torch", "jax") if b in BACKENDS])
def test_a_file_holds_the_models_stats_not_how_its_backend_ran(
    backend: str, tmp_path: Path
) -> None:
    model = alta.compile(programs.get("parity_sequential_relative").build(), backend=backend)
    assert base.MLP_EXECUTION in model.stats
    model.save(tmp_path / "m.alta")
    written = saved.read(tmp_path / "m.alta")[1].stats
    assert written == {k: v for k, v in model.stats.items() if k != base.MLP_EXECUTION}


@pytest.mark.parametrize("name", programs.names())
def test_a_loaded_model_gives_identical_outputs_on_every_backend(name: str, tmp_path: Path) -> None:
    case = programs.get(name)
    model = alta.compile(case.build(), max_layers=case.max_layers)
    path = tmp_path / f"{name}.alta"
    model.save(path)
    batch = _inputs(case, 2 if name == "scan" else 4)
    expected = model(batch)
    for backend in BACKENDS:
        loaded = alta.load(path, backend=backend)
        assert loaded(batch) == expected, backend
        assert loaded.backend == backend
    assert str(loaded.ir) == str(model.ir)
    # How the MLP runs (dense or sparse) is the loading backend's, not the file's.
    sizes = {k: v for k, v in loaded.stats.items() if k != base.MLP_EXECUTION}
    assert sizes == {k: v for k, v in model.stats.items() if k != base.MLP_EXECUTION}
    assert loaded.max_layers == model.max_layers


def test_the_file_is_printed_ir3_under_a_versioned_header(
    parity: tuple[CompiledModel, Path],
) -> None:
    model, path = parity
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == saved.MAGIC
    assert f"// format_version: {saved.FORMAT_VERSION}" in lines
    assert any(line.startswith("// alta_version: ") for line in lines[:6])
    assert text.endswith(f"{model.ir}\n")
    weights = path.with_suffix(
        ".safetensors" if importlib.util.find_spec("safetensors") else ".npz"
    )
    assert f"// weights: {weights.name}" in lines and weights.is_file()


def test_load_passes_backend_options(parity: tuple[CompiledModel, Path]) -> None:
    model, path = parity
    loaded = alta.load(path, dtype="float64")
    assert loaded([2, 1, 0, 1]) == model([2, 1, 0, 1])
    with pytest.raises(AltaError, match="unknown option 'colour'"):
        alta.load(path, colour="red")


def test_npz_weights_when_safetensors_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, parity: tuple[CompiledModel, Path]
) -> None:
    model, _ = parity
    monkeypatch.setattr(saved, "_weights_suffix", lambda: ".npz")
    path = tmp_path / "m.alta"
    model.save(path)
    assert (tmp_path / "m.npz").is_file() and "// weights: m.npz" in path.read_text()
    assert alta.load(path)([2, 1, 1]) == model([2, 1, 1])


def test_plain_printed_ir3_with_weights_beside_it_loads(tmp_path: Path) -> None:
    model = alta.compile(programs.get("parity_sequential_relative").build())
    path = tmp_path / "plain.alta"
    path.write_text(f"{model.ir}\n")
    np.savez(tmp_path / "plain.npz", **model.ir.weights)
    assert alta.load(path)([2, 0, 1]) == model([2, 0, 1])


@pytest.mark.parametrize(
    ("version", "why"), [("99", r"format 99.*upgrade alta"), ("-1", "format_version is -1")]
)
def test_a_format_version_alta_cannot_read_is_a_clear_error(
    tmp_path: Path, parity: tuple[CompiledModel, Path], version: str, why: str
) -> None:
    _, path = parity
    other = tmp_path / "other.alta"
    other.write_text(
        path.read_text().replace("// format_version: 1", f"// format_version: {version}")
    )
    with pytest.raises(saved.SavedModelError, match=why):
        alta.load(other)


def _copy(path: Path, to: Path, drop: str = "") -> Path:
    text = "".join(
        line for line in path.read_text().splitlines(True) if not line.startswith(drop or "\0")
    )
    target = to / path.name
    target.write_text(text)
    return target


def test_missing_weights_name_the_file(tmp_path: Path, parity: tuple[CompiledModel, Path]) -> None:
    _, path = parity
    copy = _copy(path, tmp_path)
    with pytest.raises(saved.SavedModelError, match=r"weights file '.*parity\.(safetensors|npz)'"):
        alta.load(copy)


def test_corrupted_weights_name_the_file(
    tmp_path: Path, parity: tuple[CompiledModel, Path]
) -> None:
    _, path = parity
    header = saved.parse_header(path.read_text(), path)
    assert header is not None
    checked = _copy(path, tmp_path)
    (tmp_path / header.weights).write_bytes(b"not weights at all")
    with pytest.raises(saved.SavedModelError, match=rf"'{tmp_path / header.weights}'.*corrupted"):
        alta.load(checked)
    unchecked = _copy(path, tmp_path, drop="// weights_sha256")
    with pytest.raises(
        saved.SavedModelError, match=rf"cannot read the weights file '.*{header.weights}'"
    ):
        alta.load(unchecked)


def test_weights_that_do_not_fit_the_text_name_the_model(
    tmp_path: Path, parity: tuple[CompiledModel, Path]
) -> None:
    _, path = parity
    alta.compile(programs.get("addition").build()).save(tmp_path / "parity.alta")
    text = tmp_path / "text.alta"  # parity's text, naming addition's weights unchecked
    text.write_text(_copy(path, tmp_path, drop="// weights_sha256").read_text())
    with pytest.raises(saved.SavedModelError, match=r"text\.alta': .*weight '@"):
        alta.load(text)


@pytest.mark.parametrize("name", ["missing.alta", "model.txt"])
def test_bad_paths(tmp_path: Path, parity: tuple[CompiledModel, Path], name: str) -> None:
    model, _ = parity
    if name == "model.txt":
        with pytest.raises(saved.SavedModelError, match=r"ends in \.alta"):
            model.save(tmp_path / name)
    else:
        with pytest.raises(saved.SavedModelError, match=r"missing\.alta' does not exist"):
            alta.load(tmp_path / name)
    with pytest.raises(saved.SavedModelError, match="does not exist"):
        model.save(tmp_path / "no" / "such" / "dir.alta")


@pytest.mark.parametrize("name", ["sub/parity.safetensors", "../parity.safetensors", "/etc/x", ""])
def test_a_weights_header_that_is_not_a_bare_name_is_refused(
    tmp_path: Path, parity: tuple[CompiledModel, Path], name: str
) -> None:
    """An edited `// weights:` line once raised a bare ValueError from Path.with_name."""
    _, path = parity
    header = saved.parse_header(path.read_text(), path)
    assert header is not None
    edited = tmp_path / "edited.alta"
    edited.write_text(
        path.read_text().replace(f"// weights: {header.weights}", f"// weights: {name}")
    )
    with pytest.raises(saved.SavedModelError, match=r"edited\.alta'.*not a bare file name"):
        alta.load(edited)


@pytest.mark.parametrize("bad", [None, 3, b"parity.alta"])
def test_a_path_that_is_not_a_path_is_a_saved_model_error(
    parity: tuple[CompiledModel, Path], bad: object
) -> None:
    model, _ = parity
    with pytest.raises(saved.SavedModelError, match=r"not (NoneType|int|bytes)"):
        alta.load(bad)  # type: ignore[arg-type]
    with pytest.raises(saved.SavedModelError, match=r"not (NoneType|int|bytes)"):
        model.save(bad)  # type: ignore[arg-type]


def test_a_directory_is_named_as_one(tmp_path: Path, parity: tuple[CompiledModel, Path]) -> None:
    model, _ = parity
    folder = tmp_path / "folder.alta"
    folder.mkdir()
    with pytest.raises(saved.SavedModelError, match="is a directory"):
        alta.load(folder)
    with pytest.raises(saved.SavedModelError, match="is a directory"):
        model.save(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.alta"]  # no orphan weights


def test_repr_is_one_short_line(parity: tuple[CompiledModel, Path]) -> None:
    model, _ = parity
    text = repr(model)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("CompiledModel('parity_sequential_relative', backend='numpy', d_model=")


@pytest.mark.skipif("onnx" not in BACKENDS, reason="needs onnx")
def test_export_onnx_without_a_halt_test_takes_max_layers(tmp_path: Path) -> None:
    model = alta.compile(programs.get("parity_sum_mod_2").build())
    assert model.ir.loop.halt is None and model.max_layers is None
    with pytest.raises(AltaError, match="pass max_layers=N to export_onnx"):
        model.export_onnx(str(tmp_path / "a.onnx"))
    model.export_onnx(str(tmp_path / "a.onnx"), max_layers=1)
    assert (tmp_path / "a.onnx").stat().st_size > 0
