"""A plain SUBLEQ machine: the reference for the ALTA program in `subleq.py`.

Memory has 16 cells holding integers in [-16, 16]; tokens encode a value v as v + 16
(33 ids). The machine starts at PC = 0 and repeats, one instruction at a time:

  fetch   a = mem[pc], b = mem[pc+1]. If a or b is not an address (0..15): halt.
  execute mem[b] = mem[b] - mem[a], wrapped into [-16, 16] (modulo 33); jump = result <= 0.
  branch  c = mem[pc+2], read AFTER the write (so an instruction may rewrite its own c).
          next = c if jump else pc + 3. If next is not in 0..13 (the instruction at next
          would not fit in memory; in particular c < 0): halt. Otherwise pc = next.

The ALTA program spends one layer on each of the three phases, so a run that executes k
full instructions and then halts at a branch takes 3k layers, and one that halts at a
fetch takes 3k + 1. Wrapping only matters for programs that overflow; `generate` rejects
those, and keeps only programs that halt within a bound.
"""

from __future__ import annotations

import attrs
import numpy as np

CELLS = 16
LOW, HIGH = -16, 16
OFFSET = -LOW  # token = value + OFFSET
VALUES = HIGH - LOW + 1  # 33 token ids
LAST_PC = CELLS - 3  # the last PC at which a whole instruction fits
#: `generate` keeps programs that halt within this many instructions.
MAX_INSTRUCTIONS = 24


def encode(value: int) -> int:
    return value + OFFSET


def decode(token: int) -> int:
    return token - OFFSET


def wrap(value: int) -> int:
    """`value` folded into [-16, 16] modulo 33."""
    return (value - LOW) % VALUES + LOW


def is_address(value: int) -> bool:
    return 0 <= value < CELLS


def is_pc(value: int) -> bool:
    return 0 <= value <= LAST_PC


@attrs.frozen
class Run:
    """A finished (or cut-off) run: final memory (values), instructions, layers, status."""

    memory: tuple[int, ...]
    instructions: int
    layers: int
    halted: bool
    overflowed: bool


def simulate(memory: list[int], max_instructions: int = 10_000) -> Run:
    """Run a program given as values (not tokens); stop after `max_instructions`."""
    mem = list(memory)
    pc, layers, overflowed = 0, 0, False
    for executed in range(max_instructions):
        a, b = mem[pc], mem[pc + 1]
        layers += 1
        if not (is_address(a) and is_address(b)):
            return Run(tuple(mem), executed, layers, True, overflowed)
        raw = mem[b] - mem[a]
        overflowed |= raw != wrap(raw)
        mem[b] = wrap(raw)
        c = mem[pc + 2]  # after the write
        target = c if mem[b] <= 0 else pc + 3
        layers += 2
        if not is_pc(target):
            return Run(tuple(mem), executed + 1, layers, True, overflowed)
        pc = target
    return Run(tuple(mem), max_instructions, layers, False, overflowed)


def reference(tokens: list[int]) -> list[int]:
    """The final memory (as values) of the program given as tokens."""
    return list(simulate([decode(t) for t in tokens]).memory)


def layers(tokens: list[int]) -> int:
    return simulate([decode(t) for t in tokens]).layers


def decode_memory(outputs: list[object]) -> list[int | None]:
    """The program's output tokens as values."""
    return [decode(t) if isinstance(t, int) else None for t in outputs]


def add_program(x: int, y: int) -> list[int]:
    """mem[10] = x + y in three instructions, using mem[11] as the zero register Z.

    Z -= mem[9] (Z = -x); mem[10] -= Z (x + y); Z -= Z, then jump to -1 (halt).
    """
    mem = [9, 11, 3, 11, 10, 6, 11, 11, -1, x, y, 0, 0, 0, 0, 0]
    return [encode(v) for v in mem]


def random_program(rng: np.random.Generator) -> list[int]:
    """Random cells, biased towards addresses so that instructions usually execute."""
    addresses = rng.integers(0, CELLS, size=CELLS)
    anything = rng.integers(LOW, HIGH + 1, size=CELLS)
    mem = np.where(rng.random(CELLS) < 0.7, addresses, anything)
    return [encode(int(v)) for v in mem]


def generate(
    rng: np.random.Generator,
    n: int,
    max_instructions: int = MAX_INSTRUCTIONS,
    add_fraction: float = 0.2,
) -> list[list[int]]:
    """Random halting, non-overflowing programs (rejection sampling) and ADD programs.

    Random programs mostly halt within a few instructions; a program that runs k
    instructions is kept with probability min(1, 0.1 * 1.8**k), which evens out the
    counts of runs of 0 to 5 instructions and keeps every longer run.
    """
    out: list[list[int]] = []
    while len(out) < n:
        if rng.random() < add_fraction:
            x = int(rng.integers(LOW, HIGH + 1))
            y = int(rng.integers(max(LOW, LOW - x), min(HIGH, HIGH - x) + 1))
            out.append(add_program(x, y))
            continue
        tokens = random_program(rng)
        run = simulate([decode(t) for t in tokens], max_instructions)
        keep = min(1.0, 0.1 * 1.8**run.instructions)
        if run.halted and not run.overflowed and rng.random() < keep:
            out.append(tokens)
    return out


def edge_inputs() -> list[list[int]]:
    """ADD, an immediate halt, a self-rewriting c, an overflow that wraps, a long loop."""
    pad = [0] * CELLS
    # mem[2] -= mem[3] makes c = -1 after the write (c = 5 before it): halts after 3 layers.
    self_rewrite = [3, 2, 5, 6, *pad][:CELLS]
    # mem[4] = 16 - (-16) = 32 wraps to -1 <= 0: jump to c = -1.
    overflow = [3, 4, -1, -16, 16, *pad][:CELLS]
    # count mem[15] down from 5 by mem[14] = 1 until it is <= 0, then jump to c = -1.
    countdown = [14, 15, 6, 12, 12, 0, 12, 12, -1, 0, 0, 0, 0, 0, 1, 5]
    return [
        add_program(5, 10),
        add_program(-16, 16),
        [encode(v) for v in [-1, *pad][:CELLS]],
        [encode(v) for v in self_rewrite],
        [encode(v) for v in overflow],
        [encode(v) for v in countdown],
    ]
