"""A program for the CLI tests: parity of a bit string after a start token.

It is the library's `parity_sequential_relative` under the name `cli_parity`, so that
output shows the program came from this module (`tests.cli_program:build`) and not from
the library by name.
"""

from __future__ import annotations

import attrs

from alta.ir import symbolic
from alta.programs import parity


def build() -> symbolic.Program:
    """Tokens 0/1 are bits, 2 is the start token; the last position ends with the parity."""
    return attrs.evolve(parity.build_sequential_relative(), name="cli_parity")


PROGRAM = build()
NOT_A_PROGRAM = 42
