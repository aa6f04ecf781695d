"""The program library against plain-Python references of the tasks.

Every registered program runs, batched, on 200 seeded random inputs and on its edge
inputs; its decoded outputs must equal the reference and its layer counts the expected
ones. A strict-mode run shows that no program relies on undefined behaviour.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import alta
from alta import interp, programs
from alta.ir import symbolic
from alta.programs import addition, sort_unique, subleq_machine
from alta.programs import parity as parity_mod

N_RANDOM = 200
N_STRICT = 40
NAMES = programs.names()


@functools.cache
def _program(name: str) -> symbolic.Program:
    return programs.get(name).build()


def _assert_case(case: programs.ProgramCase, batch: list[list[int]], strict: bool) -> None:
    result = interp.run(_program(case.name), batch, case.max_layers, strict=strict)
    wrong = [
        (tokens, case.decode(out), case.expected(tokens))
        for tokens, out in zip(batch, result.outputs, strict=True)
        if not case.check(tokens, out)
    ]
    assert not wrong, f"{case.name}: {len(wrong)} wrong, first (input, got, want): {wrong[0]}"
    if case.layers is not None:
        want = np.array([case.layers(tokens) for tokens in batch])
        bad = np.flatnonzero(result.layers != want)
        assert not len(bad), (
            f"{case.name}: input {batch[bad[0]]} ran {result.layers[bad[0]]} layers, "
            f"expected {want[bad[0]]}"
        )


@pytest.mark.parametrize("name", NAMES)
def test_random_inputs_match_reference(name: str) -> None:
    case = programs.get(name)
    batch = case.generate(np.random.default_rng(1234), N_RANDOM)
    assert len(batch) == N_RANDOM
    _assert_case(case, batch, strict=False)


@pytest.mark.parametrize("name", NAMES)
def test_edge_inputs_match_reference_strictly(name: str) -> None:
    case = programs.get(name)
    assert case.edge_inputs
    _assert_case(case, case.edge_cases(), strict=True)


@pytest.mark.parametrize("name", NAMES)
def test_no_undefined_behaviour_on_random_inputs(name: str) -> None:
    case = programs.get(name)
    _assert_case(case, case.generate(np.random.default_rng(99), N_STRICT), strict=True)


@pytest.mark.parametrize("name", NAMES)
def test_builds_are_deterministic_and_named(name: str) -> None:
    case = programs.get(name)
    first, second = case.build(), case.build()
    assert first.name == name
    assert first == second  # same variables, heads, rules (functions compare by identity)
    if name.endswith("_rules"):
        assert isinstance(first.mlp, symbolic.RulesMLP)


def test_generators_are_seeded() -> None:
    for name in NAMES:
        case = programs.get(name)
        a = case.generate(np.random.default_rng(7), 20)
        b = case.generate(np.random.default_rng(7), 20)
        assert a == b, name


def test_unknown_program_is_an_alta_error() -> None:
    with pytest.raises(alta.AltaError, match="unknown program 'nope'"):
        programs.get("nope")


# --------------------------------------------------------------------------- known values


@pytest.mark.parametrize("rules", [False, True])
def test_parity_halting_outputs_of_the_paper(rules: bool) -> None:
    relative = parity_mod.build_sequential_relative(rules=rules)
    absolute = parity_mod.build_sequential_absolute(rules=rules)
    assert alta.interpret(relative, [2, 1, 0, 1, 0, 1]) == [0, 1, 1, 0, 0, 1]
    assert alta.interpret(absolute, [1, 0, 1, 0, 1]) == [1, 1, 0, 0, 1]


def _rule_count(name: str) -> int:
    mlp = _program(name).mlp
    assert isinstance(mlp, symbolic.RulesMLP)
    return len(mlp.rules)


def test_rule_counts_stay_small() -> None:
    assert _rule_count("parity_sequential_absolute_rules") == 3
    assert _rule_count("parity_sequential_relative_rules") == 3
    assert _rule_count("parity_sum_mod_2_rules") == 50
    assert _rule_count("addition_rules") < 400
    assert _rule_count("subleq_rules") < 4000


@pytest.mark.parametrize("name", ["addition", "addition_rules"])
def test_addition_789_plus_456(name: str) -> None:
    tokens = addition.make_input([7, 8, 9], [4, 5, 6])
    result = interp.run(_program(name), [tokens])
    assert addition.decode(result.outputs[0]) == 1245
    assert result.outputs[0] == [0, 0, 0, 0, 1, 2, 4, 5, 0]  # the sum ends at the last b digit
    assert result.layers.tolist() == [5]  # n + 2 for n = 3


def test_sort_unique_example() -> None:
    assert alta.interpret(_program("sort_unique"), [0, 3, 5, 4, 2]) == [0, 2, 3, 4, 5]


@pytest.mark.parametrize("name", ["subleq", "subleq_rules"])
def test_subleq_add_program(name: str) -> None:
    result = interp.run(_program(name), [subleq_machine.add_program(5, 10)])
    assert subleq_machine.decode_memory(result.outputs[0])[10] == 15
    assert result.layers.tolist() == [9]


def test_subleq_reads_c_after_the_write() -> None:
    # mem[2] -= mem[3] turns c from 5 into -1, so the machine halts after one instruction.
    tokens = [subleq_machine.encode(v) for v in [3, 2, 5, 6] + [0] * 12]
    run = subleq_machine.simulate([subleq_machine.decode(t) for t in tokens])
    assert run.halted and run.instructions == 1 and run.memory[2] == -1
    result = interp.run(_program("subleq_rules"), [tokens])
    assert result.layers.tolist() == [3]


def test_subleq_generator_keeps_halting_in_range_programs() -> None:
    for tokens in subleq_machine.generate(np.random.default_rng(3), 100):
        assert len(tokens) == subleq_machine.CELLS
        assert all(0 <= t < subleq_machine.VALUES for t in tokens)
        run = subleq_machine.simulate([subleq_machine.decode(t) for t in tokens], 24)
        assert run.halted and not run.overflowed


def test_sort_unique_generator_gives_distinct_tokens() -> None:
    for tokens in sort_unique.generate(np.random.default_rng(5), 100):
        assert tokens[0] == sort_unique.BOS
        assert len(set(tokens[1:])) == len(tokens) - 1
        assert all(1 <= t < sort_unique.VOCAB for t in tokens[1:])
