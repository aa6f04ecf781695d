"""The SCAN task for `alta.programs.scan`: token layout, decoder, reference and inputs.

A command of n words (1 <= n <= 9) is the sequence

    BOS w_1 ... w_n EOS BLANK x 48

Word tokens are the indices of `alta.data.scan.WORDS` (0-12); BOS = 13, EOS = 14 and
BLANK = 15. The 48 blanks are the output slots (SCAN's longest output has 48 actions):
the program writes the k-th action into the k-th blank, and leaves the rest at 0. The
answer is read from the program's `out` variable: every non-zero value, in position
order, is an action (1-6 = `alta.data.scan.ACTIONS`). The reference is
`alta.data.scan.interpret`, which parses the command independently of the program.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from alta.data import scan as data

BOS, EOS, BLANK = 13, 14, 15
#: Token ids: the 13 words, then BOS, EOS and BLANK.
VOCAB = 16
MAX_WORDS = 9
#: Output slots after EOS: the longest output of the grammar.
OUTPUT_SLOTS = 48
#: Positions of the longest input: BOS, 9 words, EOS and the output slots.
POSITIONS = 1 + MAX_WORDS + 1 + OUTPUT_SLOTS


def encode(command: str) -> list[int]:
    """The input sequence of `command` (words separated by spaces)."""
    words = [data.WORDS.index(w) for w in command.split()]
    return [BOS, *words, EOS] + [BLANK] * OUTPUT_SLOTS


def command_of(tokens: Sequence[int]) -> str:
    """The command text of an input sequence."""
    end = list(tokens).index(EOS)
    return " ".join(data.WORDS[t] for t in tokens[1:end])


def reference(tokens: list[int]) -> tuple[str, ...]:
    """The command's actions, by the grammar's interpretation (`alta.data.scan`)."""
    return data.interpret(command_of(tokens))


def decode(outputs: list[Any]) -> tuple[str, ...] | None:
    """The written actions in position order; None if some output is not an action id."""
    if any(o is not None and not (isinstance(o, int) and 0 <= o <= 6) for o in outputs):
        return None
    return tuple(data.ACTIONS[o - 1] for o in outputs if o)


@functools.cache
def _all_commands() -> tuple[str, ...]:
    return tuple(c.text for c in data.commands())


def generate(rng: np.random.Generator, n: int) -> list[list[int]]:
    """`n` commands drawn uniformly (with replacement) from all 20,910."""
    texts = _all_commands()
    return [encode(texts[int(k)]) for k in rng.integers(0, len(texts), size=n)]


#: The shortest command, the turns (no action word), the longest output, a 9-word
#: command, and commands that exercise every reduction of the parser.
EDGE_COMMANDS = (
    "walk",
    "turn left",
    "turn right twice",
    "turn opposite left",
    "turn around right thrice",
    "jump twice after walk",
    "look right and turn opposite right twice",
    "run around right thrice after jump around left thrice",
    "walk opposite left thrice and turn around right thrice",
    "look left after run",
)


def edge_inputs() -> list[list[int]]:
    return [encode(c) for c in EDGE_COMMANDS]
