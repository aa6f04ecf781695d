"""alta: compile symbolic programs into Transformer weights (ALTA, arXiv 2410.18077).

`import alta` loads numpy, networkx and attrs only; backends import their frameworks lazily.
"""

from __future__ import annotations

import os
from typing import Any

from alta import lang
from alta.errors import AltaError, CompileWarning
from alta.interp import interpret
from alta.ir.symbolic import Program

__all__ = [
    "AltaError",
    "CompileWarning",
    "Program",
    "compile",
    "interpret",
    "lang",
    "load",
    "trace",
]
__version__ = "0.1.0"


def compile(program: Program, backend: str = "numpy", **kwargs: Any) -> Any:
    """Compile `program` into a Transformer; see `alta.compiler.compile`."""
    from alta import compiler

    return compiler.compile(program, backend=backend, **kwargs)


def trace(program: Program, inputs: Any, max_layers: int | None = None, **options: Any) -> Any:
    """Per layer and position, the MLP's input and output and their residual vectors (an
    `alta.traces.Trace`); see `alta.traces.trace`."""
    from alta import traces

    return traces.trace(program, inputs, max_layers, **options)


def load(path: str | os.PathLike[str], backend: str = "numpy", **options: Any) -> Any:
    """The `CompiledModel` that `model.save(path)` wrote, built with `backend` and its
    options (dtype, device, ...): it gives the saved model's outputs (docs/saved-models.md)."""
    from alta import compiler, saved
    from alta.backends import base
    from alta.model import CompiledModel

    module, header = saved.read(path)
    executor = base.get(backend).build(module, **options)
    stats = compiler.statistics(module, None)
    stats["rules"] = header.stats.get("rules")
    dtype = options.get("dtype", base.Options().dtype)  # (the backends' default)
    compiler.check_dtype(stats, dtype, stacklevel=3)
    return CompiledModel(ir=module, backend=backend, executor=executor, stats=stats)
