"""Attention in the interpreter: a head's output at every position.

On the short sequences programs run on, the time goes to the number of numpy calls, not
their size, so each path makes few: relative heads compare shifted slices; other heads
compare every query with every key ([B, N, N]) up to `QUADRATIC_CELLS`, and past it
aggregate per key value (count, index of the position, sum of values), linear in length.
What a head computed is kept across layers while what it read is unchanged
(`reuse.Reuse`), and heads with the same query and key share their selection. Numerical
heads add the selected values in position order from 0.0, as a plain loop would
(`alta.interp.single` does), whichever path a batch takes.
"""

from __future__ import annotations

import numpy as np

from alta.errors import UndefinedBehaviourError
from alta.interp import state as st
from alta.interp.reuse import Reuse
from alta.interp.state import Layout
from alta.ir import symbolic

#: Heads compare all query-key pairs while a batch has at most this many ([B, N, N]);
#: numerical heads with set queries always do (`_blocked_sums`).
QUADRATIC_CELLS = 2048
#: `_blocked_sums` compares a block of queries with every key: at most this many cells.
BLOCK_CELLS = 1 << 20

#: Per query position: how many positions it selects; for a categorical head the value
#: at the selected one (meaningful where exactly one is), for a numerical head the sum
#: of the selected values (NaN where one is None); and, when asked for, how many of the
#: selected values are None (numerical heads).
Selection = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def attend(
    program: Layout,
    head: symbolic.Head,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    batch_index: np.ndarray,
    reuse: Reuse | None = None,
) -> np.ndarray:
    """A head's output at every position: the selected value, their mean, or None.

    `reuse` keeps what was computed while what it read is unchanged (`reuse.Reuse`): a
    head's output, and what heads with the same query and key, or key, share."""
    reuse = Reuse() if reuse is None else reuse
    reads = (head.query, head.key, head.value)
    out = reuse.get(("out", head.output), reads)
    if out is None:  # (a head whose reads are unchanged passed its strict checks before)
        out = _attend(program, head, state, valid, layer, strict, batch_index, reuse)
        reuse.put(("out", head.output), reads, out)
        reuse.touch(head.output)
    return out


def _attend(
    program: Layout,
    head: symbolic.Head,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    batch_index: np.ndarray,
    reuse: Reuse,
) -> np.ndarray:
    variables = program.vars
    q, k, v = state[head.query], state[head.key], state[head.value]
    numeric = isinstance(variables[head.output], symbolic.NumericalVar)
    is_set = isinstance(variables[head.query], symbolic.SetVar)
    b, n = valid.shape
    if not n:
        return np.full((b, 0), np.nan if numeric else st.NONE_INT)
    mask = head.relative_position_mask
    qk = (head.query, head.key)
    if len(mask) == 1 and not strict:  # v_relative: one offset, at most one position
        offset = next(iter(mask))
        hits = reuse.get(("shift", *qk, offset), qk)
        if hits is None:
            hits = _shifted_hits(offset, q, k, valid, is_set)
            reuse.put(("shift", *qk, offset), qk, hits)
        return _shifted(offset, hits, v, numeric)
    if mask:
        count, total, nones = _relative(mask, q, k, v, valid, is_set, numeric, strict)
    elif numeric and is_set and b * n * n > QUADRATIC_CELLS:
        count, total, nones = _blocked_sums(q, k, v, valid, strict)  # see `_PerKey`
    else:
        sel = reuse.get(("select", *qk), qk)
        if sel is None:
            if b * n * n <= QUADRATIC_CELLS:
                sel = _Pairs(q, k, valid, is_set)
            else:
                keyed = reuse.get(("keyed", head.key), qk[1:])
                if keyed is None:
                    size = variables[head.key].range  # type: ignore[union-attr]
                    keyed = reuse.put(("keyed", head.key), qk[1:], _Keyed(k, valid, size))
                query = variables[head.query]  # a head output's values are its value's
                fits = head.query not in program.head_outputs and (
                    isinstance(query, symbolic.CategoricalVar) and query.range <= keyed.size
                )
                sel = _PerKey(keyed, q, valid, is_set, fits)
            reuse.put(("select", *qk), qk, sel)
        if not numeric:
            if strict:
                _check_attention(program, head, q, sel.count, None, valid, layer, batch_index)
            return _picked(v, sel.pick)
        count = sel.count
        total, nones = sel.sums(v, strict)
    if strict:
        _check_attention(program, head, q, count, nones, valid, layer, batch_index)
    if not numeric:
        return np.where(valid & (count == 1), total, st.NONE_INT)
    out = np.full(total.shape, np.nan)
    return np.divide(total, count, out=out, where=valid & (count > 0))


def _match(q: np.ndarray, k: np.ndarray, is_set: bool) -> np.ndarray:
    """Whether key `k` is in the query set of `q` (arrays that broadcast); None keys
    (and None queries) match nothing."""
    if is_set:  # a shift past the set's members (63) gives 0, as for a key below 0
        shift = np.where((k >= 0) & (k < 63), k, 63)
        return ((np.maximum(q, 0) >> shift) & 1).astype(bool)
    return (q == k) & (k >= 0)


