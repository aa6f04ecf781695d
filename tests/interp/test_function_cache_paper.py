"""The function-MLP cache on the paper's own example programs (through
`alta.compat.paper`): the same runs as calling the function everywhere, and the task's
plain-Python answer. Skipped without a checkout of the paper's code (ALTA_PAPER_CHECKOUT,
else /tmp/paper_alta)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from function_reference import assert_same_run, both_walks, run_uncached

from alta import interp

__all__ = ["both_walks"]  # every test runs with each walk of the tree


@pytest.fixture(scope="module")
def examples() -> Iterator[Callable[[str], Any]]:
    checkout = Path(os.environ.get("ALTA_PAPER_CHECKOUT", "/tmp/paper_alta"))
    if not (checkout / "examples" / "addition.py").is_file():
        pytest.skip("no checkout of the paper's code (set ALTA_PAPER_CHECKOUT)")
    import alta.compat.paper  # noqa: F401  (the examples' `framework` imports resolve)

    saved = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "examples"}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(checkout))
    try:
        yield lambda name: importlib.import_module(f"examples.{name}")
    finally:
        sys.path.remove(str(checkout))
        for name in [n for n in sys.modules if n.split(".")[0] == "examples"]:
            del sys.modules[name]
        sys.modules.update(saved)


def _check(program: Any, inputs: list[list[int]], max_layers: int | None) -> list[Any]:
    """Cached runs (cold and warm, batched and one at a time) equal the uncached one."""
    want = run_uncached(program, inputs, max_layers)
    assert_same_run(interp.run(program, inputs, max_layers), want)
    assert_same_run(interp.run(program, inputs, max_layers), want)
    for i in (0, len(inputs) - 1):
        assert interp.run(program, [inputs[i]], max_layers).outputs == [want.outputs[i]]
    return want.outputs


def test_addition(examples: Callable[[str], Any]) -> None:
    addition = examples("addition")
    rng = random.Random(0)
    pairs = [(rng.randint(0, 10**k), rng.randint(0, 9999)) for k in range(1, 5) for _ in range(8)]
    outputs = _check(
        addition.build_program_spec(), [addition.preprocess_input(a, b) for a, b in pairs], None
    )
    assert [addition.process_output(o) for o in outputs] == [a + b for a, b in pairs]


def test_sort_unique(examples: Callable[[str], Any]) -> None:
    rng = random.Random(1)
    tokens = [rng.sample(range(1, 16), rng.randint(1, 12)) for _ in range(30)]
    outputs = _check(examples("sort_unique").build_program_spec(), [[0, *t] for t in tokens], 4)
    assert [o[1:] for o in outputs] == [sorted(t) for t in tokens]


def _paper_references() -> Any:
    """benchmarks/paper_programs.py, whose plain-Python SUBLEQ runs as the paper's does."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "paper_programs.py"
    spec = importlib.util.spec_from_file_location("paper_programs", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_subleq(examples: Callable[[str], Any]) -> None:
    subleq = examples("subleq")
    reference = _paper_references().subleq_reference
    rng = random.Random(2)
    machines: list[tuple[list[int], list[int]]] = []
    while len(machines) < 30:
        mem = [rng.randint(-2, 15) for _ in range(9)] + [rng.randint(-16, 16) for _ in range(7)]
        if (want := reference(mem, max_steps=12)) is not None:
            machines.append((mem, want))
    inputs = [subleq.encode_inputs(m) for m, _ in machines]
    outputs = _check(subleq.build_program_spec(), inputs, None)
    assert [subleq.decode_outputs(o) for o in outputs] == [w for _, w in machines]


def test_parity(examples: Callable[[str], Any]) -> None:
    parity = examples("parity")
    rng = random.Random(3)
    bits = [[rng.randint(0, 1) for _ in range(rng.randint(1, 10))] for _ in range(30)]
    programs = [
        (parity.build_sequential_program_absolute(generate_rules=False), lambda b: b, 12),
        (parity.build_sequential_program_relative(generate_rules=False), lambda b: [2, *b], 12),
        (parity.build_sum_mod_2_program_spec(generate_rules=False), lambda b: [*b, 2], 1),
        (parity.build_intermediate_variable_sum_mod_2_program_spec(), lambda b: [*b, 2], 2),
    ]
    for program, wrap, layers in programs:
        outputs = _check(program, [wrap(b) for b in bits], layers)
        assert [o[-1] for o in outputs] == [sum(b) % 2 for b in bits], program.name
