"""Parity by counting (the paper's "sum mod 2" programs, Tracr's selector-width trick).

The input is bits followed by EOS. One numerical head, whose query matches every position
holding a 1 or EOS, averages `eos` (1.0 only at EOS) over those positions: the result is
x = 1 / (number of ones + 1). Its output buckets are {1/k : k = 1..L}, so inputs of at
most L tokens (L - 1 bits) are exact. The head always selects at least the EOS position,
so x is defined wherever the MLP reads it.

`build_sum_mod_2` turns x into the parity in one MLP step; `build_intermediate` first
stores the count in a categorical `num_ones` and takes it mod 2 in a second layer (the
paper's version for trace supervision: a categorical count -> parity map is easier to
learn than the numerical x -> parity one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alta import lang as pb
from alta.ir import symbolic
from alta.programs import case
from alta.programs.parity import EDGE_BITS, decode_last, parity_of, random_bits

#: Default maximum input length, EOS included.
MAX_LENGTH = 50
#: End-of-sequence token (input_range 3).
EOS = 2

# states of the intermediate program
COUNT, PARITY, DONE = 0, 1, 2


def inverse_counts(max_length: int) -> list[float]:
    """The head's output values 1/k for k = 1..max_length, sorted ascending."""
    return sorted(1.0 / k for k in range(1, max_length + 1))


def generate(rng: np.random.Generator, n: int, max_length: int = MAX_LENGTH) -> list[list[int]]:
    """Bits then EOS, at most `max_length` tokens in all."""
    return [[*bits, EOS] for bits in random_bits(rng, n, max_length - 1)]


def reference(tokens: list[int]) -> int:
    """The parity of the bits before EOS."""
    return parity_of(tokens[:-1])


def _parts(max_length: int) -> tuple[dict[str, symbolic.Var], dict[str, pb.AttentionHead]]:
    variables: dict[str, symbolic.Var] = {
        "eos": pb.numeric_var(values=(0.0, 1.0), input_init_fn=lambda t: float(t == EOS)),
        "eos_or_one": pb.input_var(2, init_fn=lambda t: t in (1, EOS)),
        "query": pb.var(2, default=1),
        "parity": pb.var(2),
    }
    heads = {
        "x": pb.qkv(
            "query",
            "eos_or_one",
            "eos",
            output_spec=pb.numeric_var(values=inverse_counts(max_length)),
        )
    }
    return variables, heads


def count_of(x: float) -> int:
    """The number of ones from x = 1 / (ones + 1)."""
    return round(1 / x) - 1


def _parity_from_x(z: Any) -> None:
    z["parity"] = count_of(z["x"]) % 2


def _parity_from_x_rules(
    variables: dict[str, symbolic.Var], heads: dict[str, pb.AttentionHead]
) -> list[symbolic.Rule]:
    mlp = pb.MLPBuilder(variables, heads)
    for x in mlp.get("x"):
        mlp.set("parity", count_of(x) % 2)
    return mlp.rules


def build_sum_mod_2(max_length: int = MAX_LENGTH, *, rules: bool = False) -> symbolic.Program:
    """One layer; it has no halt spec (run it with max_layers=1; later layers are no-ops)."""
    mlp = case.TwinMLP("parity_sum_mod_2", _parity_from_x, _parity_from_x_rules)
    return mlp.program(_parts(max_length), rules, output_name="parity", input_range=3)


def _two_stage(z: Any) -> None:
    """Layer 1 stores the count; layer 2 (which no longer reads x) takes it mod 2."""
    state = z["state"]
    if state == COUNT:
        z["num_ones"] = count_of(z["x"])
        z["state"] = PARITY
    elif state == PARITY:
        z["parity"] = z["num_ones"] % 2
        z["state"] = DONE


def build_intermediate(max_length: int = MAX_LENGTH) -> symbolic.Program:
    """Two layers through a categorical `num_ones` (range L + 1); halts on state DONE."""
    variables, heads = _parts(max_length)
    variables["state"] = pb.var(3, default=COUNT)
    variables["num_ones"] = pb.var(max_length + 1)
    return pb.program_spec(
        variables,
        heads,
        _two_stage,
        output_name="parity",
        input_range=3,
        halt=pb.halt_spec("state", DONE),
        name="parity_intermediate",
    )


#: Both programs' task: the edge inputs are parity's, cut to fit with EOS in MAX_LENGTH.
TASK = case.Task(
    generate=generate,
    reference=reference,
    decode=decode_last,
    edge_inputs=[[*bits[: MAX_LENGTH - 1], EOS] for bits in EDGE_BITS],
)


#: The library cases this module registers (collected by `alta.programs`).
CASES = [
    *TASK.twins(
        "parity_sum_mod_2",
        build_sum_mod_2,
        max_layers=1,
        layers=lambda tokens: 1,
        description="bits then EOS; one numerical head; 1 layer",
    ),
    TASK.case(
        "parity_intermediate",
        build_intermediate,
        layers=lambda tokens: 2,
        description="bits then EOS; count in num_ones, then mod 2; 2 layers; halts",
    ),
]
