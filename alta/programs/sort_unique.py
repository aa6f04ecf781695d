"""Sorting distinct tokens (Tracr's sort_unique, as written for ALTA).

Input: BOS (0) followed by distinct tokens from 1..15; input_range and position_range 16.

Layer 1 (RANK): the numerical head `x` has the set query {0..t} at a position holding t
and the key `inputs`, so it selects BOS and every token <= t, and averages `bos` (1.0
only at position 0): x = 1 / (1 + rank), where rank counts the tokens <= t (t itself
included). The MLP stores target_pos = round(1/x) - 1 = rank, the position t belongs at
(BOS gets 0).
Layer 2 (GATHER): the head `output` (query `indices`, key `target_pos`) reads at
position i the token whose target is i; the MLP copies it into `sorted_tokens`.

Output: `sorted_tokens` holds BOS at position 0 and the sorted tokens at positions 1...

`target_pos` starts undefined (None), not 0, so that the `output` head of layer 1, which
runs before any target exists, selects nothing instead of every position (which would
be undefined behaviour for a categorical head). `bos` and `x` have no `values`: the
compiler infers their domains.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alta import lang as pb
from alta.ir import symbolic
from alta.programs import case

BOS = 0
VOCAB = 16
RANK, GATHER, DONE = 0, 1, 2


def reference(tokens: list[int]) -> list[int]:
    """The tokens after BOS, sorted."""
    return sorted(tokens[1:])


def decode(outputs: list[Any]) -> list[Any]:
    """The sorted list is `sorted_tokens` after the BOS position."""
    return outputs[1:]


def generate(rng: np.random.Generator, n: int, max_tokens: int = VOCAB - 1) -> list[list[int]]:
    """BOS then 0..max_tokens distinct tokens from 1..15 in random order."""
    out = []
    for k in rng.integers(0, max_tokens + 1, size=n):
        tokens = rng.choice(np.arange(1, VOCAB), size=int(k), replace=False)
        out.append([BOS, *tokens.tolist()])
    return out


def edge_inputs() -> list[list[int]]:
    """BOS alone, one token, both extremes, already sorted, reversed, and all 15 tokens."""
    return [
        [BOS],
        [BOS, 7],
        [BOS, 15, 1],
        [BOS, 3, 5, 4, 2],
        [BOS, *range(1, VOCAB)],
        [BOS, *range(VOCAB - 1, 0, -1)],
    ]


def _ffn(z: Any) -> None:
    step = z["step"]
    if step == RANK:
        x = z["x"]  # never 0 (the BOS is always selected); guarded so no path raises
        z["target_pos"] = round(1 / x) - 1 if x > 0 else 0
        z["step"] = GATHER
    elif step == GATHER:
        z["sorted_tokens"] = z["output"]
        z["step"] = DONE


def build() -> symbolic.Program:
    """The two-layer sorting program; halts on `step == DONE`."""
    prefixes = [range(t + 1) for t in range(VOCAB)]
    variables: dict[str, symbolic.Var] = {
        "inputs": pb.input_var(VOCAB),
        "indices": pb.position_var(VOCAB),
        "target_pos_query": pb.set_var(
            range=VOCAB, values=prefixes, default={BOS}, input_init_fn=lambda t: range(t + 1)
        ),
        "bos": pb.numeric_var(position_init_fn=lambda p: float(p == 0)),
        "target_pos": pb.var(VOCAB, default=None),
        "step": pb.var(3, default=RANK),
        "sorted_tokens": pb.var(VOCAB),
    }
    heads = {
        "x": pb.qkv("target_pos_query", "inputs", "bos"),
        "output": pb.qkv("indices", "target_pos", "inputs"),
    }
    return pb.program_spec(
        variables,
        heads,
        _ffn,
        output_name="sorted_tokens",
        input_range=VOCAB,
        position_range=VOCAB,
        halt=pb.halt_spec("step", DONE),
        name="sort_unique",
    )


#: The task (see `alta.programs.case.Task`).
TASK = case.Task(generate=generate, reference=reference, decode=decode, edge_inputs=edge_inputs())

#: The library cases this module registers (collected by `alta.programs`).
CASES = [
    TASK.case(
        "sort_unique",
        build,
        layers=lambda tokens: 2,
        description="BOS then distinct tokens 1..15; 2 layers; halts",
    )
]
