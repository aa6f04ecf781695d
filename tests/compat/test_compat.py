"""`import alta.compat.paper`: programs written in the paper's idioms (its import lines,
annotations and builder calls) run unchanged, in the interpreter and compiled, and give
what plain Python computes. With ALTA_PAPER_CHECKOUT pointing at a checkout of the
paper's code, its parity and addition examples are run too."""

from __future__ import annotations

import importlib
import os
import random
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import alta
import alta.compat.paper  # makes the `framework` imports below resolve
from alta.compat import _paper_modules
from alta.errors import AltaError

# isort: split
from framework import program
from framework import program_builder as pb
from framework.mlp import simple_mlp

START = 2
EOS = 2

# --------------------------------------------------------------------------- programs
# Written as the paper's example programs are: module-level builders annotated with
# `program.Program`, MLP functions annotated with `simple_mlp.VarsWrapper` (or not at all),
# helpers annotated with `pb.MLPBuilder`, keyword arguments to `pb.program_spec`.


def _parity_step(z: simple_mlp.VarsWrapper):
    if z["done"] != 1 and z["done_left"] == 1:
        z["parity"] = z["parity_left"] ^ z["parity"]
        z["done"] = 1


def build_parity_relative(generate_rules: bool = True) -> program.Program:
    variables = {
        "parity": pb.input_var(2, init_fn=lambda x: 0 if x == START else x),
        "done": pb.input_var(2, init_fn=lambda x: x == START),
    }
    attention_heads = {
        "parity_left": pb.v_relative("parity", -1),
        "done_left": pb.v_relative("done", -1),
    }
    return pb.program_spec(
        variables=variables,
        heads=attention_heads,
        ffn_fn=_parity_step,
        output_name="parity",
        input_range=3,
        position_range=None,
        halt=pb.halt_spec("done", halt_value=1),
        generate_rules=generate_rules,
    )


def build_parity_absolute(max_input_length: int = 12) -> program.Program:
    variables = {
        "parity": pb.input_var(2),
        "done": pb.position_var(2, init_fn=lambda x: x == 0),
        "idx": pb.position_var(max_input_length),
        "idx_left": pb.position_var(max_input_length, init_fn=lambda x: max(0, x - 1)),
    }
    attention_heads = {
        "parity_left": pb.qkv("idx_left", "idx", "parity"),
        "done_left": pb.qkv("idx_left", "idx", "done"),
    }

    def ffn_fn(z):
        if z["done"] != 1 and z["done_left"] == 1:
            z["parity"] = z["parity_left"] ^ z["parity"]
            z["done"] = 1

    return pb.program_spec(
        variables=variables,
        heads=attention_heads,
        ffn_fn=ffn_fn,
        output_name="parity",
        input_range=2,
        position_range=max_input_length,
        halt=pb.halt_spec("done", halt_value=1),
    )


def build_parity_sum_mod_2(max_input_length: int = 12) -> program.Program:
    variables = {
        "parity": pb.var(2),
        "eos": pb.numeric_var(input_init_fn=lambda x: float(x == EOS), values=(0, 1)),
        "eos_or_one": pb.input_var(2, init_fn=lambda x: x in {1, EOS}),
        "query": pb.var(2, default=1),
    }
    buckets = tuple(sorted([1 / x for x in range(1, max_input_length + 1)]))
    output_spec = pb.numeric_var(values=buckets)
    attention_heads = {"x": pb.qkv("query", "eos_or_one", "eos", output_spec=output_spec)}

    def ffn_fn(activations):
        num_ones = round(1 / activations["x"]) - 1
        activations["parity"] = int(num_ones % 2 != 0)

    return pb.program_spec(
        variables=variables,
        heads=attention_heads,
        ffn_fn=ffn_fn,
        output_name="parity",
        input_range=3,
        position_range=None,
        generate_rules=False,
    )


def _add_parity_rules(x: pb.MLPBuilder):
    for done in x.get("done"):
        if done != 1:
            for done_left in x.get("done_left"):
                if done_left == 1:
                    x.set("done", 1)
                    for parity_left, parity in x.get("parity_left", "parity"):
                        x.set("parity", parity_left ^ parity)


