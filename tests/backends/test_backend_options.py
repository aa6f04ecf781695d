"""Backend options are frozen attrs classes, read from keywords or `key=value` text by one
parser (`base.parse_options`, on `alta.passes.option_types`), with errors that name the
backend, the option, the value and what it takes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest

import alta
from alta import programs
from alta.backends import base, numpy_backend
from alta.errors import BackendError
from alta.ir import dense
from alta.passes import base as pass_base
from alta.passes import option_types


def _program() -> Any:
    return programs.get("parity_sequential_relative_rules").build()


@pytest.fixture(params=base.available())
def backend(request: pytest.FixtureRequest) -> base.Backend:
    return base.get(request.param)


def test_options_are_frozen_attrs_classes(backend: base.Backend) -> None:
    cls = backend.Options
    assert attrs.has(cls) and issubclass(cls, base.Options)
    assert {"dtype", "device"} <= {opt.field for opt in option_types.fields(cls)}
    defaults = backend.parse()
    assert defaults == cls() and defaults.dtype == "float32" and defaults.device is None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        defaults.dtype = "float64"


def test_text_of_every_default_reads_back_as_it(backend: base.Backend) -> None:
    """What text can write round-trips through `format_value`; the rest is Python-only."""
    for opt in option_types.fields(backend.Options):
        if opt.type is Any:
            continue
        text = f"{opt.field}={pass_base.format_value(opt.default)}"
        assert backend.parse(text=[text]) == backend.parse({opt.field: opt.default})


def test_unknown_option_names_backend_option_and_known_ones(backend: base.Backend) -> None:
    with pytest.raises(BackendError) as err:
        alta.compile(_program(), backend=backend.name, frobnicate=True)
    message = str(err.value)
    assert f"{backend.name} backend: unknown option 'frobnicate'" in message
    assert "known options: dtype, device" in message
    with pytest.raises(BackendError, match="did you mean 'dtype'"):
        backend.parse(text=["dtpye=float64"])


def test_bad_dtype_names_value_and_allowed_ones(backend: base.Backend) -> None:
    pattern = f"{backend.name} backend: option 'dtype' takes one of 'float.*, not 'int8'"
    with pytest.raises(BackendError, match=pattern):
        alta.compile(_program(), backend=backend.name, dtype="int8")
    with pytest.raises(BackendError, match=r"option 'dtype': expected one of float.*got 'int8'"):
        backend.parse(text=["dtype=int8"])


def test_dtype_spellings_are_one_option(backend: base.Backend) -> None:
    want = backend.parse({"dtype": "float64"})
    assert backend.parse({"dtype": np.float64}) == want
    assert backend.parse({"dtype": np.dtype("f8")}) == want
    assert backend.parse(text=["dtype=float64"]) == want


def test_bad_device_is_a_backend_error(backend: base.Backend) -> None:
    with pytest.raises(BackendError, match=f"{backend.name} backend.*device.*'tpu7'"):
        alta.compile(_program(), backend=backend.name, device="tpu7")
    with pytest.raises(BackendError, match=f"{backend.name} backend: option 'device' takes"):
        backend.parse({"device": 3})


def test_text_and_keywords_give_equal_options() -> None:
    cases: dict[str, tuple[list[str], dict[str, Any]]] = {
        "numpy": (["dtype=float64", "device=cpu"], {"dtype": "float64", "device": "cpu"}),
        "jax": (["bucket=false", "device=none"], {"bucket": False, "device": None}),
        "torch": (
            ["compile=aot_eager", "cuda-graphs=false", "dtype=bfloat16"],
            {"compile": "aot_eager", "cuda_graphs": False, "dtype": "bfloat16"},
        ),
        "onnx": (["intra_op_num_threads=2", "opset=17"], {"intra_op_num_threads": 2}),
    }
    for name in base.available():
        text, keywords = cases[name]
        backend = base.get(name)
        assert backend.parse(text=text) == backend.parse(keywords)


def test_bad_values_name_option_value_and_type() -> None:
    if "jax" not in base.available():
        pytest.skip("jax is not installed")
    jax = base.get("jax")
    with pytest.raises(BackendError, match="jax backend: option 'bucket' takes bool, not 'yes'"):
        jax.parse({"bucket": "yes"})
    with pytest.raises(BackendError, match="jax backend: option 'bucket': expected bool, got '64'"):
        jax.parse(text=["bucket=64"])
    with pytest.raises(BackendError, match="option 'bucket' is given twice"):
        jax.parse({"bucket": True}, text=["bucket=false"])
    with pytest.raises(BackendError, match="expected an option as key=value, got 'bucket'"):
        jax.parse(text=["bucket"])


def test_python_only_option_in_text_says_so() -> None:
    if "onnx" not in base.available():
        pytest.skip("onnx is not installed")
    with pytest.raises(BackendError, match=r"'session_options'.*only be set from Python"):
        base.get("onnx").parse(text=["session_options=fast"])


def test_export_options_go_through_the_same_parser(tmp_path: Any) -> None:
    if "onnx" not in base.available():
        pytest.skip("onnx is not installed")
    model = alta.compile(_program(), max_layers=8)
    with pytest.raises(BackendError, match="export_onnx: option 'opset' takes int, not '17'"):
        model.export_onnx(str(tmp_path / "x.onnx"), opset="17")


# ---------------------------------------------------------------- third-party backends


def _install(monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
    entry = SimpleNamespace(name=cls.name, load=lambda: cls)  # type: ignore[attr-defined]
    monkeypatch.setattr(base, "entry_points", lambda group: [entry])


class BareBackend(base.Backend):
    """Declares no options: it takes dtype and device only."""

    name = "bare"

    def executor(self, module: dense.Module, options: Any) -> Any:
        return numpy_backend.NumpyBackend().build(module, dtype=options.dtype)


def test_third_party_backend_without_options(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, BareBackend)
    program = _program()
    model = alta.compile(program, backend="bare", dtype="float64")
    assert model([[2, 1, 1]]) == alta.interpret(program, [[2, 1, 1]])
    assert base.get("bare").parse() == base.Options()
    with pytest.raises(BackendError, match="bare backend: unknown option 'fast'"):
        alta.compile(program, backend="bare", fast=True)


@attrs.frozen
class ScaleOptions:
    """An options class of its own, without dtype or device."""

    scale: float = 1.0


class ScaleBackend(base.Backend):
    name = "scale"
    Options = ScaleOptions

    def executor(self, module: dense.Module, options: ScaleOptions) -> Any:
        assert options.scale == 2.0
        return numpy_backend.NumpyBackend().build(module)


def test_third_party_backend_with_own_options(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, ScaleBackend)
    program = _program()
    model = alta.compile(program, backend="scale", scale=2)
    assert model([[2, 1, 1]]) == alta.interpret(program, [[2, 1, 1]])
    assert base.get("scale").parse(text=["scale=2"]) == ScaleOptions(2.0)
    with pytest.raises(BackendError, match="scale backend: unknown option 'dtype'"):
        alta.compile(program, backend="scale", dtype="float64", scale=2.0)
