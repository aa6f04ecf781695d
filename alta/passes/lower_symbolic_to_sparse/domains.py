"""The value domain of every variable, made explicit for IR2.

Categorical: range(r). Numerical and set variables use their declared `values`; without
them the domain is inferred: init values plus what the MLP writes, and for a numerical
head output every mean its head can take (finite when the number of positions is bounded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alta.errors import CompileError
from alta.ir import symbolic

#: An inferred numerical domain larger than this needs declared `values` instead.
MAX_INFERRED_VALUES = 4096
_DIGITS = 12


def domains(
    program: symbolic.Program, written: Mapping[str, set[Any]]
) -> dict[str, tuple[Any, ...]]:
    """Name -> sorted domain (None excluded) for every variable of `program`."""
    result: dict[str, tuple[Any, ...]] = {}
    inits: dict[str, set[Any]] = {}
    for name, _, _, value in symbolic.iter_inits(program):
        inits.setdefault(name, set()).add(value)
    heads = {h.output: h for h in program.heads}
    for name, var in program.variables:
        if isinstance(var, symbolic.CategoricalVar) or var.values is not None:
            result[name] = var.domain()
        elif name not in heads:
            found = inits.get(name, {var.default}) | set(written.get(name, ()))
            found.discard(None)
            result[name] = tuple(sorted(found, key=symbolic.value_order))
    for name, head in heads.items():
        if name not in result:
            result[name] = _means(program, head, result[head.value])
    return result


def _means(
    program: symbolic.Program, head: symbolic.Head, values: tuple[Any, ...]
) -> tuple[Any, ...]:
    """Every mean of 1..n values drawn from `values`, n the most positions a query selects."""
    limit = len(head.relative_position_mask) or program.position_range
    if program.position_range is not None and head.relative_position_mask:
        limit = min(len(head.relative_position_mask), program.position_range)
    if limit is None:
        raise CompileError(
            f"head '{head.output}' averages over any number of positions, so its values are "
            "unbounded: give its output_spec `values` or give the program a position_range"
        )
    sums: set[float] = {0.0}
    means: set[float] = set()
    for n in range(1, limit + 1):
        sums = {round(s + v, _DIGITS) for s in sums for v in values}
        means |= {round(s / n, _DIGITS) for s in sums}
        if len(means) > MAX_INFERRED_VALUES:
            raise CompileError(
                f"head '{head.output}' can take more than {MAX_INFERRED_VALUES} distinct means; "
                "give its output_spec `values`"
            )
    return tuple(sorted(means))