def build_parity_sparse() -> program.Program:
    variables = {
        "parity": pb.input_var(2, init_fn=lambda x: 0 if x == START else x),
        "done": pb.input_var(2, init_fn=lambda x: x == START),
    }
    attention_heads = {
        "parity_left": pb.v_relative("parity", -1),
        "done_left": pb.v_relative("done", -1),
    }
    x = pb.MLPBuilder(variables, attention_heads)
    _add_parity_rules(x)
    return pb.program_spec_from_rules(
        variables=variables,
        heads=attention_heads,
        rules=x.rules,
        output_name="parity",
        input_range=3,
        position_range=None,
        halt=pb.halt_spec("done", halt_value=1),
    )


INPUT_RANGE = 8


def _query(token: int) -> frozenset[int]:
    return frozenset([0]) if token == 0 else frozenset(range(token + 1))


def build_sort_unique() -> program.Program:
    """Sort distinct tokens after a 0 (BOS): count the smaller ones, then fetch by rank."""
    variables = {
        "inputs": pb.input_var(INPUT_RANGE),
        "indices": pb.position_var(INPUT_RANGE),
        "state": pb.var(2),
        "target_pos_query": pb.set_var(
            range=INPUT_RANGE,
            values=frozenset(_query(t) for t in range(INPUT_RANGE)),
            input_init_fn=_query,
        ),
        "bos": pb.numeric_var(position_init_fn=lambda x: float(x == 0)),
        "target_pos": pb.var(INPUT_RANGE),
        "sorted": pb.var(INPUT_RANGE),
    }
    attention_heads = {
        "x": pb.qkv("target_pos_query", "inputs", "bos"),
        "output": pb.qkv("indices", "target_pos", "inputs"),
    }

    def ffn_fn(x: simple_mlp.VarsWrapper):
        if x["state"] == 0:
            x["target_pos"] = round(1 / x["x"]) - 1
            x["state"] = 1
        elif x["state"] == 1:
            x["sorted"] = x["output"]

    return pb.program_spec(
        variables=variables,
        heads=attention_heads,
        ffn_fn=ffn_fn,
        output_name="sorted",
        input_range=INPUT_RANGE,
        position_range=INPUT_RANGE,
        generate_rules=False,
    )


def _broadcast(z: simple_mlp.VarsWrapper):
    if z["step"] == 0:
        z["out"] = z["first_token"]
        z["step"] = 1


def build_broadcast_first() -> program.Program:
    """Every position gets the first token, read through a `one` query (as in addition)."""
    variables = {
        "token": pb.input_var(INPUT_RANGE),
        "is_first": pb.position_var(2, init_fn=lambda p: p == 0),
        "one": pb.var(var_range=2, default=1),
        "out": pb.var(INPUT_RANGE),
        "step": pb.var(2),
    }
    attention_heads = {"first_token": pb.qkv("one", "is_first", "token")}
    return pb.program_spec(
        variables=variables,
        heads=attention_heads,
        ffn_fn=_broadcast,
        output_name="out",
        input_range=INPUT_RANGE,
        position_range=INPUT_RANGE,
        halt=pb.halt_spec("step", halt_value=1),
    )


# --------------------------------------------------------------------------- references


def _bits(n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randint(0, 1) for _ in range(rng.randint(1, 10))] for _ in range(n)]


def _parity_of(bits: list[int]) -> int:
    return sum(bits) % 2


CASES: list[tuple[str, Any, list[list[int]], Any, int]] = [
    # (name, builder, inputs, reference of one input's output, max_layers)
    (
        "parity_relative",
        build_parity_relative,
        [[START, *b] for b in _bits(20, 0)],
        lambda s: [0, *[_parity_of(s[1 : i + 1]) for i in range(1, len(s))]],
        12,
    ),
    (
        "parity_relative_no_rules",
        lambda: build_parity_relative(generate_rules=False),
        [[START, *b] for b in _bits(20, 1)],
        lambda s: [0, *[_parity_of(s[1 : i + 1]) for i in range(1, len(s))]],
        12,
    ),
    (
        "parity_absolute",
        build_parity_absolute,
        _bits(20, 2),
        lambda s: [_parity_of(s[: i + 1]) for i in range(len(s))],
        12,
    ),
    (
        "parity_sum_mod_2",
        build_parity_sum_mod_2,
        [[*b, EOS] for b in _bits(20, 3)],
        lambda s: [_parity_of(s[:-1])] * len(s),
        1,
    ),
    (
        "parity_sparse",
        build_parity_sparse,
        [[START, *b] for b in _bits(20, 4)],
        lambda s: [0, *[_parity_of(s[1 : i + 1]) for i in range(1, len(s))]],
        12,
    ),
    (
        "sort_unique",
        build_sort_unique,
        [
            [0, *random.Random(i).sample(range(1, INPUT_RANGE), k)]
            for i, k in enumerate([1, 3, 5, 7])
        ],
        lambda s: sorted(s),
        2,
    ),
    (
        "broadcast_first",
        build_broadcast_first,
        [[3, 1, 4, 1, 5], [7], [0, 6, 2]],
        lambda s: [s[0]] * len(s),
        4,
    ),
]


