"""`ProgramCase`: one library program together with everything needed to check it.

A program's outputs are per-position values; the task answer (a bit, a number, a sorted
list, a memory image) is read from them by `decode`. Every case carries a plain-Python
`reference` of the task that does not use alta at all, so the interpreter (and, through
it, every compiled backend) is checked against an independent oracle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from alta.ir import symbolic

Generator = Callable[[np.random.Generator, int], list[list[int]]]


def _as_inputs(seqs: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(t) for t in seq) for seq in seqs)


@attrs.frozen
class ProgramCase:
    """A registered program.

    `max_layers` is None when the program halts by itself; otherwise it is the number of
    layers after which the answer is final. `layers(tokens)`, when given, is the number of
    layers the interpreter runs on `tokens` (used to pin the paper's layer counts).
    """

    name: str
    build: Callable[[], symbolic.Program]
    generate: Generator
    reference: Callable[[list[int]], Any]
    decode: Callable[[list[Any]], Any]
    max_layers: int | None
    edge_inputs: tuple[tuple[int, ...], ...] = attrs.field(converter=_as_inputs)
    layers: Callable[[list[int]], int] | None = None
    description: str = ""

    def expected(self, tokens: Sequence[int]) -> Any:
        """The task answer for one input sequence."""
        return self.reference(list(tokens))

    def check(self, tokens: Sequence[int], outputs: list[Any]) -> bool:
        """Whether the program's outputs on `tokens` decode to the reference answer."""
        return self.decode(outputs) == self.expected(tokens)

    def edge_cases(self) -> list[list[int]]:
        """The edge inputs as a batch of lists, ready for `alta.interpret`."""
        return [list(seq) for seq in self.edge_inputs]
