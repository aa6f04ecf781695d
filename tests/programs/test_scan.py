"""The SCAN program (`alta.programs.scan`) against the grammar's interpretation.

The interpreter runs every command of at most 3 words and a seeded sample of the rest;
the compiled model (numpy) must agree with the interpreter on a seeded sample. The full
20,910 commands run in the benchmarks.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest

import alta
from alta import interp
from alta.data import scan as data
from alta.ir import symbolic
from alta.programs import scan, scan_task

N_SAMPLE = 320
N_COMPILED = 50


@functools.cache
def _program() -> symbolic.Program:
    return scan.build()


@functools.cache
def _model() -> alta.CompiledModel:
    return alta.compile(_program())


def _commands() -> tuple[list[data.Command], list[data.Command]]:
    """The commands of at most 3 words, and a seeded sample of the others."""
    every = data.commands()
    short = [c for c in every if len(c.text.split()) <= 3]
    rest = [c for c in every if len(c.text.split()) > 3]
    return short, random.Random(2024).sample(rest, N_SAMPLE)


def _assert_interpreter_correct(commands: list[data.Command]) -> None:
    batch = [scan_task.encode(c.text) for c in commands]
    result = interp.run(_program(), batch)
    wrong = [
        (c.text, scan_task.decode(out), c.actions)
        for c, out in zip(commands, result.outputs, strict=True)
        if scan_task.decode(out) != c.actions
    ]
    assert not wrong, f"{len(wrong)} wrong, first (command, got, want): {wrong[0]}"


def test_short_commands_are_all_correct() -> None:
    short, _ = _commands()
    assert len(short) == 94
    _assert_interpreter_correct(short)


def test_sampled_long_commands_are_correct() -> None:
    _, sample = _commands()
    _assert_interpreter_correct(sample)


@pytest.mark.parametrize(
    ("command", "layers"),
    [("walk", 8), ("turn left", 10), ("run around right thrice after jump around left thrice", 88)],
)
def test_layer_counts(command: str, layers: int) -> None:
    result = interp.run(_program(), [scan_task.encode(command)])
    assert result.layers.tolist() == [layers]
    assert scan_task.decode(result.outputs[0]) == data.interpret(command)


def test_actions_fill_the_output_slots_in_order() -> None:
    tokens = scan_task.encode("jump twice after walk")
    outputs = alta.interpret(_program(), tokens)
    eos = tokens.index(scan_task.EOS)
    assert outputs[: eos + 1] == [0] * (eos + 1)
    assert outputs[eos + 1 : eos + 4] == [1, 3, 3]  # WALK JUMP JUMP
    assert outputs[eos + 4 :] == [0] * (scan_task.OUTPUT_SLOTS - 3)


def test_reference_and_decoder_round_trip() -> None:
    tokens = scan_task.encode("look left after run")
    assert scan_task.command_of(tokens) == "look left after run"
    assert scan_task.reference(tokens) == ("RUN", "LTURN", "LOOK")
    assert len(tokens) == 6 + scan_task.OUTPUT_SLOTS
    assert scan_task.decode([0, 5, None, 4]) == ("LTURN", "LOOK")
    assert scan_task.decode([9]) is None


def test_generator_draws_commands_of_the_grammar() -> None:
    batch = scan_task.generate(np.random.default_rng(0), 50)
    texts = {c.text for c in data.commands()}
    assert all(scan_task.command_of(tokens) in texts for tokens in batch)
    assert all(len(tokens) <= scan_task.POSITIONS for tokens in batch)


def test_compiled_model_agrees_with_the_interpreter() -> None:
    commands = random.Random(7).sample(data.commands(), N_COMPILED)
    batch = [scan_task.encode(c.text) for c in commands]
    want = interp.run(_program(), batch).outputs
    got = _model()(batch)
    assert got == want
    assert [scan_task.decode(out) for out in got] == [c.actions for c in commands]


def test_compiled_sizes_stay_small() -> None:
    stats = _model().stats
    assert stats["rules"] < 7000
    assert stats["d_model"] < 1000