@pytest.mark.filterwarnings("ignore::alta.errors.CompileWarning")  # sort_unique's 1 / x
@pytest.mark.parametrize(("name", "build", "inputs", "reference", "layers"), CASES)
def test_paper_style_programs_match_plain_python(
    name: str, build: Any, inputs: list[list[int]], reference: Any, layers: int
) -> None:
    built = build()
    assert isinstance(built, program.Program)
    expected = [reference(s) for s in inputs]
    assert alta.interpret(built, inputs, max_layers=layers) == expected, name
    model = alta.compile(built, max_layers=layers)
    assert model(inputs) == expected, name


def test_mlp_functions_get_a_vars_wrapper() -> None:
    seen: list[bool] = []

    def ffn_fn(z: simple_mlp.VarsWrapper):
        seen.append(isinstance(z, simple_mlp.VarsWrapper))
        z["b"] = z["a"]

    built = pb.program_spec({"a": pb.input_var(3), "b": pb.var(3)}, {}, ffn_fn, "b", 3)
    assert alta.interpret(built, [2, 0, 1], max_layers=1) == [2, 0, 1]
    assert seen and all(seen)


# --------------------------------------------------------------------------- the modules


def test_the_modules_hold_alta_objects() -> None:
    import framework
    import framework.mlp

    assert framework.program_builder is sys.modules["framework.program_builder"]
    assert framework.mlp.simple_mlp is sys.modules["framework.mlp.simple_mlp"]
    assert framework.program_builder.MLPBuilder is pb.MLPBuilder is alta.lang.MLPBuilder
    for name in alta.lang.__all__:
        assert getattr(pb, name) is getattr(alta.lang, name)
    assert pb.RELATIVE_QK == "relative_qk"
    assert program.Program is alta.Program
    assert program.HaltSpec is type(pb.halt_spec("x"))
    assert isinstance(pb.var(2), program.CategoricalVarSpec)
    assert isinstance(pb.numeric_var(values=(0, 1)), program.NumericalVarSpec)
    assert isinstance(pb.set_var(range=3), program.SetVarSpec)
    namespace: dict[str, Any] = {}
    exec("from framework.program_builder import *", namespace)
    assert {"MLPBuilder", "program_spec", "qkv", "v_relative"} <= set(namespace)


# The builder names the paper's example programs call, and what they read from the
# other two modules.
PAPER_BUILDER_NAMES = {
    "MLPBuilder",
    "halt_spec",
    "input_var",
    "numeric_var",
    "position_var",
    "program_spec",
    "program_spec_from_rules",
    "qkv",
    "set_var",
    "v_relative",
    "var",
}


def test_every_name_the_paper_examples_use_is_there() -> None:
    assert set(dir(pb)) >= PAPER_BUILDER_NAMES
    assert hasattr(program, "Program") and hasattr(simple_mlp, "VarsWrapper")
    builder = pb.MLPBuilder({"a": pb.var(2)}, {})
    assert callable(builder.get) and callable(builder.set) and builder.rules == []


def test_other_paper_modules_say_what_to_use_instead() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"framework\.compiler.*alta\.compile"):
        importlib.import_module("framework.compiler.compiler_utils")
    with pytest.raises(ModuleNotFoundError, match=r"alta\.interpret"):
        importlib.import_module("framework.interpreter")


def test_importing_twice_changes_nothing() -> None:
    before = {name: sys.modules[name] for name in _paper_modules.NAMES}
    importlib.reload(alta.compat.paper)
    assert {name: sys.modules[name] for name in _paper_modules.NAMES} == before


@pytest.fixture
def uninstalled() -> Iterator[None]:
    """No compat modules while the test runs; installed again afterwards."""
    _paper_modules.uninstall()
    try:
        yield
    finally:
        _paper_modules.uninstall()
        _paper_modules.install()


