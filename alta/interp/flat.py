"""The valid positions of a batch as flat columns, for the MLP step.

Why lazily: the MLP reads a few of the variables, and error messages need a position's
(sequence, position) only when something goes wrong; gathering every variable and
building every pair each layer cost more than the MLP itself on small batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np


class Positions:
    """The valid positions of a batch in row-major order: `len`, and `self[j]` as
    (sequence, position), the sequence numbered as in the whole run (`batch_index`)."""

    def __init__(self, valid: np.ndarray, batch_index: np.ndarray) -> None:
        self.width = valid.shape[1]
        self.batch_index = batch_index
        #: Flat indices into [B, N] arrays, or None when every position is valid.
        self.index: np.ndarray | None = None
        self.size = valid.size
        self._row_of: np.ndarray | None = None
        if np.count_nonzero(valid) < valid.size:
            self.index = valid.reshape(-1).nonzero()[0]
            self.size = len(self.index)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, j: int) -> tuple[int, int]:
        at = int(j if self.index is None else self.index[j])
        row, position = divmod(at, self.width)
        return int(self.batch_index[row]), position

    def flat_index(self, pos: np.ndarray) -> np.ndarray:
        """Flat indices into [B, N] arrays of the valid positions `pos`."""
        return pos if self.index is None else self.index[pos]

    @property
    def row_of(self) -> np.ndarray:
        """The batch row (0-based in this batch) of every valid position (made on first
        use, as every property here: `functools.cached_property` takes a lock)."""
        if self._row_of is None:
            every = np.arange(self.size) if self.index is None else self.index
            self._row_of = every // max(self.width, 1)
        return self._row_of


class Flat(Mapping[str, np.ndarray]):
    """Each variable of `arrays` ([B, N]) at the valid positions, gathered on first read."""

    def __init__(self, arrays: Mapping[str, np.ndarray], where: Positions) -> None:
        self._arrays = arrays
        self.where = where
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        column = self._cache.get(name)
        if column is None:
            flat = self._arrays[name].ravel()  # (read only: a copy would do)
            index = self.where.index
            column = self._cache[name] = flat if index is None else flat[index]
        return column

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)