def _slices(offset: int, n: int) -> tuple[slice, slice]:
    """The query positions i with i + offset inside [0, n), and those keys."""
    return slice(max(-offset, 0), n - max(offset, 0)), slice(max(offset, 0), n + min(offset, 0))


def _shifted_hits(
    offset: int, q: np.ndarray, k: np.ndarray, valid: np.ndarray, is_set: bool
) -> np.ndarray | None:
    """Per valid query i (of those `_slices` keeps), whether it selects i + offset."""
    n = valid.shape[1]
    if abs(offset) >= n:
        return None
    dst, src = _slices(offset, n)
    return valid[:, dst] & valid[:, src] & _match(q[:, dst], k[:, src], is_set)


def _shifted(offset: int, hits: np.ndarray | None, v: np.ndarray, numeric: bool) -> np.ndarray:
    """A one-offset relative head's output: the value at i + offset where selected (a
    mean of one value is that value, + 0.0 as every sum here starts from 0.0), else None."""
    none = np.nan if numeric else st.NONE_INT
    out = np.full(v.shape, none, dtype=v.dtype)
    if hits is not None:
        dst, src = _slices(offset, v.shape[1])
        out[:, dst] = np.where(hits, v[:, src] + 0.0 if numeric else v[:, src], none)
    return out


def _relative(
    offsets: frozenset[int],
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    valid: np.ndarray,
    is_set: bool,
    numeric: bool,
    strict: bool,
) -> Selection:
    """Position i selects i + offset when it is a valid position whose key matches."""
    n = valid.shape[1]
    count = np.zeros(q.shape, dtype=np.int64)
    got = np.zeros(q.shape) if numeric else np.full(q.shape, st.NONE_INT)
    nones = np.zeros(q.shape, dtype=np.int64) if numeric and strict else None
    for offset in sorted(offsets):  # in position order: numbers add up as a loop would
        if abs(offset) >= n:
            continue
        dst, src = _slices(offset, n)
        hit = valid[:, src] & _match(q[:, dst], k[:, src], is_set)
        count[:, dst] += hit
        if numeric:
            got[:, dst] += np.where(hit, v[:, src], 0.0)
            if nones is not None:
                nones[:, dst] += hit & np.isnan(v[:, src])
        else:
            got[:, dst] = np.where(hit, v[:, src], got[:, dst])
    return count, got, nones


_NONE_TAIL = np.array([st.NONE_INT], dtype=np.int64)


