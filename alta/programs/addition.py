"""Multi-digit addition with pointers and a carry (the paper's addition program).

Input: START a PLUS b END, with a and b zero-padded to the same number of digits n
(digits are tokens 0-9, START=10, PLUS=11, END=12). There are no position embeddings,
so one set of weights adds numbers of any length.

Algorithm (n + 2 layers, then the program halts on `step == DONE`):
  INIT      every position looks right (`token_right`): the position before PLUS takes
            `ptr_a`; the position before END takes `ptr_b` and `ptr_out`.
  ITERATE   every position reads the digits under the pointers (`ptr_a_token`,
            `ptr_b_token`: a content head keyed on the pointer flag), so all positions
            compute the same carry + a + b. The position holding `ptr_out` writes the sum
            digit into `value_out`, every position updates `carry`, and the three
            pointers move one position left (each position copies its right neighbour's
            flag). When `ptr_a` reaches START the operands are used up: the position
            holding `ptr_out` (the PLUS position) writes the final carry, and `step`
            becomes DONE.

Output: `value_out` at positions 0 .. len-2 (END dropped), read as a decimal number; the
positions never written hold 0, which become leading zeros.

Reads of head outputs are gated on variables that are always defined: `token_right`
and `*_right` only where `is_end == 0` (a right neighbour exists); `ptr_a_token` only in
ITERATE (exactly one position holds `ptr_a` then); `ptr_b_token` only when `ptr_a_token`
is a digit.

`build(rules=True)` writes the rules by hand (282 rules); the Python function lowers to
about 300 rules too (lazy reads and hoisting; 231 after the default pipeline).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alta import lang as pb
from alta.ir import symbolic
from alta.programs import case

START, PLUS, END = 10, 11, 12
INIT, ITERATE, DONE = 0, 1, 2
POINTERS = ("ptr_a", "ptr_b", "ptr_out")
#: Default largest operand length of `generate` and the edge inputs.
MAX_DIGITS = 10


# --------------------------------------------------------------------------- the task


def make_input(a: list[int], b: list[int]) -> list[int]:
    """START a PLUS b END, zero-padding the shorter operand on the left."""
    n = max(len(a), len(b))
    a, b = [0] * (n - len(a)) + a, [0] * (n - len(b)) + b
    return [START, *a, PLUS, *b, END]


def digits_value(digits: list[int]) -> int:
    """A list of decimal digits as a number (0 for the empty list)."""
    return int("".join(map(str, digits))) if digits else 0


def reference(tokens: list[int]) -> int:
    """a + b, parsed from START a PLUS b END."""
    plus = tokens.index(PLUS)
    return digits_value(tokens[1:plus]) + digits_value(tokens[plus + 1 : -1])


def decode(outputs: list[Any]) -> int | None:
    """`value_out` without the END position, as a decimal number; None if malformed."""
    digits = outputs[:-1]
    if any(not isinstance(d, int) or not 0 <= d <= 9 for d in digits):
        return None
    return digits_value(digits)


def layers(tokens: list[int]) -> int:
    """INIT, one ITERATE per digit pair, and the final-carry layer."""
    return (len(tokens) - 3) // 2 + 2


def generate(rng: np.random.Generator, n: int, max_digits: int = MAX_DIGITS) -> list[list[int]]:
    """`n` additions of two random operands of 1..max_digits digits (leading zeros allowed)."""
    out = []
    for width in rng.integers(1, max_digits + 1, size=n):
        a = rng.integers(0, 10, size=int(width)).tolist()
        b = rng.integers(0, 10, size=int(width)).tolist()
        out.append(make_input(a, b))
    return out


def edge_inputs(max_digits: int = MAX_DIGITS) -> list[list[int]]:
    """Empty operands, one digit (with and without carry), zeros, and a full carry chain."""
    nines = [9] * max_digits
    return [
        make_input([], []),
        make_input([0], [0]),
        make_input([9], [9]),
        make_input([4], [5]),
        make_input(nines, nines),
        make_input(nines, [0] * (max_digits - 1) + [1]),
        make_input([7, 8, 9], [4, 5, 6]),
    ]


# --------------------------------------------------------------------------- the program


def _parts() -> tuple[dict[str, symbolic.Var], dict[str, pb.AttentionHead]]:
    variables: dict[str, symbolic.Var] = {
        "token": pb.input_var(13),
        "is_end": pb.input_var(2, init_fn=lambda t: t == END),
        "step": pb.var(3, default=INIT),
        "ptr_a": pb.var(2),
        "ptr_b": pb.var(2),
        "ptr_out": pb.var(2),
        "carry": pb.var(2),
        "value_out": pb.var(10),
        "one": pb.var(2, default=1),
    }
    heads = {
        "token_right": pb.v_relative("token", 1),
        **{f"{p}_right": pb.v_relative(p, 1) for p in POINTERS},
        "ptr_a_token": pb.qkv("one", "ptr_a", "token"),
        "ptr_b_token": pb.qkv("one", "ptr_b", "token"),
    }
    return variables, heads


def _ffn(z: Any) -> None:
    step = z["step"]
    if step == INIT:
        z["step"] = ITERATE
        if z["is_end"] == 0:
            right = z["token_right"]
            if right == PLUS:
                z["ptr_a"] = 1
            elif right == END:
                z["ptr_b"] = 1
                z["ptr_out"] = 1
    elif step == ITERATE:
        if z["is_end"] == 0:
            for name in POINTERS:
                z[name] = z[name + "_right"]
        _add_digits(z)


def _add_digits(z: Any) -> None:
    a = z["ptr_a_token"]
    if a == START:
        z["step"] = DONE
        if z["ptr_out"] == 1:
            z["value_out"] = z["carry"]
        return
    if a > 9:
        return  # unreachable: ptr_a only ever points at a digit or START
    b = z["ptr_b_token"]
    if b > 9:
        return  # unreachable: ptr_b points at a digit whenever ptr_a does
    total = z["carry"] + a + b
    z["carry"] = total // 10
    if z["ptr_out"] == 1:
        z["value_out"] = total % 10


def _rules(
    variables: dict[str, symbolic.Var], heads: dict[str, pb.AttentionHead]
) -> list[symbolic.Rule]:
    """The same MLP with small contexts (about 290 rules rather than a full product).

    `value_out` is only ever written at a position `ptr_out` visits for the first time,
    where it still holds 0, so its rules test `value_out == 0` only.
    """
    mlp = pb.MLPBuilder(variables, heads)
    for step in mlp.get("step"):
        if step == INIT:
            mlp.set("step", ITERATE)
            for is_end, right in mlp.get("is_end", "token_right"):
                if is_end == 0 and right == PLUS:
                    mlp.set("ptr_a", 1)
                if is_end == 0 and right == END:
                    mlp.set("ptr_b", 1)
                    mlp.set("ptr_out", 1)
        elif step == ITERATE:
            for name in POINTERS:
                for is_end, right in mlp.get("is_end", name + "_right"):
                    if is_end == 0:
                        mlp.set(name, right)
            for a in mlp.get("ptr_a_token"):
                if a == START:
                    mlp.set("step", DONE)
                    _write_out(mlp, lambda carry: carry)
                elif a <= 9:
                    _digit_rules(mlp, a)
    return mlp.rules


def _digit_rules(mlp: pb.MLPBuilder, a: int) -> None:
    for b in mlp.get("ptr_b_token"):
        if b > 9:
            continue
        for carry in mlp.get("carry"):
            mlp.set("carry", (carry + a + b) // 10)
        _write_out(mlp, lambda carry, b=b: (carry + a + b) % 10)


def _write_out(mlp: pb.MLPBuilder, digit: Any) -> None:
    """At the `ptr_out` position (where value_out is still 0) write digit(carry)."""
    for ptr_out, carry, old in mlp.get("ptr_out", "carry", "value_out"):
        if ptr_out == 1 and old == 0:
            mlp.set("value_out", digit(carry))


#: The MLP, written twice (see `alta.programs.case.TwinMLP`).
MLP = case.TwinMLP("addition", _ffn, _rules)


def build(*, rules: bool = False) -> symbolic.Program:
    """The addition program; `rules=True` gives the MLPBuilder version."""
    halt = pb.halt_spec("step", DONE)
    return MLP.program(_parts(), rules, output_name="value_out", input_range=13, halt=halt)


#: The task (see `alta.programs.case.Task`).
TASK = case.Task(generate=generate, reference=reference, decode=decode, edge_inputs=edge_inputs())

#: The library cases this module registers (collected by `alta.programs`).
CASES = TASK.twins(
    "addition", build, layers=layers, description="s a + b e; pointers and carry; n+2 layers; halts"
)
