"""Attention in the interpreter: a head's output at every position, linear in length.

Relative heads look only at their offsets; other heads aggregate per key value (count,
sum of positions, sum of values), and each query reads the aggregates of its query set.
"""

from __future__ import annotations

import attrs
import numpy as np

from alta.errors import UndefinedBehaviourError
from alta.interp import state as st
from alta.interp.state import Layout
from alta.ir import symbolic

#: Per query position: how many positions it selects, the last one's index, the sum of
#: their values (numerical heads) and how many of those values are None.
Selection = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@attrs.frozen
class _Reads:
    """What one head reads: query, key and value arrays [B, N], and how to match them."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    valid: np.ndarray
    is_set: bool
    numeric: bool


def attend(
    program: Layout,
    head: symbolic.Head,
    state: dict[str, np.ndarray],
    valid: np.ndarray,
    layer: int,
    strict: bool,
    batch_index: np.ndarray,
) -> np.ndarray:
    """A head's output at every position: the selected value, their mean, or None.

    Linear in the sequence length: relative heads look only at their offsets; other heads
    aggregate per key value (count, sum of positions, sum of values) and let each query
    read the aggregates of the values in its query set.
    """
    variables = program.vars
    q, v = state[head.query], state[head.value]
    numeric = isinstance(variables[head.output], symbolic.NumericalVar)
    reads = _Reads(
        q, state[head.key], v, valid, isinstance(variables[head.query], symbolic.SetVar), numeric
    )
    if head.relative_position_mask:
        count, pos, total, nones = _select_relative(head.relative_position_mask, reads)
    else:
        size = variables[head.key].range  # type: ignore[union-attr]
        count, pos, total, nones = _select_by_key(reads, size)
    if strict:
        _check_attention(program, head, q, count, nones, valid, layer, batch_index)
    if numeric:
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        out = np.where(nones > 0, np.nan, out)
        return np.where(valid, out, np.nan)
    one = valid & (count == 1)  # zero or several selected positions give None
    index = np.where(one, pos, 0).astype(np.int64)
    picked = np.take_along_axis(v, index, axis=1) if v.shape[1] else index
    return np.where(one, picked, st.NONE_INT)


def _match(q: np.ndarray, k: np.ndarray, is_set: bool) -> np.ndarray:
    if is_set:
        return (q >= 0) & (k >= 0) & ((q >> np.maximum(k, 0)) & 1).astype(bool)
    return (q == k) & (k >= 0)


def _select_relative(offsets: frozenset[int], reads: _Reads) -> Selection:
    q, k, v, valid, is_set, numeric = attrs.astuple(reads, recurse=False)
    n = valid.shape[1]
    count = np.zeros(q.shape, dtype=np.int64)
    pos = np.zeros(q.shape, dtype=np.int64)
    total = np.zeros(q.shape) if numeric else count
    nones = np.zeros(q.shape, dtype=np.int64)
    for offset in sorted(offsets):
        j = np.arange(n) + offset
        inside = (j >= 0) & (j < n)
        jc = np.clip(j, 0, max(n - 1, 0))
        hit = valid[:, jc] & inside[None, :] & _match(q, k[:, jc], is_set)
        count = count + hit
        pos = np.where(hit, jc[None, :], pos)
        if numeric:
            value = v[:, jc]
            nones = nones + (hit & np.isnan(value))
            total = total + np.where(hit & ~np.isnan(value), value, 0.0)
    return count, pos, total, nones


def _select_by_key(reads: _Reads, size: int) -> Selection:
    q, k, v, valid, is_set, numeric = attrs.astuple(reads, recurse=False)
    b, n = q.shape
    keyed = valid & (k >= 0)
    slots = (np.arange(b)[:, None] * size + np.maximum(k, 0))[keyed]

    def per_key(weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(slots, weights=weights, minlength=b * size).reshape(b, size)

    counts = per_key(None)
    possum = per_key(np.broadcast_to(np.arange(n), (b, n))[keyed].astype(np.float64))
    if numeric:
        value = v[keyed]
        sums = per_key(np.where(np.isnan(value), 0.0, value))
        nan_counts = per_key(np.isnan(value).astype(np.float64))
    if is_set:
        bits = ((np.maximum(q, 0)[:, :, None] >> np.arange(size)) & 1) * (q >= 0)[:, :, None]

        def gather(table: np.ndarray) -> np.ndarray:
            return np.einsum("bnr,br->bn", bits.astype(np.float64), table.astype(np.float64))
    else:
        rows = np.arange(b)[:, None]

        def gather(table: np.ndarray) -> np.ndarray:
            return np.where(q >= 0, table[rows, np.clip(q, 0, size - 1)], 0)

    count = np.rint(gather(counts)).astype(np.int64)
    pos = np.rint(gather(possum)).astype(np.int64)
    if numeric:
        return count, pos, gather(sums), np.rint(gather(nan_counts)).astype(np.int64)
    return count, pos, count, np.zeros_like(count)


def _check_attention(
    program: Layout,
    head: symbolic.Head,
    q: np.ndarray,
    count: np.ndarray,
    nones: np.ndarray,
    valid: np.ndarray,
    layer: int,
    batch_index: np.ndarray,
) -> None:
    variables = program.vars
    problems = [(st.is_none(variables[head.query], q) & valid, f"query '{head.query}' is None")]
    if isinstance(variables[head.output], symbolic.CategoricalVar):
        problems.append((valid & (count > 1), "more than one position matches"))
    else:
        problems.append((valid & (nones > 0), f"a selected value of '{head.value}' is None"))
    for mask, why in problems:
        if mask.any():
            b, i = np.argwhere(mask)[0]
            raise UndefinedBehaviourError(
                f"layer {layer}, head '{head.output}', sequence {int(batch_index[b])}, "
                f"position {int(i)}: {why}"
            )
