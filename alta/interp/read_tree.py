"""A Python MLP function's results, kept as a decision tree of the variables it read.

Why: positions rarely share a whole state, so calling the function once per distinct
state is slow, and the calls cannot be vectorised. But the function sees the state only
through `z`, and, being deterministic, what it reads next depends only on the values it
has read so far. So its calls form a tree: an inner node reads one variable and branches
on its value, a leaf holds the writes. A state that walks down to a leaf needs no call;
one that falls off the tree calls the function once and the call's reads extend the tree.
It is filled lazily at run time, from calls alone (no compiler): the interpreter stays an
independent oracle.

Nodes are ints, node 0 the root. An edge is keyed `node << 32 | code`. A value's code is
`raw + 1` for categorical variables and sets of at most 31 members (raw >= -1), and an
index given in order of first sight for numbers (their float64 bits, NaN made canonical)
and wider sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from alta.interp import state as st
from alta.ir import symbolic

LEAF = -1
UNSEEN = -2  # a node whose read is not known yet: only the root of an empty tree
MISSING = 2**32 - 1  # the code of a value no edge branches on
_SENTINEL = np.iinfo(np.int64).max  # ends the sorted edge keys, so lookups need no clip
NAN_BITS = int(np.array(np.nan).view(np.int64))

#: A call's reads in order, as (column, raw bits), and its writes as (column, raw value).
Trace = list[tuple[int, int]]
Written = list[tuple[int, Any]]


class Columns(Protocol):
    """The state's columns by index, as `raw_bits` arrays (made when first read)."""

    def __getitem__(self, col: int) -> np.ndarray: ...


class Lists(Protocol):
    """The same as Python lists."""

    def __getitem__(self, col: int) -> list[int]: ...


class Inconsistent(Exception):
    """The same values read led to a different read: the function is not deterministic."""


