"""The backend registry: built-ins, third-party entry points, and errors that say what to do."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace
from typing import Any

import pytest

import alta
from alta import programs
from alta.backends import base, numpy_backend
from alta.errors import AltaError, BackendError


def _program() -> Any:
    return programs.get("parity_sequential_relative_rules").build()


def test_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(AltaError, match=r"unknown backend 'tpu'.*available backends: numpy"):
        alta.compile(_program(), backend="tpu")


def test_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "jax" else real(name, *args)

    monkeypatch.setattr(base.importlib.util, "find_spec", find_spec)
    with pytest.raises(BackendError, match=r"pip install 'alta\[jax\]'"):
        alta.compile(_program(), backend="jax")
    assert "jax" not in base.available()


def test_third_party_backend_by_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    class EchoBackend(numpy_backend.NumpyBackend):
        name = "echo"

    entry = SimpleNamespace(name="echo", load=lambda: EchoBackend)
    monkeypatch.setattr(
        base, "entry_points", lambda group: [entry] if group == "alta.backends" else []
    )
    assert "echo" in base.available()
    model = alta.compile(_program(), backend="echo")
    assert model([[2, 1, 1]]) == alta.interpret(_program(), [[2, 1, 1]])
