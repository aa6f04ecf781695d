"""The backend contract and registry (built-ins plus the entry-point group `alta.backends`).

A backend turns an IR3 module into an `Executor`: something that runs padded token
batches through the layer loop and hands back the final residual stream. Decoding,
padding and halting bookkeeping shared by all backends live in `alta.model`.

A backend's options (dtype, device, and its own) are the fields of a frozen attrs class,
read from keywords or `key=value` text and checked by `parse_options` with the code that
reads pass options (`alta.passes.option_types`), as passes' are.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal, Protocol

import attrs
import numpy as np

from alta.errors import BackendError
from alta.ir import dense
from alta.passes import option_types

ENTRY_POINT_GROUP = "alta.backends"

#: name -> ("module:Class", modules it needs, extra to install)
BUILTIN: dict[str, tuple[str, tuple[str, ...], str]] = {
    "numpy": ("alta.backends.numpy_backend:NumpyBackend", ("numpy",), ""),
    "torch": ("alta.backends.torch_backend:TorchBackend", ("torch",), "torch"),
    "jax": ("alta.backends.jax_backend:JaxBackend", ("jax",), "jax"),
    "onnx": ("alta.backends.onnx_backend:OnnxBackend", ("onnx", "onnxruntime"), "onnx"),
}


class Executor(Protocol):
    """Runs a compiled model. Arrays in and out are numpy. It may also have an
    `execution() -> dict` method: stats on how it runs (see `execution` below)."""

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


def execution(executor: Any) -> dict[str, Any]:
    """Stats entries on how `executor` runs (e.g. `MLP_EXECUTION`), from its optional
    `execution()` method; `CompiledModel` merges them into `model.stats`. An executor
    without the method reports nothing, so third-party ones need not write it."""
    hook = getattr(executor, "execution", None)
    return dict(hook()) if callable(hook) else {}


# ---------------------------------------------------------------------- sparse MLP weights

MLPMode = Literal["auto", "dense", "sparse"]

#: The stats key naming, per MLP weight matrix (w and skips), how an executor runs it:
#: "dense", "sparse", or "dense-fallback" (sparse was chosen but the device has no sparse
#: kernel for the dtype, e.g. torch float16 on CPU).
MLP_EXECUTION = "mlp_execution"

#: `mlp="auto"` runs an MLP sparse when its weight matrices have at least this many
#: entries in all ...
SPARSE_MIN_ENTRIES = 1 << 17
#: ... and at most this fraction of them is nonzero. Sparse products run tokens last
#: (h^T), and a dense weight there is slower than in the usual layout, so an MLP runs
#: sparse or dense as a whole. Measured on one CPU thread (docs/sparse-execution.md).
SPARSE_MAX_DENSITY = 0.10


def mlp_option() -> Any:
    """The `mlp` field of an options class: how MLP weight matrices are multiplied."""
    return attrs.field(
        default="auto",
        metadata={"help": "MLP weights as dense or sparse matrices; auto: by size and density"},
    )


def mlp_plan(module: dense.Module, mode: MLPMode) -> dict[str, str]:
    """Per MLP weight matrix (each layer's w and skips; biases stay dense), "dense" or
    "sparse": `mode` itself, or for "auto" one choice for the whole MLP, by
    `SPARSE_MIN_ENTRIES` and `SPARSE_MAX_DENSITY`."""
    names = module.loop.mlp.matrix_names()
    if mode == "auto":
        size = sum(module.weights[n].size for n in names)
        nonzero = sum(np.count_nonzero(module.weights[n]) for n in names)
        thin = size >= SPARSE_MIN_ENTRIES and nonzero <= SPARSE_MAX_DENSITY * size
        mode = "sparse" if thin else "dense"
    return dict.fromkeys(names, mode)


def dtype_name(value: Any) -> Any:
    """A dtype as its name, so that np.float64, np.dtype("f8") and torch.float64 all read
    "float64"; a name numpy does not know ("bfloat16") and None stay as they are."""
    if value is None:
        return None
    try:
        return np.dtype(value).name
    except (TypeError, ValueError):
        return value if isinstance(value, str) else str(value).removeprefix("torch.")


def dtype_option(default: str = "float32") -> Any:
    """The `dtype` field of an options class; annotate it with the dtypes allowed."""
    return attrs.field(default=default, converter=dtype_name)


@attrs.frozen
class Options:
    """What every backend takes. A backend's own `Options` subclasses this: each option
    is a field whose annotation says what it may be (e.g. `dtype: Literal[...]`), so
    `parse_options` checks keyword and text values alike, with no checks per backend."""

    dtype: str = dtype_option()
    device: str | None = None


#: What `alta.compile` always passes: an options class without one of these fields still
#: accepts it at its default (and drops it), so it needs to declare only its own options.
_ALWAYS_PASSED = {"dtype": "float32", "device": None}


def parse_options(
    cls: type[Any], owner: str, keywords: Mapping[str, Any] = {}, text: Iterable[str] = ()
) -> Any:
    """An instance of the attrs class `cls` from keyword arguments and `key=value` text
    (as a command line spells them; `-` for `_` is fine), or a `BackendError` that says
    which option of `owner` ("torch backend") is unknown or ill-typed, and what it takes."""
    known = {opt.field: opt for opt in option_types.fields(cls)}
    given = dict(keywords)
    for item in text:
        key, value = _from_text(item, known, owner)
        if key in given:
            raise BackendError(f"{owner}: option '{key}' is given twice")
        given[key] = value
    for key, default in _ALWAYS_PASSED.items():
        if key not in known and key in given and given[key] == default:
            del given[key]
    unknown = [key for key in given if key not in known]
    if unknown:
        raise BackendError(_unknown(owner, unknown, list(known)))
    try:
        made = cls(**given)
    except (TypeError, ValueError) as exc:
        raise BackendError(f"{owner}: bad options: {exc}") from exc
    for opt in known.values():
        if not option_types.conforms(getattr(made, opt.field), opt.type):
            value = given.get(opt.field, getattr(made, opt.field))
            raise BackendError(
                f"{owner}: option '{opt.field}' takes {option_types.describe(opt.type)}, "
                f"not {value!r}"
            )
    return made


def _from_text(item: str, known: dict[str, Any], owner: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise BackendError(f"{owner}: expected an option as key=value, got '{item}'")
    if key not in known:
        raise BackendError(_unknown(owner, [key], list(known)))
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    where = f"{owner}: option '{key}'"
    value = option_types.convert(
        text[1:-1] if quoted else text, known[key].type, where, quoted, error=BackendError
    )
    return key, value


def _unknown(owner: str, unknown: list[str], known: list[str]) -> str:
    names = ", ".join(f"'{key}'" for key in unknown)
    close = [c for key in unknown for c in difflib.get_close_matches(key, known, n=1, cutoff=0.6)]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    plural = "s" if len(unknown) > 1 else ""
    return f"{owner}: unknown option{plural} {names}{hint} (known options: {', '.join(known)})"


class Backend:
    """Base of backends. `Options` (a frozen attrs class, `Options` by default: dtype and
    device only) declares what `alta.compile`'s keyword arguments may set; `build` parses
    them into one and hands it to `executor`, which each backend implements.

    A third-party backend (entry-point group `alta.backends`) sets `name`, implements
    `executor`, and declares `Options` if it takes more than dtype and device."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[Any]] = Options

    def build(
        self,
        module: dense.Module,
        *,
        dtype: Any = "float32",
        device: str | None = None,
        **options: Any,
    ) -> Executor:
        """What `alta.compile` calls: the options checked (`parse`), then `executor`."""
        return self.executor(module, self.parse(dict(options, dtype=dtype, device=device)))

    def parse(self, keywords: Mapping[str, Any] = {}, text: Iterable[str] = ()) -> Any:
        """This backend's options from keyword arguments and `key=value` text."""
        return parse_options(
            self.Options, f"{self.name or type(self).__name__} backend", keywords, text
        )

    def executor(self, module: dense.Module, options: Any) -> Executor:
        raise NotImplementedError(f"backend '{self.name}' does not implement executor()")


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
