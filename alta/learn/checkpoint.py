"""Checkpoints of a trained MLP: its tensors in safetensors, everything else in the
file's metadata (string to string), so one file is the whole model and loads bit for bit.

Metadata: `format` and `format_version` (a file from a newer alta is refused, not
misread), `alta_version`, and as JSON `config` (`MLPConfig`), `d_model`, `program`,
`history`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from typing import Any

import attrs
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from alta.errors import CheckpointError
from alta.learn import optim
from alta.learn.trace_mlp import MLPConfig, TrainedMLP, build_net

FORMAT, FORMAT_VERSION = "alta-trace-mlp", 1


def _alta_version() -> str:
    try:
        return importlib.metadata.version("alta")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _config_json(config: MLPConfig) -> str:
    return json.dumps(attrs.asdict(config, recurse=True), sort_keys=True)


def _config_from(text: str) -> MLPConfig:
    fields = json.loads(text)
    fields["schedule"] = optim.Schedule(**fields["schedule"])
    return MLPConfig(**fields)


def save(path: str | os.PathLike[str], mlp: TrainedMLP) -> None:
    """Write `mlp` to `path` (a `.safetensors` file). Only nets that `build_net` makes
    from the config can be saved, since that is how `load` rebuilds them."""
    state = mlp.net.state_dict()
    expected = build_net(mlp.d_model, mlp.config).state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in state):
        raise CheckpointError(
            f"the MLP's net is not the one its config describes ({sorted(state)} vs "
            f"{sorted(expected)}); only nets made by train_mlp or build_net can be saved"
        )
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "alta_version": _alta_version(),
        "config": _config_json(mlp.config),
        "d_model": str(mlp.d_model),
        "program": mlp.program,
        "history": json.dumps(mlp.history),
    }
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    try:
        save_file(tensors, os.fspath(path), metadata=metadata)
    except OSError as err:
        raise CheckpointError(f"cannot write checkpoint '{path}': {err}") from err


def load(path: str | os.PathLike[str]) -> TrainedMLP:
    """The MLP saved at `path`, in eval mode, computing exactly what it computed."""
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"cannot read checkpoint '{path}': {err}") from err
    _check_format(path, metadata)
    try:
        config = _config_from(metadata["config"])
        d_model = int(metadata["d_model"])
        history = [(int(s), float(v)) for s, v in json.loads(metadata.get("history", "[]"))]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint '{path}' has bad metadata: {err!r}") from err
    net = build_net(d_model, config)
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint '{path}' does not fit its config: {err}") from err
    net.eval()
    return TrainedMLP(net, config, d_model, history, metadata.get("program", ""))


def _check_format(path: Any, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is not an alta trace-MLP checkpoint (format {metadata.get('format')!r})"
        )
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise CheckpointError(
            f"checkpoint '{path}' has a bad format_version {metadata.get('format_version')!r}"
        ) from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {version}, written by a newer alta "
            f"({metadata.get('alta_version', 'unknown')}); this alta ({_alta_version()}) reads "
            f"up to version {FORMAT_VERSION}: upgrade alta to load it"
        )
    if version < 1:
        raise CheckpointError(f"checkpoint '{path}' has a bad format_version {version}")