@pytest.mark.usefixtures("uninstalled")
@pytest.mark.parametrize("package", [True, False])
def test_a_framework_on_the_path_is_shadowed(tmp_path: Path, package: bool) -> None:
    # Running the paper's example files from its checkout puts its `framework` on the path.
    real = tmp_path / "framework"
    real.mkdir()
    if package:
        (real / "__init__.py").write_text("raise RuntimeError('the real framework ran')")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        _paper_modules.install()
        from framework import program_builder  # type: ignore[import-not-found]

        assert program_builder.program_spec is pb.program_spec
        assert getattr(sys.modules["framework"], _paper_modules._MARK)
    finally:
        sys.path.remove(str(tmp_path))
        sys.path_importer_cache.pop(str(tmp_path), None)
        importlib.invalidate_caches()


@pytest.mark.usefixtures("uninstalled")
def test_an_imported_framework_module_is_not_replaced() -> None:
    theirs = types.ModuleType("framework")
    sys.modules["framework"] = theirs
    try:
        with pytest.raises(AltaError, match="'framework' is already imported"):
            _paper_modules.install()
        assert sys.modules["framework"] is theirs
        _paper_modules.uninstall()  # leaves theirs alone
        assert sys.modules["framework"] is theirs
    finally:
        del sys.modules["framework"]


# --------------------------------------------------------------------------- the paper's own


@pytest.fixture
def paper_examples(tmp_path: Path) -> Iterator[Any]:
    """The paper's `examples` package, importable without its `framework` package."""
    checkout = os.environ.get("ALTA_PAPER_CHECKOUT")
    if not checkout:
        pytest.skip("set ALTA_PAPER_CHECKOUT to a checkout of the paper's code")
    source = Path(checkout) / "examples"
    if not source.is_dir():
        pytest.fail(f"ALTA_PAPER_CHECKOUT={checkout} has no examples/ directory")
    (tmp_path / "examples").symlink_to(source, target_is_directory=True)
    saved = {n: m for n, m in sys.modules.items() if n == "examples" or n.startswith("examples.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield lambda name: importlib.import_module(f"examples.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "examples" or n.startswith("examples.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_the_papers_parity_programs(paper_examples: Any) -> None:
    parity, parity_sparse = paper_examples("parity"), paper_examples("parity_sparse")
    bits = _bits(30, 5)
    programs = [
        (parity.build_sequential_program_absolute(dynamic_halting=True), lambda b: b, 12),
        (parity.build_sequential_program_relative(dynamic_halting=True), lambda b: [2, *b], 12),
        (parity.build_sum_mod_2_program_spec(generate_rules=False), lambda b: [*b, 2], 1),
        (parity.build_intermediate_variable_sum_mod_2_program_spec(), lambda b: [*b, 2], 2),
        (parity_sparse.build_sequential_program_absolute(dynamic_halting=True), lambda b: b, 12),
        (
            parity_sparse.build_sequential_program_relative(dynamic_halting=True),
            lambda b: [2, *b],
            12,
        ),
        (parity_sparse.build_sum_mod_2_program_spec(), lambda b: [*b, 2], 1),
    ]
    for built, wrap, layers in programs:
        inputs = [wrap(b) for b in bits]
        outputs = alta.interpret(built, inputs, max_layers=layers)
        assert [out[-1] for out in outputs] == [_parity_of(b) for b in bits], built.name
    model = alta.compile(programs[1][0], max_layers=12)
    inputs = [[2, *b] for b in bits]
    assert [out[-1] for out in model(inputs)] == [_parity_of(b) for b in bits]


def test_the_papers_addition_programs(paper_examples: Any) -> None:
    addition = paper_examples("addition")
    rng = random.Random(6)
    pairs = [(789, 456), (0, 0), (99, 1), (rng.randint(0, 9999), rng.randint(0, 9999))]
    inputs = [addition.preprocess_input(a, b) for a, b in pairs]
    for built in (addition.build_program_spec(), addition.build_sparse_program_spec()):
        outputs = alta.interpret(built, inputs, max_layers=32)
        assert [addition.process_output(o) for o in outputs] == [a + b for a, b in pairs]
    model = alta.compile(addition.build_sparse_program_spec(), max_layers=32)
    assert [addition.process_output(o) for o in model(inputs)] == [a + b for a, b in pairs]
