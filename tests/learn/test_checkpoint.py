"""Checkpoints: a saved MLP loads bit for bit; files it cannot read are refused clearly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.torch import save_file  # noqa: E402

from alta.errors import AltaError  # noqa: E402
from alta.learn import checkpoint, optim, trace_mlp  # noqa: E402
from alta.learn.plugged import PluggedModel  # noqa: E402

PARITY = "parity_sequential_relative"


def test_round_trip_is_bit_identical(trained_parity: Any, compiled: Any, tmp_path: Path) -> None:
    path = tmp_path / "mlp.safetensors"
    checkpoint.save(path, trained_parity)
    loaded = checkpoint.load(path)
    assert loaded.config == trained_parity.config
    assert (loaded.d_model, loaded.program) == (trained_parity.d_model, PARITY)
    assert loaded.history == trained_parity.history
    x = torch.randn(64, loaded.d_model, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        assert torch.equal(loaded.apply(x), trained_parity.apply(x))
    model = compiled(PARITY)
    batch = [[2, 1, 0, 1, 1], [2, 0], [2, 1, 1, 1, 0, 1, 0, 0, 1]]
    a = PluggedModel(model, trained_parity).residuals(batch, 8)
    b = PluggedModel(model, loaded).residuals(batch, 8)
    assert (a == b).all()


def test_every_config_field_survives(tmp_path: Path, parity_trace: Any) -> None:
    config = trace_mlp.MLPConfig(
        hidden=(7, 5, 3),
        activation="tanh",
        residual=False,
        noise_std=0.25,
        undefined_noise=None,
        optimizer="adam",
        schedule=optim.Schedule(lr=3e-3, warmup_steps=2, steps=5, decay_factor=0.5),
        batch_size=16,
    )
    mlp = trace_mlp.train_mlp(parity_trace, config, seed=2, log_every=2)
    checkpoint.save(tmp_path / "m.safetensors", mlp)
    loaded = checkpoint.load(tmp_path / "m.safetensors")
    assert loaded.config == config and loaded.history == mlp.history
    assert [step for step, _ in loaded.history] == [2, 4, 5]


def _write(path: Path, metadata: dict[str, str]) -> None:
    save_file({"0.weight": torch.zeros(2, 2)}, str(path), metadata=metadata)


def test_a_newer_format_is_refused_by_name(tmp_path: Path, trained_parity: Any) -> None:
    path = tmp_path / "new.safetensors"
    checkpoint.save(path, trained_parity)
    with open(path, "rb") as f:  # rewrite the same tensors under a newer format version
        from safetensors.torch import load

        tensors = load(f.read())
    metadata = {
        "format": checkpoint.FORMAT,
        "format_version": str(checkpoint.FORMAT_VERSION + 1),
        "alta_version": "9.0.0",
    }
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(checkpoint.CheckpointError, match=r"format version 2.*newer alta \(9.0.0\)"):
        checkpoint.load(path)
    assert issubclass(checkpoint.CheckpointError, AltaError)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "not an alta trace-MLP checkpoint"),
        ({"format": "alta-trace-mlp", "format_version": "x"}, "bad format_version"),
        ({"format": "alta-trace-mlp", "format_version": "1"}, "bad metadata"),
    ],
)
def test_foreign_files_are_refused(tmp_path: Path, metadata: dict[str, str], message: str) -> None:
    path = tmp_path / "f.safetensors"
    _write(path, metadata)
    with pytest.raises(checkpoint.CheckpointError, match=message):
        checkpoint.load(path)


def test_unreadable_files_are_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(checkpoint.CheckpointError, match="cannot read"):
        checkpoint.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(checkpoint.CheckpointError, match="cannot read"):
        checkpoint.load(tmp_path / "junk.safetensors")


def test_only_nets_the_config_describes_are_saved(tmp_path: Path) -> None:
    mlp = trace_mlp.TrainedMLP(torch.nn.Linear(8, 8), trace_mlp.MLPConfig(), 8)
    with pytest.raises(checkpoint.CheckpointError, match="not the one its config describes"):
        checkpoint.save(tmp_path / "x.safetensors", mlp)
