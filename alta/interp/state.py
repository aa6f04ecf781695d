"""How the interpreter holds a batch of program states: one numpy array per variable.

Categorical values are int64 with -1 for None; numerical values float64 with NaN for
None; sets int64 bitmasks with -1 for None. Arrays are [batch, max_length]; `valid`
marks the real (unpadded) positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from alta import inputs as inputs_mod
from alta.ir import symbolic

NONE_INT = -1


class Layout(Protocol):
    """What the shared core reads of a program, at either level: a symbolic `Program`
    is one, and `alta.interp.sparse` builds one for an IR2 module."""

    @property
    def name(self) -> str: ...
    @property
    def vars(self) -> Mapping[str, symbolic.Var]: ...
    @property
    def heads(self) -> tuple[symbolic.Head, ...]: ...
    @property
    def head_outputs(self) -> frozenset[str]: ...
    @property
    def output(self) -> str: ...
    @property
    def halt(self) -> symbolic.Halt | None: ...
    @property
    def input_range(self) -> int: ...
    @property
    def position_range(self) -> int | None: ...


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


def pad_inputs(program: Layout, inputs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs and pad them into tokens [B, N] and a validity mask."""
    tokens, lengths = inputs_mod.pad(
        inputs, program.input_range, program.position_range, f"program '{program.name}'"
    )
    valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    return tokens, valid


InitTables = Mapping[str, tuple[str, tuple[Any, ...]]]


def initial_state(
    program: Layout, inits: InitTables, tokens: np.ndarray, valid: np.ndarray
) -> dict[str, np.ndarray]:
    """The state before layer 0, from each variable's (source, table) init
    (`symbolic.init_table`): head outputs None, token and position tables indexed, a
    constant broadcast. Positions past a position table's end read its last entry."""
    b, n = tokens.shape
    state: dict[str, np.ndarray] = {}
    for name, var in program.vars.items():
        source, values = inits[name]
        table: np.ndarray = np.asarray(
            [encode(var, v) for v in values] or [none_of(var)], dtype=dtype_of(var)
        )
        if source == "token":
            arr = table[tokens]
        elif source == "position":
            arr = np.broadcast_to(table[np.minimum(np.arange(n), len(table) - 1)], (b, n))
        else:
            arr = np.full((b, n), table[0])
        state[name] = np.where(valid, arr, none_of(var)).astype(dtype_of(var))
    return state
