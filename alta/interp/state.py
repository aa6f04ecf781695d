"""How the interpreter holds a batch of program states: one numpy array per variable.

Categorical values are int64 with -1 for None; numerical values float64 with NaN for
None; sets int64 bitmasks with -1 for None. Arrays are [batch, max_length]; `valid`
marks the real (unpadded) positions.
"""

from __future__ import annotations

import itertools
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
    padded = _pad_plain_ints(inputs, program.input_range, program.position_range)
    if padded is None:  # `inputs.pad` checks token by token, and names what is wrong
        tokens, lengths = inputs_mod.pad(
            inputs, program.input_range, program.position_range, f"program '{program.name}'"
        )
        valid = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        return tokens, valid
    return padded


def _pad_plain_ints(
    inputs: list[list[int]], input_range: int, position_range: int | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """What `inputs.pad` gives when every token is a Python int in range and every
    sequence short enough, with a few numpy calls in place of a check per token; None
    for anything else. Checking token by token took longer than running short programs."""
    lengths = [len(seq) for seq in inputs]
    width = max(lengths, default=0)
    if position_range is not None and width > position_range:
        return None
    flat = list(itertools.chain.from_iterable(inputs))
    if not set(map(type, flat)) <= {int}:  # bools, numpy ints and the rest: `inputs.pad`
        return None
    try:
        values = np.array(flat, dtype=np.int64)
    except OverflowError:
        return None
    # One reduction for both ends: as unsigned, negative tokens are 2**63 and above.
    if len(values) and values.view(np.uint64).max() >= min(input_range, 2**63):
        return None
    if len(values) == len(inputs) * width:  # every sequence equally long
        return values.reshape(len(inputs), width), np.ones((len(inputs), width), dtype=bool)
    valid = np.arange(width)[None, :] < np.asarray(lengths, dtype=np.int64)[:, None]
    tokens = np.zeros((len(inputs), width), dtype=np.int64)
    tokens[valid] = values
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


#: Widths whose position tables a program keeps (`start`); past this many it starts over.
MAX_WIDTHS = 64

#: Per variable: its name, source ("token", "position" or "const"), encoded table (a
#: constant's holds one value) and None.
Plan = list[tuple[str, str, np.ndarray, Any]]


def start(
    program: symbolic.Program, tokens: np.ndarray, valid: np.ndarray
) -> dict[str, np.ndarray]:
    """`initial_state` of a symbolic program, with its init tables evaluated and encoded
    once per program and width (kept in `Program.derived`): evaluating them was a fifth
    of a short run. Like the compiler, this takes init functions to be deterministic."""
    b, n = tokens.shape
    widths: dict[int, Plan] = program.derived.setdefault("init_tables", {})
    plan = widths.get(n)
    if plan is None:
        if len(widths) >= MAX_WIDTHS:
            widths.clear()
        plan = widths[n] = plan_of(program, n)
    all_valid = np.count_nonzero(valid) == valid.size
    state: dict[str, np.ndarray] = {}
    for name, source, table, none in plan:
        if not all_valid and source != "token":  # one call: the table broadcast on the mask
            state[name] = np.where(valid, table if source == "position" else table[0], none)
            continue
        if source == "token":
            arr = table[tokens]
        elif source == "position":
            arr = np.repeat(table[None, :], b, axis=0)
        else:
            arr = np.full((b, n), table[0])
        state[name] = arr if all_valid else np.where(valid, arr, none)
    return state


def plan_of(program: symbolic.Program, width: int) -> Plan:
    """The encoded tables of `initial_state`, for `width` positions."""
    plan = []
    for name, var in program.vars.items():
        source, values = symbolic.init_table(program, name, width)
        encoded = [encode(var, v) for v in values] or [none_of(var)]
        table: np.ndarray = np.asarray(encoded, dtype=dtype_of(var))
        if source == "position":
            table = table[np.minimum(np.arange(width), len(table) - 1)]
        elif source != "token":
            source = "const"
        plan.append((name, source, table, none_of(var)))
    return plan