class ReadTree:
    """The tree over columns (the program's variables, in order); see the module doc."""

    def __init__(self, variables: Sequence[symbolic.Var]) -> None:
        self.direct = [_direct(v) for v in variables]
        #: Per column, how many codes a direct column's values can have (0: not direct).
        self.radix = [_radix(v) if d else 0 for v, d in zip(variables, self.direct, strict=True)]
        self.dtypes = [st.dtype_of(v) for v in variables]
        self.var: list[int] = [UNSEEN]  # per node: the column it reads, LEAF or UNSEEN
        self.edges: dict[int, int] = {}  # node << 32 | code -> child
        self.codes: dict[int, dict[int, int]] = {}  # not-direct column -> raw -> code
        self.slot: dict[int, int] = {}  # column -> its row in `walk`'s code matrix
        # The same, as numpy arrays for `walk` (which brings them up to date: `commit`).
        self._slots = np.full(64, UNSEEN, dtype=np.int64)  # per node: slot, LEAF or UNSEEN
        self._keys = np.array([_SENTINEL], dtype=np.int64)
        self._children = np.zeros(1, dtype=np.int64)
        self._pending: list[tuple[int, int]] = []
        self._sorted_codes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._stale: set[int] = set()
        #: Per written column: (does the leaf write it, the raw value), indexed by node.
        self.written: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._leaf_writes: dict[int, list[tuple[int, Any]]] = {}  # `leaf_writes`, kept

    @property
    def size(self) -> int:
        return len(self.var)

    # ----------------------------------------------------------------- lookups

    def walk(self, bits: Columns, n: int) -> np.ndarray:
        """Per row of `n`, the leaf its values lead to, or -1: all rows at once, level by
        level. `bits[col]` is a column as `raw_bits`."""
        self.commit()  # a call that raised left its run's additions uncommitted
        if self.var[0] < 0:  # an empty tree, or a function that reads nothing
            return np.full(n, -1 if self.var[0] == UNSEEN else 0, dtype=np.int64)
        return self.walk_codes(self.codes_of(bits))

    def codes_of(self, bits: Columns) -> np.ndarray:
        """The codes of the columns the tree reads, one row per slot: [slots, n]. The
        tree must be committed and read something."""
        codes = np.empty((len(self.slot), len(bits[next(iter(self.slot))])), dtype=np.int64)
        for col, s in self.slot.items():
            if self.direct[col]:
                np.add(bits[col], 1, out=codes[s])
            else:
                codes[s] = self._vector_codes(col, bits[col])
        return codes

    def walk_codes(self, codes: np.ndarray) -> np.ndarray:
        """`walk` on the codes of `codes_of`."""
        n = codes.shape[1]
        out = np.full(n, -1, dtype=np.int64)
        rows = np.arange(n)
        node = np.zeros(n, dtype=np.int64)
        slots, keys, children = self._slots, self._keys, self._children
        while True:
            slot = slots[node]
            inner = slot >= 0
            if not inner.all():
                ended = ~inner
                out[rows[ended]] = np.where(slot[ended] == LEAF, node[ended], -1)
                rows, node, slot = rows[inner], node[inner], slot[inner]
                if not len(rows):
                    return out
            key = (node << 32) | codes[slot, rows]
            at = np.searchsorted(keys, key)
            node = children[at]
            hit = keys[at] == key
            if not hit.all():
                rows, node = rows[hit], node[hit]
                if not len(rows):
                    return out

    def find(self, columns: Lists, row: int) -> int:
        """The leaf row `row` of `columns` leads to, or -1: one row, in plain Python."""
        node, var, edges = 0, self.var, self.edges
        while (col := var[node]) >= 0:
            raw = columns[col][row]
            code = raw + 1 if self.direct[col] else self.codes[col].get(raw, MISSING)
            child = edges.get(node << 32 | code)
            if child is None:
                return -1
            node = child
        return node if col == LEAF else -1

    def leaf_writes(self, leaf: int) -> list[tuple[int, Any]]:
        """What leaf `leaf` writes, as (column, raw value as a Python scalar)."""
        found = self._leaf_writes.get(leaf)
        if found is None:
            found = self._leaf_writes[leaf] = [
                (col, raw[leaf].item()) for col, (mask, raw) in self.written.items() if mask[leaf]
            ]
        return found

    # ----------------------------------------------------------------- growing

    def insert(self, trace: Trace, writes: Written) -> int:
        """Add one call's path (its reads in order) and its writes; return the leaf."""
        node, var, edges, direct = 0, self.var, self.edges, self.direct
        for col, raw in trace:
            if var[node] != col:
                self._set_read(node, col)
            key = node << 32 | (raw + 1 if direct[col] else self._code(col, raw))
            child = edges.get(key)
            if child is None:
                child = edges[key] = self._new_node()
                self._pending.append((key, child))
            node = child
        if var[node] != LEAF:
            self._set_read(node, LEAF)
        self._leaf_writes.pop(node, None)
        for col, raw in writes:
            mask, values = self._written_arrays(col)
            mask[node] = True
            values[node] = raw
        return node

    def commit(self) -> None:
        """Bring `walk`'s arrays up to date with the edges and codes added since."""
        if self._pending:
            new = np.array(self._pending, dtype=np.int64)
            new = new[np.argsort(new[:, 0])]
            at = np.searchsorted(self._keys, new[:, 0])
            self._keys = np.insert(self._keys, at, new[:, 0])
            self._children = np.insert(self._children, at, new[:, 1])
            self._pending = []
        for col in self._stale:
            table = self.codes[col]
            raws = np.fromiter(table, dtype=np.int64, count=len(table))
            order = np.argsort(raws)
            codes = np.fromiter(table.values(), dtype=np.int64, count=len(table))
            self._sorted_codes[col] = (raws[order], codes[order])
        self._stale.clear()

    def _set_read(self, node: int, col: int) -> None:
        """Say what `node` reads (a column, or LEAF); it must not have said otherwise."""
        if self.var[node] != UNSEEN:
            raise Inconsistent
        self.var[node] = col
        if col >= 0:
            self.slot.setdefault(col, len(self.slot))
        self._slots[node] = self.slot[col] if col >= 0 else col

    def _code(self, col: int, raw: int) -> int:
        if self.direct[col]:
            return raw + 1
        table = self.codes.setdefault(col, {})
        if raw not in table:
            table[raw] = len(table)
            self._stale.add(col)
        return table[raw]

    def _vector_codes(self, col: int, raw: np.ndarray) -> np.ndarray:
        """The codes of a column that is not direct (unseen values get MISSING)."""
        values, codes = self._sorted_codes[col]
        at = np.minimum(np.searchsorted(values, raw), len(values) - 1)
        return np.where(values[at] == raw, codes[at], MISSING)

    def _new_node(self) -> int:
        node = len(self.var)
        self.var.append(UNSEEN)
        if node >= len(self._slots):
            self._slots = _grown(self._slots, UNSEEN)
            self.written = {
                c: (_grown(m, False), _grown(v, 0)) for c, (m, v) in self.written.items()
            }
        return node

    def _written_arrays(self, col: int) -> tuple[np.ndarray, np.ndarray]:
        if col not in self.written:
            size = len(self._slots)
            self.written[col] = (np.zeros(size, dtype=bool), np.zeros(size, self.dtypes[col]))
        return self.written[col]


def _direct(var: symbolic.Var) -> bool:
    """Whether a value's code is its raw value + 1 (small non-negative ints and -1)."""
    if isinstance(var, symbolic.CategoricalVar):
        return var.range < 2**31
    return isinstance(var, symbolic.SetVar) and var.range <= 31


def _radix(var: symbolic.Var) -> int:
    """How many codes (raw + 1) a direct column can hold: its values and None."""
    size = var.range  # type: ignore[union-attr]
    return size + 1 if isinstance(var, symbolic.CategoricalVar) else 2**size + 1


def _grown(array: np.ndarray, fill: Any) -> np.ndarray:
    return np.concatenate([array, np.full(len(array), fill, dtype=array.dtype)])


def raw_bits(column: np.ndarray) -> np.ndarray:
    """A column as int64 keys: numbers by their float64 bits, every NaN (None) alike."""
    if column.dtype != np.float64:
        return column
    return np.where(np.isnan(column), NAN_BITS, column.view(np.int64))
