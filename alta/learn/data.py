"""Inputs of a library task by length, split into training and test sets.

Length generalisation is the question the experiments ask, so inputs are drawn per
length: `inputs(case, lengths, per_length, seed)` gives `per_length` distinct inputs (or
every input, when a length has fewer) of each length in `lengths`. The length of an
input is the task's own (bits for parity, digits for addition), not its token count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
import numpy as np

from alta import programs
from alta.errors import LearnError
from alta.programs import addition, parity, parity_sum


def _bits(rng: np.random.Generator, n: int) -> list[int]:
    return [int(b) for b in rng.integers(0, 2, n)]


def _maker(name: str) -> Callable[[np.random.Generator, int], list[int]]:
    if name.startswith("parity_sequential_relative"):
        return lambda rng, n: [parity.START, *_bits(rng, n)]
    if name.startswith("parity_sum"):
        return lambda rng, n: [*_bits(rng, n), parity_sum.EOS]
    if name.startswith("parity_sequential_absolute"):
        return _bits
    if name.startswith("addition"):

        def digits(rng: np.random.Generator, n: int) -> list[int]:
            a = [int(d) for d in rng.integers(0, 10, n)]
            b = [int(d) for d in rng.integers(0, 10, n)]
            return addition.make_input(a, b)

        return digits
    raise LearnError(
        f"no length-controlled input maker for program '{name}'; the parity, parity_sum "
        "and addition programs have one"
    )


@attrs.frozen
class Example:
    """One input, its task length, and the task's answer from the plain-Python reference."""

    tokens: tuple[int, ...]
    length: int
    answer: Any


def inputs(case_name: str, lengths: Iterable[int], per_length: int, seed: int) -> list[Example]:
    """`per_length` distinct inputs of each length (fewer when fewer exist), seeded."""
    make = _maker(case_name)
    case = programs.get(case_name)
    lengths = list(lengths)
    bad = [
        n
        for n in lengths
        if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer) or n < 0
    ]
    if bad:
        raise LearnError(f"inputs('{case_name}'): lengths are ints >= 0, got {bad[0]!r}")
    lengths = [int(n) for n in lengths]  # numpy ints too (np.arange(1, 6))
    if per_length < 1:
        raise LearnError(f"inputs('{case_name}'): per_length must be at least 1, got {per_length}")
    rng = np.random.default_rng(seed)
    out: list[Example] = []
    for n in lengths:
        seen: set[tuple[int, ...]] = set()
        for _ in range(per_length * 20):
            if len(seen) == per_length:
                break
            seen.add(tuple(make(rng, n)))
        out += [Example(t, n, case.expected(list(t))) for t in sorted(seen)]
    return out
