"""The onnx backend: IR3 as an ONNX model (see `alta.backends.onnx_graph`) run by onnxruntime.

`save` writes the model any `CompiledModel.export_onnx` call produces; `OnnxBackend`
builds an onnxruntime session for `alta.compile(..., backend="onnx")`. The residual
streams of every layer come from a second model whose Loop also emits scan outputs; it
is built on the first `residuals` call only, so plain runs never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import attrs
import numpy as np

from alta.backends import base
from alta.errors import BackendError
from alta.inputs import DEFAULT_MAX_LAYERS
from alta.ir import dense

_OPSET = 17  # onnx_graph.OPSET, without importing onnx
#: The oldest opset the graph is valid in (it needs Optional inputs and Loop outputs of
#: that opset); the newest is the newest the installed onnx package knows.
MIN_OPSET = 17


@attrs.frozen
class SaveOptions:
    """What `CompiledModel.export_onnx` takes besides the path and max_layers."""

    dtype: Literal["float32", "float64"] = base.dtype_option()
    opset: int = _OPSET


@attrs.frozen
class OnnxOptions(base.Options):
    """dtype, device ("cpu", "cuda[:N]"), and onnxruntime's own knobs; `providers`,
    when given, overrides `device`."""

    dtype: Literal["float32", "float64"] = base.dtype_option()
    device: str | None = None
    providers: Sequence[Any] | None = None
    session_options: Any = None
    intra_op_num_threads: int | None = None
    opset: int = _OPSET


def save(
    module: dense.Module, path: str | os.PathLike[str], max_layers: int, **options: Any
) -> None:
    """Write `module` as an ONNX file; `max_layers` is the default of its `max_layers` input.

    Options: `SaveOptions`.
    """
    opts = base.parse_options(SaveOptions, "export_onnx", options)
    model = to_onnx(module, max_layers, opset=opts.opset, dtype=opts.dtype)
    import onnx

    onnx.save(model, os.fspath(path))


def to_onnx(module: dense.Module, max_layers: int, **options: Any) -> Any:
    """`onnx_graph.to_onnx` (an `onnx.ModelProto`), or a BackendError if onnx is missing
    or the opset is out of range."""
    try:
        from alta.backends import onnx_graph
    except ImportError as exc:
        raise BackendError(
            f"ONNX export needs the onnx package ({exc}): pip install 'alta[onnx]'"
        ) from exc
    check_opset(options.get("opset", _OPSET))
    return onnx_graph.to_onnx(module, max_layers, **options)


def check_opset(opset: int) -> None:
    """A BackendError unless alta can build its graph in ONNX opset `opset`: from
    MIN_OPSET to the newest the installed onnx knows (only the lower bound without onnx)."""
    try:
        import onnx
    except ImportError:
        newest, known = None, ""
    else:
        newest = onnx.defs.onnx_opset_version()
        known = f" to {newest}, the newest the installed onnx {onnx.__version__} knows"
    if not isinstance(opset, int) or isinstance(opset, bool):
        raise BackendError(f"the ONNX opset is an int, not {opset!r}")
    if opset < MIN_OPSET or (newest is not None and opset > newest):
        raise BackendError(
            f"ONNX opset {opset} is not supported: alta's graph needs opset {MIN_OPSET}"
            f"{known or ' or later'} (default {_OPSET})"
        )


class OnnxBackend(base.Backend):
    name = "onnx"
    Options = OnnxOptions

    def executor(self, module: dense.Module, options: OnnxOptions) -> OnnxExecutor:
        """An onnxruntime session."""
        chosen = list(options.providers) if options.providers else _providers(options.device)
        session_options = options.session_options
        if session_options is None:
            import onnxruntime as ort

            session_options = ort.SessionOptions()
        if options.intra_op_num_threads is not None:
            session_options.intra_op_num_threads = options.intra_op_num_threads
        executor = OnnxExecutor(module, options.dtype, chosen, session_options, options.opset)
        executor.session = executor.open(residuals=False)
        return executor


def _providers(device: str | None) -> list[Any]:
    """onnxruntime providers for an alta device name ("cpu", "cuda", "cuda:N")."""
    if device in (None, "cpu"):
        return ["CPUExecutionProvider"]
    kind, _, index = device.partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise BackendError(f"onnx backend: unknown device '{device}'; use 'cpu' or 'cuda[:N]'")
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        raise BackendError(
            f"onnx backend: device '{device}' needs onnxruntime's CUDAExecutionProvider, but "
            f"this onnxruntime has only {', '.join(available)}; install the gpu extra "
            "(pip install 'alta[gpu]', which brings onnxruntime-gpu) in an environment "
            "without the CPU-only onnxruntime package"
        )
    return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider"]


@attrs.define
class OnnxExecutor:
    """`session` runs the plain model; `residual_session`, opened on first use, the one
    whose Loop also emits every layer's stream. `max_layers` is fed on every call."""

    module: dense.Module
    dtype: str
    providers: list[Any]
    session_options: Any
    opset: int
    session: Any = None
    residual_session: Any = None

    def open(self, residuals: bool) -> Any:
        import onnxruntime as ort

        limit = self.module.loop.max_layers
        default = limit if limit is not None else DEFAULT_MAX_LAYERS
        model = to_onnx(
            self.module,
            default,
            opset=self.opset,
            dtype=self.dtype,
            residuals=residuals,
            lean=True,
        )
        try:
            session = ort.InferenceSession(
                model.SerializeToString(),
                sess_options=self.session_options,
                providers=self.providers,
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BackendError(
                f"onnx backend: onnxruntime could not load model '{self.module.name}': {exc}"
            ) from exc
        wanted = _name(self.providers[0])
        if wanted not in session.get_providers():
            raise BackendError(
                f"onnx backend: onnxruntime did not start {wanted} for model "
                f"'{self.module.name}' (it runs on {', '.join(session.get_providers())}); "
                "check the CUDA and cuDNN libraries onnxruntime-gpu needs"
            )
        return session

    def execution(self) -> dict[str, Any]:
        """Every MLP weight is a dense MatMul in the graph (`base.MLP_EXECUTION`)."""
        return {base.MLP_EXECUTION: base.mlp_plan(self.module, "dense")}

    def _run(
        self, session: Any, names: list[str], tokens: np.ndarray, lengths: np.ndarray, layers: int
    ) -> list[np.ndarray]:
        feeds = {
            "tokens": np.ascontiguousarray(tokens, dtype=np.int64),
            "lengths": np.ascontiguousarray(lengths, dtype=np.int64),
            "max_layers": np.asarray(layers, dtype=np.int64),
        }
        try:
            return list(session.run(names, feeds))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BackendError(
                f"onnx backend: onnxruntime failed running model '{self.module.name}' on "
                f"tokens of shape {feeds['tokens'].shape}: {exc}"
            ) from exc

    def run(
        self, tokens: np.ndarray, lengths: np.ndarray, max_layers: int
    ) -> tuple[np.ndarray, np.ndarray]:
        x, layers = self._run(self.session, ["residual", "layers"], tokens, lengths, max_layers)
        return x, layers

    def residuals(self, tokens: np.ndarray, lengths: np.ndarray, layers: int) -> np.ndarray:
        if self.residual_session is None:
            self.residual_session = self.open(residuals=True)
        (stack,) = self._run(self.residual_session, ["residuals"], tokens, lengths, layers)
        return stack


def _name(provider: Any) -> str:
    return provider[0] if isinstance(provider, tuple) else str(provider)
