"""What a layer computed, kept for later layers while what it read is unchanged.

Why: most heads read variables that few layers write (positions, tokens, a pointer that
moves once), an MLP whose reads are unchanged would write what it wrote already, and on
small batches each recomputation is a dozen numpy calls. Every variable carries a stamp,
bumped when a layer changes one of its values; an entry is good while the stamps of the
variables it was computed from and the working batch are what they were. The state must
change only through `touch`, and the valid positions only lose whole rows (sequences
that finished, which nothing reads any more) and only as a new array.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from alta.interp.flat import Positions


class Reuse:
    """Entries by key, each good while its variables keep their stamps."""

    def __init__(self) -> None:
        self._batch: Any = None  # the working batch's state
        self._stamps: defaultdict[str, int] = defaultdict(int)
        self._clock = 0
        self._kept: dict[Hashable, tuple[tuple[int, ...], Any]] = {}
        self._where: tuple[np.ndarray, np.ndarray, Positions] | None = None

    def positions(self, valid: np.ndarray, batch_index: np.ndarray) -> Positions:
        """`Positions(valid, batch_index)`, made anew only for new arrays (the valid mask
        must be a new array whenever it changes)."""
        kept = self._where
        if kept is None or kept[0] is not valid or kept[1] is not batch_index:
            kept = self._where = (valid, batch_index, Positions(valid, batch_index))
        return kept[2]

    def start(self, state: Any) -> None:
        """Before a layer: forget everything if the working batch is a new one."""
        if self._batch is not state:
            self._batch = state
            self._kept.clear()

    def touch(self, name: str) -> None:
        """Say that variable `name` changed."""
        self._clock += 1
        self._stamps[name] = self._clock

    def get(self, key: Hashable, names: Sequence[str]) -> Any:
        """The entry `key` if its variables `names` are unchanged since it was put, else None."""
        kept = self._kept.get(key)
        if kept is None or kept[0] != self._of(names):
            return None
        return kept[1]

    def put(self, key: Hashable, names: Sequence[str], value: Any) -> Any:
        """Keep `value`, computed from variables `names`, as entry `key`; return it."""
        self._kept[key] = (self._of(names), value)
        return value

    def still(self, key: Hashable) -> bool:
        """Whether entry `key`, kept with its variables' names as its value, is still good."""
        kept = self._kept.get(key)
        return kept is not None and kept[0] == self._of(kept[1])

    def _of(self, names: Sequence[str]) -> tuple[int, ...]:
        return tuple(map(self._stamps.__getitem__, names))
