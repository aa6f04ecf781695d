"""The backend contract and registry (built-ins plus the entry-point group `alta.backends`).

A backend turns an IR3 module into an `Executor`: something that runs padded token
batches through the layer loop and hands back the final residual stream. Decoding,
padding and halting bookkeeping shared by all backends live in `alta.compiled`.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

import numpy as np

from alta.errors import BackendError
from alta.ir import dense

ENTRY_POINT_GROUP = "alta.backends"

#: name -> ("module:Class", modules it needs, extra to install)
BUILTIN: dict[str, tuple[str, tuple[str, ...], str]] = {
    "numpy": ("alta.backends.numpy_backend:NumpyBackend", ("numpy",), ""),
    "torch": ("alta.backends.torch_backend:TorchBackend", ("torch",), "torch"),
    "jax": ("alta.backends.jax_backend:JaxBackend", ("jax",), "jax"),
    "onnx": ("alta.backends.onnx_backend:OnnxBackend", ("onnx", "onnxruntime"), "onnx"),
}


class Executor(Protocol):
    """Runs a compiled model. Arrays in and out are numpy."""

    def run(
        self, tokens: np.ndarray, lengths: np.ndarray, max_layers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Final residual [B, N, d] and layers per sequence [B].

        Each sequence stops on its own when it halts, or when a layer leaves its real
        positions exactly unchanged (a fixed point: it is frozen there). The layer count
        is the interpreter's: the layers run until a sequence halted, and max_layers for
        a sequence that did not halt (it ran out, or sits at a fixed point).
        """
        ...

    def residuals(self, tokens: np.ndarray, lengths: np.ndarray, layers: int) -> np.ndarray:
        """The residual stream after the embedding and after each of `layers` layers:
        [layers + 1, B, N, d], halted sequences frozen."""
        ...


class Backend:
    """Base of backends. `build` gets the IR3 module and the options of `alta.compile`."""

    name: ClassVar[str] = ""

    def build(
        self,
        module: dense.Module,
        *,
        dtype: str = "float32",
        device: str | None = None,
        **options: Any,
    ) -> Executor:
        raise NotImplementedError


def _third_party() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Backends whose dependencies are importable, built-ins first."""
    names = [
        n
        for n, (_, needs, _) in BUILTIN.items()
        if all(importlib.util.find_spec(m) is not None for m in needs)
    ]
    return names + sorted(n for n in _third_party() if n not in BUILTIN)


def get(name: str) -> Backend:
    """Instantiate a backend by name, or raise a `BackendError` that says how to get it."""
    if name in BUILTIN:
        target, needs, extra = BUILTIN[name]
        missing = [m for m in needs if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendError(
                f"backend '{name}' needs {', '.join(missing)}: pip install 'alta[{extra}]' "
                f"(available backends: {', '.join(available())})"
            )
        module_name, cls_name = target.split(":")
        return getattr(importlib.import_module(module_name), cls_name)()
    plugins = _third_party()
    if name in plugins:
        return plugins[name].load()()
    raise BackendError(f"unknown backend '{name}'; available backends: {', '.join(available())}")
