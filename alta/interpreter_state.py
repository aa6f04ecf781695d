"""How the interpreter holds a batch of program states: one numpy array per variable.

Categorical values are int64 with -1 for None; numerical values float64 with NaN for
None; sets int64 bitmasks with -1 for None. Arrays are [batch, max_length]; `valid`
marks the real (unpadded) positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alta import inputs as inputs_mod
from alta.ir import symbolic

NONE_INT = -1


def dtype_of(var: symbolic.Var) -> type:
    return np.float64 if isinstance(var, symbolic.NumericalVar) else np.int64


def none_of(var: symbolic.Var) -> Any:
    return np.nan if isinstance(var, symbolic.NumericalVar) else NONE_INT


def encode(var: symbolic.Var, value: Any) -> Any:
    """A Python value as the array scalar the interpreter stores."""
    if value is None:
        return none_of(var)
    if isinstance(var, symbolic.SetVar):
        return sum(1 << m for m in value)
    return value


def decode(var: symbolic.Var, raw: Any) -> Any:
    """An array scalar back as a Python value (int, float, frozenset or None)."""
    if isinstance(var, symbolic.NumericalVar):
        return None if np.isnan(raw) else float(raw)
    raw = int(raw)
    if raw == NONE_INT:
        return None
    if isinstance(var, symbolic.SetVar):
        return frozenset(m for m in range(var.range) if raw >> m & 1)
    return raw


def is_none(var: symbolic.Var, arr: np.ndarray) -> np.ndarray:
    return np.isnan(arr) if isinstance(var, symbolic.NumericalVar) else arr == NONE_INT


def pad_inputs(program: symbolic.Program, inputs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs and pad them into tokens [B, N] and a validity mask."""
    tokens, lengths = inputs_mod.pad(
        inputs, program.input_range, program.position_range, f"program '{program.name}'"
    )
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    return tokens, valid


def initial_state(
    program: symbolic.Program, tokens: np.ndarray, valid: np.ndarray
) -> dict[str, np.ndarray]:
    """Head outputs None; else input init, else position init, else the default."""
    b, n = tokens.shape
    positions = np.broadcast_to(np.arange(n), (b, n))
    state: dict[str, np.ndarray] = {}
    table: np.ndarray
    for name, var in program.variables:
        if name in program.head_outputs:
            table, index = np.array([none_of(var)], dtype=dtype_of(var)), np.zeros_like(tokens)
        elif var.input_init_fn is not None:
            table, index = _table(var, var.input_init_fn, program.input_range), tokens
        elif var.position_init_fn is not None:
            table, index = _table(var, var.position_init_fn, max(n, 1)), positions
        else:
            table, index = np.array([encode(var, var.default)], dtype=dtype_of(var)), None
        arr = table[index] if index is not None else np.full((b, n), table[0])
        state[name] = np.where(valid, arr, none_of(var)).astype(dtype_of(var))
    return state


def _table(var: symbolic.Var, fn: Any, size: int) -> np.ndarray:
    values = [encode(var, symbolic.normalise(var, fn(i))) for i in range(size)]
    return np.asarray(values, dtype=dtype_of(var))
