"""`ProgramCase`: one library program together with everything needed to check it.

A program's outputs are per-position values; the task answer (a bit, a number, a sorted
list, a memory image) is read from them by `decode`. Every case carries a plain-Python
`reference` of the task that does not use alta at all, so the interpreter (and, through
it, every compiled backend) is checked against an independent oracle.

A module states its `Task` (generator, reference, decoder, edge inputs) once and makes
its cases from it; a program whose MLP is written both as a function and as rules is a
`TwinMLP`, registered as a pair of cases by `Task.twins`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from alta import lang as pb
from alta.ir import symbolic

Generator = Callable[[np.random.Generator, int], list[list[int]]]
Variables = dict[str, symbolic.Var]
Heads = dict[str, pb.AttentionHead]


def _as_inputs(seqs: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(t) for t in seq) for seq in seqs)


@attrs.frozen(kw_only=True)
class ProgramCase:
    """A registered program.

    `max_layers` is None (the default) when the program halts by itself; otherwise it is
    the number of layers after which the answer is final. `layers(tokens)`, when given, is
    the number of layers the interpreter runs on `tokens` (used to pin the paper's layer
    counts).
    """

    name: str
    build: Callable[[], symbolic.Program]
    generate: Generator
    reference: Callable[[list[int]], Any]
    decode: Callable[[list[Any]], Any]
    edge_inputs: tuple[tuple[int, ...], ...] = attrs.field(converter=_as_inputs)
    max_layers: int | None = None
    layers: Callable[[list[int]], int] | None = None
    description: str = ""

    def expected(self, tokens: Sequence[int]) -> Any:
        """The task answer for one input sequence."""
        return self.reference(list(tokens))

    def check(self, tokens: Sequence[int], outputs: list[Any]) -> bool:
        """Whether the program's outputs on `tokens` decode to the reference answer."""
        return self.decode(outputs) == self.expected(tokens)

    def edge_cases(self) -> list[list[int]]:
        """The edge inputs as a batch of lists, ready for `alta.interpret`."""
        return [list(seq) for seq in self.edge_inputs]


@attrs.frozen(kw_only=True)
class Task:
    """What a program computes, apart from how: inputs, answer, and how to read it.

    The programs of one task (an MLP written as a function and as rules, or two
    algorithms) are cases that share these fields and differ in the rest.
    """

    generate: Generator
    reference: Callable[[list[int]], Any]
    decode: Callable[[list[Any]], Any]
    edge_inputs: tuple[tuple[int, ...], ...] = attrs.field(converter=_as_inputs)

    def case(self, name: str, build: Callable[[], symbolic.Program], **fields: Any) -> ProgramCase:
        """The case `name`: this task, solved by `build()`; `fields` are ProgramCase's rest."""
        task = attrs.asdict(self, recurse=False)
        return ProgramCase(name=name, build=build, **task, **fields)

    def twins(
        self, name: str, build: Callable[..., symbolic.Program], **fields: Any
    ) -> list[ProgramCase]:
        """The cases `name` (`build(rules=False)`) and `name_rules` (`build(rules=True)`):
        one algorithm written twice (see `TwinMLP`), alike in every other field."""
        return [
            self.case(name + suffix, functools.partial(build, rules=rules), **fields)
            for suffix, rules in (("", False), ("_rules", True))
        ]


@attrs.frozen
class TwinMLP:
    """One MLP written twice: as a Python function, and as MLPBuilder rules.

    The two give the programs `name` and `name_rules`. The function is the version to
    read; the rules, with small hand-chosen contexts, the one to compile when rule count
    matters.
    """

    name: str
    function: Callable[[Any], None]
    rules: Callable[[Variables, Heads], list[symbolic.Rule]]

    def program(
        self, parts: tuple[Variables, Heads], as_rules: bool, **spec: Any
    ) -> symbolic.Program:
        """The program over `parts` (variables, heads); `spec` holds the rest of
        `program_spec`'s arguments, which the two versions share."""
        variables, heads = parts
        if as_rules:
            rules = self.rules(variables, heads)
            return pb.program_spec_from_rules(
                variables, heads, rules, name=self.name + "_rules", **spec
            )
        return pb.program_spec(variables, heads, self.function, name=self.name, **spec)
