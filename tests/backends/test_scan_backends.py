"""SCAN compiled on every installed backend agrees with the interpreter, and both with the
grammar's own interpretation, on a seeded sample of 200 commands (the full 20,910 run is
`alta bench scan`)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import alta
from alta import interp, programs
from alta.backends import base
from alta.data import scan as data
from alta.programs import scan_task

SAMPLE = 200


@functools.cache
def _sample() -> tuple[list[list[int]], list[list[Any]], list[str]]:
    texts = [c.text for c in data.commands()]
    pick = np.random.default_rng(11).choice(len(texts), SAMPLE, replace=False)
    commands = [texts[i] for i in sorted(pick)]
    inputs = [scan_task.encode(c) for c in commands]
    return inputs, interp.run(programs.get("scan").build(), inputs).outputs, commands


def test_interpreter_matches_the_grammar_on_the_sample() -> None:
    _, outputs, commands = _sample()
    assert [scan_task.decode(o) for o in outputs] == [data.interpret(c) for c in commands]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "onnx"])
def test_compiled_scan_agrees_with_the_interpreter(backend: str) -> None:
    if backend not in base.available():
        pytest.skip(f"backend {backend} is not installed")
    inputs, wanted, _ = _sample()
    model = alta.compile(programs.get("scan").build(), backend=backend)
    got: list[list[Any]] = []
    for start in range(0, SAMPLE, 100):
        got += model(inputs[start : start + 100])
    assert got == wanted
