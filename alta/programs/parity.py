"""Parity by sequential propagation (the paper's programs 1 and 2 for parity).

A "done" frontier moves one position right per layer: a position whose left neighbour is
done xors its bit into the neighbour's running parity and becomes done. Once every
position is done (the halting condition) the last position holds the parity of the
string. The absolute variant finds the neighbour through position indices (so its
weights depend on the maximum length L); the relative variant uses a relative-position
head and works at any length.

Both read the head outputs `done_left`/`parity_left` only where `done == 0`; there the
left neighbour exists, so the read is always defined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from alta import lang as pb
from alta.ir import symbolic
from alta.programs import case

#: Default maximum input length of the absolute-position variant (its position_range).
MAX_LENGTH = 50
#: The relative variant's start-of-sequence token (input_range 3).
START = 2


# --------------------------------------------------------------------------- the task


def parity_of(bits: list[int]) -> int:
    """The parity of a bit string (0 for the empty string)."""
    return sum(bits) % 2


def random_bits(rng: np.random.Generator, n: int, max_length: int) -> list[list[int]]:
    """`n` bit strings with lengths uniform in [0, max_length]."""
    lengths = rng.integers(0, max_length + 1, size=n)
    return [rng.integers(0, 2, size=int(k)).tolist() for k in lengths]


def generate_absolute(
    rng: np.random.Generator, n: int, max_length: int = MAX_LENGTH
) -> list[list[int]]:
    """Inputs of the absolute variant: plain bit strings of at most `max_length` bits."""
    return random_bits(rng, n, max_length)


def generate_relative(
    rng: np.random.Generator, n: int, max_length: int = MAX_LENGTH
) -> list[list[int]]:
    """Inputs of the relative variant: START followed by at most `max_length` bits."""
    return [[START, *bits] for bits in random_bits(rng, n, max_length)]


def decode_last(outputs: list[Any]) -> Any:
    """The answer sits at the last position; an empty input has parity 0 by convention."""
    return outputs[-1] if outputs else 0


def layers_absolute(tokens: list[int]) -> int:
    """N - 1 layers move the frontier from position 0 to N - 1 (at least one layer runs)."""
    return max(1, len(tokens) - 1)


def layers_relative(tokens: list[int]) -> int:
    """START is done at the start; each of the N bits takes one layer."""
    return max(1, len(tokens) - 1)


# --------------------------------------------------------------------------- the MLP


def propagate(z: Any) -> None:
    """One frontier step; `done_left` is read only where `done == 0` (never position 0)."""
    if z["done"] == 0 and z["done_left"] == 1:
        z["parity"] = z["parity"] ^ z["parity_left"]
        z["done"] = 1


def propagate_rules(
    variables: Mapping[str, symbolic.Var], heads: Mapping[str, pb.AttentionHead]
) -> list[symbolic.Rule]:
    """The same step as three rules: done 0 -> 1, and parity 0 <-> 1 when the left is odd."""
    mlp = pb.MLPBuilder(variables, heads)
    for done, done_left in mlp.get("done", "done_left"):
        if done == 0 and done_left == 1:
            mlp.set("done", 1)
            for parity, parity_left in mlp.get("parity", "parity_left"):
                mlp.set("parity", parity ^ parity_left)
    return mlp.rules


def _build(
    name: str,
    variables: dict[str, symbolic.Var],
    heads: dict[str, pb.AttentionHead],
    rules: bool,
    input_range: int,
    position_range: int | None,
) -> symbolic.Program:
    return case.TwinMLP(name, propagate, propagate_rules).program(
        (variables, heads),
        rules,
        output_name="parity",
        input_range=input_range,
        position_range=position_range,
        halt=pb.halt_spec("done", 1),
    )


# --------------------------------------------------------------------------- the programs


def build_sequential_absolute(
    max_length: int = MAX_LENGTH, *, rules: bool = False
) -> symbolic.Program:
    """Bits only (input_range 2), absolute positions up to `max_length`; N - 1 layers."""
    variables: dict[str, symbolic.Var] = {
        "parity": pb.input_var(2),
        "done": pb.position_var(2, init_fn=lambda p: p == 0),
        "idx": pb.position_var(max_length),
        "idx_left": pb.position_var(max_length, init_fn=lambda p: max(0, p - 1)),
    }
    heads = {
        "parity_left": pb.qkv("idx_left", "idx", "parity"),
        "done_left": pb.qkv("idx_left", "idx", "done"),
    }
    return _build("parity_sequential_absolute", variables, heads, rules, 2, max_length)


def relative_parts() -> tuple[dict[str, symbolic.Var], dict[str, pb.AttentionHead]]:
    """The relative variant's variables `parity`, `done` and heads `parity_left`,
    `done_left` (for tests that write their own MLP over them)."""
    variables: dict[str, symbolic.Var] = {
        "parity": pb.input_var(2, init_fn=lambda t: 0 if t == START else t),
        "done": pb.input_var(2, init_fn=lambda t: t == START),
    }
    heads = {
        "parity_left": pb.v_relative("parity", -1),
        "done_left": pb.v_relative("done", -1),
    }
    return variables, heads


def build_sequential_relative(*, rules: bool = False) -> symbolic.Program:
    """START then bits (input_range 3), no position embeddings; N layers for N bits."""
    variables, heads = relative_parts()
    return _build("parity_sequential_relative", variables, heads, rules, 3, None)


#: Edge bit strings, shared with the counting programs in `parity_sum.py`.
EDGE_BITS = [[], [0], [1], [1, 0, 1], [1, 0, 1, 1], [1] * MAX_LENGTH]


#: The tasks of the two variants (see `alta.programs.case.Task`).
ABSOLUTE_TASK = case.Task(
    generate=generate_absolute, reference=parity_of, decode=decode_last, edge_inputs=EDGE_BITS
)
RELATIVE_TASK = case.Task(
    generate=generate_relative,
    reference=lambda tokens: parity_of(tokens[1:]),
    decode=decode_last,
    edge_inputs=[[START, *bits] for bits in EDGE_BITS],
)

#: The library cases this module registers (collected by `alta.programs`).
CASES = [
    *ABSOLUTE_TASK.twins(
        "parity_sequential_absolute",
        build_sequential_absolute,
        layers=layers_absolute,
        description="bits; absolute positions (L=50); N-1 layers; halts",
    ),
    *RELATIVE_TASK.twins(
        "parity_sequential_relative",
        build_sequential_relative,
        layers=layers_relative,
        description="START then bits; relative heads; N layers; halts",
    ),
]
