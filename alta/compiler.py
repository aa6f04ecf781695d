"""`alta.compile`: run a pass pipeline from IR1 to IR3, then hand IR3 to a backend."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from alta import passes
from alta.backends import base
from alta.errors import CompileError, CompileWarning, PassError, PipelineError
from alta.inputs import check_max_layers
from alta.ir import dense, precision, sparse, symbolic
from alta.model import CompiledModel
from alta.passes import instrument as instrumentation


def compile(
    program: symbolic.Program,
    backend: str = "numpy",
    pipeline: str = "default",
    max_layers: int | None = None,
    device: str | None = None,
    dtype: str = "float32",
    instrument: Any = None,
    strict: bool = False,
    **backend_options: Any,
) -> CompiledModel:
    """Compile `program` through `pipeline` and build it with `backend`.

    Undefined behaviour the compiler drops or tolerates (ill-typed writes, raising paths,
    rule pairs it cannot prove disjoint) gives one `CompileWarning` each; `strict=True`
    makes each a `CompileError` (docs/semantics.md).

    The model's default layer budget lives in one place, IR3's `loop.max_layers`, which
    the lowering to IR3 writes: `max_layers=N` is that lowering's option (as if the
    pipeline said `lower-sparse-to-dense{max-layers=N}`), and overrides what it says.
    """
    max_layers = check_max_layers(max_layers)
    instrumentations = _check_arguments(pipeline, instrument, strict)
    text = passes.DEFAULT_PIPELINE if pipeline == "default" else pipeline
    pm = passes.PassManager.parse(
        text, start_level=passes.level_of(program), instrumentations=instrumentations
    )
    if max_layers is not None:
        budgeted = pm.with_max_layers(max_layers)
        if budgeted is None:
            raise CompileError(
                f"max_layers={max_layers}: pipeline '{text}' has no lowering to alta.dense with "
                "a max-layers option, which is where a model's layer budget is set"
            )
        pm = budgeted
    stages = _run_pipeline(program, pm, strict)
    module = stages[-1]
    if not isinstance(module, dense.Module):
        level = passes.level_of(module)
        raise CompileError(f"pipeline '{text}' ends at alta.{level}, not at alta.dense")
    sparse_ir = next((m for m in reversed(stages) if isinstance(m, sparse.Module)), None)
    executor = base.get(backend).build(module, dtype=dtype, device=device, **backend_options)
    stats = statistics(module, sparse_ir)
    check_dtype(stats, dtype, strict)
    return CompiledModel(
        ir=module, backend=backend, executor=executor, stats=stats, sparse_ir=sparse_ir
    )


def _check_arguments(pipeline: Any, instrument: Any, strict: Any) -> list[Any]:
    """Refuse arguments of the wrong type by name; the instrumentations, as a list."""
    if not isinstance(pipeline, str):
        raise PipelineError(f"pipeline must be a pipeline string (or 'default'), got {pipeline!r}")
    if not isinstance(strict, bool):
        raise CompileError(f"strict must be True or False, got {strict!r}")
    try:
        return instrumentation.as_list(instrument)
    except TypeError:  # not iterable, or an item is not an Instrumentation
        raise PipelineError(
            f"instrument must be an alta Instrumentation, a list of them or None, got "
            f"{instrument!r}"
        ) from None


def check_dtype(
    stats: dict[str, Any], dtype: Any, strict: bool = False, *, stacklevel: int = 4
) -> None:
    """A model built in a dtype it is not certified exact in (docs/encodings.md,
    "Precision") may give wrong outputs, silently: say so (a CompileWarning, or with
    `strict` a CompileError)."""
    name = base.dtype_name(dtype)
    certified = stats["certified_dtypes"]
    if name not in precision.FORMATS or name in certified:
        return
    why = (
        f"the model runs in {name}, in which it is not certified exact (certified: "
        f'{", ".join(certified) or "none"}; docs/encodings.md, "Precision"): its outputs '
        "may differ from the interpreter's"
    )
    if strict:
        raise CompileError(f"strict=True: {why}")
    warnings.warn(why + ". Pass strict=True to make this an error.", CompileWarning, stacklevel=stacklevel)


def _run_pipeline(program: symbolic.Program, pm: passes.PassManager, strict: bool) -> list[Any]:
    if not strict:
        return pm.stages(program)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        try:
            return pm.stages(program)
        except PassError as exc:
            if isinstance(exc.__cause__, CompileWarning):
                why = str(exc.__cause__).replace(" Pass strict=True to make this an error.", "")
                raise CompileError(f"strict=True: {why}") from exc.__cause__
            raise


def statistics(module: dense.Module, sparse_ir: sparse.Module | None) -> dict[str, Any]:
    """Model sizes (rules, d_model, MLP widths, heads, parameters, nonzeros) and the dtypes
    the model is certified exact in (alta.ir.precision)."""
    arrays = list(module.weights.values())
    return {
        "rules": None if sparse_ir is None else len(sparse_ir.rules),
        "d_model": module.d_model,
        "mlp_widths": list(module.mlp_widths),
        "heads": len(module.loop.attention.heads),
        "attention_stages": len(module.loop.attention.stages),
        "params": int(sum(a.size for a in arrays)),
        "nonzeros": int(sum(np.count_nonzero(a) for a in arrays)),
        "certified_dtypes": precision.certified_dtypes(module),
    }