def _picked(v: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """A categorical head's output: `v` at the flat index `pick` of each query's one
    selected position, None where `pick` is one past the end (none, or more than one)."""
    return np.concatenate((v.ravel(), _NONE_TAIL))[pick]


class _Pairs:
    """What each query selects, from every query against every key ([B, N, N]): few
    numpy calls, quadratic in length. `pick`: for a valid query that selects exactly one
    position, its flat index, else B * N (`_picked`)."""

    def __init__(self, q: np.ndarray, k: np.ndarray, valid: np.ndarray, is_set: bool) -> None:
        self.valid = valid
        self.hits = _hits(q, k, valid, is_set)  # [B, query, key]
        self.count = self.hits.sum(axis=2)
        self._pick: np.ndarray | None = None

    @property
    def pick(self) -> np.ndarray:  # made on first use (categorical heads alone need it)
        if self._pick is None:
            b, n = self.valid.shape
            first = self.hits.argmax(axis=2) + np.arange(0, b * n, n)[:, None]
            self._pick = np.where(self.valid & (self.count == 1), first, b * n)
        return self._pick

    def sums(self, v: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Per query, the sum of the selected values (in position order; NaN where one
        is None), and when `strict` how many are None."""
        return _sums(self.hits, v, strict)


def _hits(q: np.ndarray, k: np.ndarray, valid: np.ndarray, is_set: bool) -> np.ndarray:
    """Whether query i selects key j: [B, query, key]."""
    return _match(q[:, :, None], np.where(valid, k, st.NONE_INT)[:, None, :], is_set)


def _sums(hits: np.ndarray, v: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray | None]:
    picked = np.where(hits, v[:, None, :], 0.0)
    # A running sum, in position order; + 0.0 as if it started from 0.0 (-0.0 + 0.0).
    total = np.cumsum(picked, axis=2)[:, :, -1] + 0.0
    nones = (hits & np.isnan(v)[:, None, :]).sum(axis=2) if strict else None
    return total, nones


def _blocked_sums(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, valid: np.ndarray, strict: bool
) -> Selection:
    """A numerical head with set queries on a large batch: `_Pairs` a block of query
    positions at a time, so that its sums too run in position order, as `_Pairs`' do
    on small batches (per key value they would not: a set selects several)."""
    b, n = q.shape
    count = np.zeros((b, n), dtype=np.int64)
    total, nones = np.zeros((b, n)), np.zeros((b, n), dtype=np.int64)
    step = max(1, BLOCK_CELLS // (b * n))
    for i in range(0, n, step):
        block = slice(i, i + step)
        hits = _hits(q[:, block], k, valid, True)
        count[:, block] = hits.sum(axis=2)
        total[:, block], got = _sums(hits, v, strict)
        if got is not None:
            nones[:, block] = got
    return count, total, nones if strict else None


class _Keyed:
    """Per row and key value (a cell): how many valid positions hold it (`count`), and
    the flat index of the position where it is the only one (`index`, else 0). Heads
    with the same key share it."""

    def __init__(self, k: np.ndarray, valid: np.ndarray, size: int) -> None:
        b, n = k.shape
        size = max(size, int(k.max(initial=-1)) + 1)  # a head output may hold more values
        self.size, self.cells = size, b * size + 1  # the last cell: what None queries read
        self.base = np.arange(0, b * size, size)[:, None]  # each row's first cell
        self.at = np.flatnonzero(valid & (k >= 0))  # the keyed positions, as flat indices
        self.slots = self.at // n * size + k.reshape(-1)[self.at]  # their cells
        self.count = np.bincount(self.slots, minlength=self.cells)
        self.index_sum = np.bincount(self.slots, self.at, minlength=self.cells).astype(np.int64)
        self.pick = np.where(self.count == 1, self.index_sum, b * n)  # as `_Pairs.pick`

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """Per cell, the sum of `weights` (at the keyed positions) in position order."""
        return np.bincount(self.slots, weights, minlength=self.cells)


class _PerKey:
    """What each query selects, read from the aggregates (`_Keyed`) of the key values
    in its query set: linear in length. As `_Pairs`; a categorical query selects the
    positions of one key value, so its numbers add in position order as `_Pairs`'.
    `fits`: the query's values are all key values (no check that they are below the
    key's range is needed)."""

    def __init__(
        self, keyed: _Keyed, q: np.ndarray, valid: np.ndarray, is_set: bool, fits: bool
    ) -> None:
        b, n = q.shape
        self.keyed, self.shape, self.sets, size = keyed, q.shape, is_set, keyed.size
        if is_set:
            members = np.minimum(np.arange(size), 63)  # a shift by 63 gives 0 (as in `_match`)
            bits = ((np.maximum(q, 0)[:, :, None] >> members) & 1) * (q >= 0)[:, :, None]
            weights = bits.astype(np.float64)
            # Counts and indices are whole numbers: any order of adding gives them exactly.
            count, index = (
                np.rint(np.einsum("bnr,br->bn", weights, t[:-1].reshape(b, size)))
                for t in (keyed.count, keyed.index_sum)
            )
            self._count: np.ndarray | None = count.astype(np.int64)
            self.pick = np.where(valid & (self._count == 1), index.astype(np.int64), b * n)
        else:
            asks = valid & (q >= 0) if fits else valid & (q >= 0) & (q < size)
            self.query = np.where(asks, keyed.base + q, -1)  # other queries read the last cell
            self.pick = keyed.pick[self.query]
            self._count = None

    @property
    def count(self) -> np.ndarray:
        """Per query, how many positions it selects (made on first use: categorical
        heads need it only when strict)."""
        if self._count is None:
            self._count = self.keyed.count[self.query]
        return self._count

    def sums(self, v: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """As `_Pairs.sums`; the None count comes whether `strict` or not."""
        assert not self.sets, "numerical heads with set queries sum by pairs"
        value = v.reshape(-1)[self.keyed.at]
        nan = np.isnan(value)
        total = self.keyed.sums(np.where(nan, 0.0, value))[self.query]
        if not nan.any():
            return total, np.zeros(self.shape, dtype=np.int64)
        nones = np.rint(self.keyed.sums(nan)[self.query]).astype(np.int64)
        return np.where(nones > 0, np.nan, total), nones


def _check_attention(
    program: Layout,
    head: symbolic.Head,
    q: np.ndarray,
    count: np.ndarray,
    nones: np.ndarray | None,
    valid: np.ndarray,
    layer: int,
    batch_index: np.ndarray,
) -> None:
    variables = program.vars
    problems = [(st.is_none(variables[head.query], q) & valid, f"query '{head.query}' is None")]
    if isinstance(variables[head.output], symbolic.CategoricalVar):
        problems.append((valid & (count > 1), "more than one position matches"))
    else:
        assert nones is not None
        problems.append((valid & (nones > 0), f"a selected value of '{head.value}' is None"))
    for mask, why in problems:
        if mask.any():
            b, i = np.argwhere(mask)[0]
            raise UndefinedBehaviourError(
                f"layer {layer}, head '{head.output}', sequence {int(batch_index[b])}, "
                f"position {int(i)}: {why}"
            )
