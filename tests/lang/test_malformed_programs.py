"""A malformed program is refused when it is built, with a `ProgramError` that names the
variable, head, rule or argument at fault, never a bare Python exception from deep inside
(docs/semantics.md, "Programs are accepted, run-time problems are reported where they
happen"). The cases come from a bug hunt: each used to crash with a TypeError,
AttributeError, IndexError or the like, or was accepted and failed only when compiled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest

import alta
from alta import errors
from alta import lang as pb
from alta.ir import symbolic, verify

INF, NAN = float("inf"), float("nan")


def _vars(**extra: Any) -> dict[str, Any]:
    return {"a": pb.input_var(3), "b": pb.var(3), "done": pb.var(2), **extra}


def _spec(variables: Any = None, heads: Any = None, ffn: Any = None, **kw: Any) -> symbolic.Program:
    kw.setdefault("input_range", 3)
    return pb.program_spec(
        _vars() if variables is None else variables,
        {} if heads is None else heads,
        ffn or (lambda z: None),
        "b",
        **kw,
    )


def _rules(rules: Any) -> symbolic.Program:
    return pb.program_spec_from_rules(_vars(), {}, rules, "b", 3)


def _one_over(t: int) -> int:
    return 1 // (t - 1)


CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "input init_fn raises",
        lambda: _spec({"a": pb.input_var(3, init_fn=_one_over), "b": pb.var(3)}),
        r"variable 'a': input_init_fn raises ZeroDivisionError.* for token 1",
    ),
    (
        "position init_fn raises",
        lambda: _spec(
            {"p": pb.position_var(3, init_fn=lambda p: [0, 1, 2][p]), "b": pb.var(3)},
            position_range=4,
        ),
        r"variable 'p': position_init_fn raises IndexError.* for position 3",
    ),
    (
        "halt value None",
        lambda: _spec(halt=pb.halt_spec("done", None)),  # type: ignore[arg-type]
        r"halt value None of 'done' must be an int",
    ),
    (
        "halt value 1.5",
        lambda: _spec(halt=pb.halt_spec("done", 1.5)),  # type: ignore[arg-type]
        r"halt value 1.5 of 'done' must be an int",
    ),
    ("halt not a spec", lambda: _spec(halt=5), r"halt must be a halt_spec"),
    ("input_range 3.0", lambda: _spec(input_range=3.0), r"input_range must be an int, got 3.0"),
    ("input_range '3'", lambda: _spec(input_range="3"), r"input_range must be an int, got '3'"),
    ("input_range True", lambda: _spec(input_range=True), r"input_range must be an int"),
    ("position_range 4.0", lambda: _spec(position_range=4.0), r"position_range must be an int"),
    ("range 2.0", lambda: _spec(_vars(c=pb.var(2.0))), r"variable 'c': range must be an int"),  # type: ignore[arg-type]
    (
        "set range '3'",
        lambda: _spec(_vars(s=pb.set_var(range="3"))),  # type: ignore[arg-type]
        r"variable 's': range must be an int",
    ),
    ("set_var default 3", lambda: pb.set_var(range=3, default=3), r"the default 3 is not a set"),
    (
        "set_var values [1, 2]",
        lambda: pb.set_var(range=3, values=[1, 2]),
        r"the value 1 is not a set",
    ),
    ("set_var values 5", lambda: pb.set_var(range=3, values=5), r"set_var: values must be a list"),
    (
        "set value out of range",
        lambda: _spec(_vars(s=pb.set_var(range=3, values=[{0}, {5}]))),
        r"variable 's': set value \{5\} has a member outside range\(3\)",
    ),
    ("qkv mask 3", lambda: pb.qkv("a", "a", "a", relative_position_mask=3), r"mask 3 is not a set"),
    ("qkv query 3", lambda: pb.qkv(3, "a", "a"), r"qkv: query 3 is not a variable name"),  # type: ignore[arg-type]
    ("variable not a Var", lambda: _spec(_vars(x=3)), r"variable 'x': 3 is not a variable"),
    ("variable name not a str", lambda: _spec({3: pb.var(2), "b": pb.var(3)}), r"name 3 is not"),
    ("variables a list", lambda: _spec([pb.var(2)]), r"variables must be a dict"),
    ("heads a list", lambda: _spec(heads=[pb.qkv("a", "a", "a")]), r"heads must be a dict"),
    ("head a tuple", lambda: _spec(heads={"h": ("a", "a", "a")}), r"head 'h': .* is not a head"),
    (
        "head output_spec not a Var",
        lambda: _spec(heads={"h": pb.qkv("a", "a", "a", output_spec=3)}),  # type: ignore[arg-type]
        r"head 'h': output_spec 3 is not a variable",
    ),
    ("ffn not callable", lambda: _spec(ffn=5), r"ffn_fn must be a function"),
    ("rules 5", lambda: _rules(5), r"rules must be a list, got 5"),
    ("rule a tuple", lambda: _rules([((("a", 1),), "b", 0, 1)]), r"rule #0: .* is not a Rule"),
]


@pytest.mark.parametrize(("build", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_parts_are_program_errors(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(errors.ProgramError, match=message):
        build()


MASKS = [{"x"}, {0.5}, {-1.0}, {True}, {None}]


@pytest.mark.parametrize("mask", MASKS, ids=repr)
def test_relative_mask_members_must_be_ints(mask: set[Any]) -> None:
    """A mask of strings or floats used to build, then the interpreter crashed and the
    backends disagreed ({-1.0} ran as no mask at all in numpy)."""
    with pytest.raises(
        errors.ProgramError, match=r"relative_position_mask .* is not a set of ints"
    ):
        pb.qkv("a", "a", "a", relative_position_mask=mask)


@pytest.mark.parametrize("mask", [frozenset({0.5}), frozenset({True}), {-1}])
def test_verifier_refuses_a_head_mask_that_is_not_a_frozenset_of_ints(mask: Any) -> None:
    """The IR1 verifier checks a head built without `qkv` too, naming the head."""
    program = _spec(heads={"h": pb.qkv("a", "a", "a")})
    bad = attrs.evolve(program, heads=(symbolic.Head("h", "a", "a", "a", mask),))
    with pytest.raises(errors.ProgramError, match=r"head 'h': relative_position_mask"):
        verify.verify_symbolic(bad)


def test_masks_of_ints_in_any_collection_still_build() -> None:
    """Sets, frozensets, lists, tuples, ranges and numpy ints are all masks of ints."""
    for mask in [{-1}, frozenset({-1}), [-1], (-1,), range(-1, 0), [np.int64(-1)]]:
        program = _spec(heads={"h": pb.qkv("a", "a", "a", relative_position_mask=mask)})
        assert program.heads[0].relative_position_mask == frozenset({-1})
        assert type(next(iter(program.heads[0].relative_position_mask))) is int


@pytest.mark.parametrize("values", [[0.0, NAN], [0.0, INF], [-INF, 0.0], [0.0, 10**400]])
def test_numeric_values_must_be_finite(values: list[Any]) -> None:
    with pytest.raises(
        errors.ProgramError, match=r"numeric_var: a value .* is not a finite number"
    ):
        pb.numeric_var(values=values)


@pytest.mark.parametrize("values", [(0.0, NAN), (0.0, INF), (0.0, "x")])
def test_verifier_refuses_non_finite_numeric_values(values: tuple[Any, ...]) -> None:
    """A NumericalVar built directly: NaN passed the "sorted and distinct" check."""
    variables = {"a": pb.input_var(3), "n": symbolic.NumericalVar(values=values)}
    with pytest.raises(
        errors.ProgramError, match=r"variable 'n': numerical values must be a tuple of finite"
    ):
        pb.program_spec(variables, {}, lambda z: None, "a", 3)


def test_numeric_default_inf_is_refused() -> None:
    with pytest.raises(errors.ProgramError, match=r"the default inf is not a finite number"):
        pb.numeric_var(default=INF)


def test_numeric_init_function_giving_inf_is_refused() -> None:
    n = pb.numeric_var(input_init_fn=lambda t: INF if t == 2 else 0.0)
    with pytest.raises(errors.ProgramError, match=r"variable 'n': .*inf is not a finite float.*2"):
        _spec(_vars(n=n))


@pytest.mark.parametrize("make", [pb.numeric_var, lambda **kw: pb.set_var(range=3, **kw)])
def test_none_default_is_accepted_only_where_an_init_function_makes_it_unused(
    make: Callable[..., symbolic.Var],
) -> None:
    """A numerical or set variable cannot start undefined everywhere: a compiled model
    encodes None only for categorical variables. With an init function the default is never
    read (docs/semantics.md, "Initial state"), so None is fine there."""
    with pytest.raises(errors.ProgramError, match=r"variable 'v': default None: only a categ"):
        _spec(_vars(v=make(default=None)))
    init = (lambda t: float(t)) if make is pb.numeric_var else (lambda t: {t})
    program = _spec(_vars(v=make(default=None, input_init_fn=init)))
    assert alta.interpret(program, [0, 2], max_layers=1) == [0, 0]


def test_halt_spec_accepts_bool_and_numpy_int_values() -> None:
    assert pb.halt_spec("done", True).value == 1
    assert type(pb.halt_spec("done", np.int64(1)).value) is int


def test_numpy_ints_are_accepted_as_ranges() -> None:
    program = _spec(_vars(c=pb.var(np.int64(4))), input_range=np.int64(3))
    assert program.vars["c"].range == 4 and type(program.input_range) is int
