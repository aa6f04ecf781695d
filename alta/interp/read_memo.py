"""A memo over a read tree: the leaf of each combination of the codes the tree reads.

Why: walking the tree level by level costs about ten numpy calls per level, and on the
small batches programs run on, calls are the time. A state's codes in the columns the
tree reads (`ReadTree.codes_of`), as one mixed-radix integer, find its leaf with one
sorted lookup; only keys not seen before walk the tree. A leaf stays a leaf as the tree
grows, so an entry stays right until the key's layout changes (a column newly read, or
a number's codes outgrowing their room), when the memo starts over.
"""

from __future__ import annotations

import numpy as np

from alta.interp.read_tree import MISSING, Columns, ReadTree

#: The memo starts over past this many keys.
MAX_KEYS = 1 << 16
_LIMIT = 1 << 62  # keys must stay below this (and the sentinel)
_SENTINEL = np.iinfo(np.int64).max


class Memo:
    """Leaves by key for one tree; `lookup` is `ReadTree.walk`, memoised."""

    def __init__(self, tree: ReadTree) -> None:
        self.tree = tree
        self._layout: tuple[int, dict[int, int]] = (-1, {})  # slots, and each number's room
        self._strides: np.ndarray | None = None
        self._top = self._room = np.zeros(0, dtype=np.int64)
        self._keys = np.array([_SENTINEL], dtype=np.int64)
        self._leaves = np.array([-1], dtype=np.int64)

    def lookup(self, bits: Columns, n: int) -> tuple[np.ndarray, list[int]]:
        """Per row of `n`, the leaf its values lead to, or -1 (as `ReadTree.walk`); and
        the rows that got -1, in order."""
        tree = self.tree
        tree.commit()
        if tree.var[0] < 0:  # an empty tree, or a function that reads nothing
            leaf = tree.walk(bits, n)
            return leaf, np.flatnonzero(leaf < 0).tolist()
        codes = tree.codes_of(bits)
        if not self._current():
            self._start_over()
        if self._strides is None or np.count_nonzero(codes > self._top):  # no room for a key
            leaf = tree.walk_codes(codes)
            return leaf, np.flatnonzero(leaf < 0).tolist()
        key = self._strides @ (np.minimum(codes, self._room) if self._layout[1] else codes)
        at = np.searchsorted(self._keys, key)
        leaf = self._leaves[at]
        miss = (self._keys[at] != key).nonzero()[0]
        if not len(miss):
            return leaf, []
        found = tree.walk_codes(codes[:, miss])
        leaf[miss] = found
        self._add(key[miss][found >= 0], found[found >= 0])
        return leaf, miss[found < 0].tolist()

    def _current(self) -> bool:
        slots, room = self._layout
        tree = self.tree
        return slots == len(tree.slot) and all(
            len(tree.codes.get(col, ())) < size for col, size in room.items()
        )

    def _start_over(self) -> None:
        """Lay keys out for the tree's columns now: a direct column's radix is its
        number of codes; a number's (or wide set's) is room for twice the codes seen so
        far and one more for every code not seen yet (MISSING)."""
        tree = self.tree
        room: dict[int, int] = {}
        radix = []
        for col in tree.slot:  # in slot order: the rows of `codes_of`
            if tree.direct[col]:
                radix.append(tree.radix[col])
            else:
                room[col] = max(8, 2 * len(tree.codes.get(col, ())))
                radix.append(room[col] + 1)
        self._layout = (len(tree.slot), room)
        top = [r - 1 if tree.direct[c] else MISSING for c, r in zip(tree.slot, radix, strict=True)]
        self._top = np.asarray(top, dtype=np.int64)[:, None]
        cap = [MISSING if tree.direct[c] else room[c] for c in tree.slot]
        self._room = np.asarray(cap, dtype=np.int64)[:, None]
        self._strides = None
        if np.prod(np.asarray(radix, dtype=np.float64)) < _LIMIT:
            self._strides = np.cumprod([1, *radix[:-1]]).astype(np.int64)
        self._keys = self._keys[-1:]
        self._leaves = self._leaves[-1:]

    def _add(self, keys: np.ndarray, leaves: np.ndarray) -> None:
        if not len(keys):
            return
        keys, first = np.unique(keys, return_index=True)
        if len(self._keys) + len(keys) > MAX_KEYS:
            self._keys, self._leaves = self._keys[-1:], self._leaves[-1:]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._leaves = np.insert(self._leaves, at, leaves[first])
