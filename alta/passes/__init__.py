"""Passes over the three IRs, and the default pipeline."""

from __future__ import annotations

from typing import Any

from alta.passes import base
from alta.passes.base import Pass, register

__all__ = ["DEFAULT_PIPELINE", "Pass", "register", "run_pipeline"]

DEFAULT_PIPELINE = "lower-symbolic-to-sparse,lower-sparse-to-dense"

_BUILTIN_MODULES = ("lower_symbolic_to_sparse", "lower_sparse_to_dense")


def load_builtin() -> None:
    import importlib

    for name in _BUILTIN_MODULES:
        importlib.import_module(f"alta.passes.{name}")


def run_pipeline(module: Any, text: str, instrument: Any = None) -> list[Any]:
    """Run the passes named in `text`; return the module after each (the input first)."""
    load_builtin()
    stages = [module]
    for name in [n.strip() for n in text.split(",") if n.strip()]:
        stages.append(base.registry()[name]()().run(stages[-1]))
    return stages
