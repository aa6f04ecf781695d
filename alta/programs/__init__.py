"""The program library: the paper's example programs, each with a task reference.

`PROGRAMS` maps a name to a `ProgramCase` (builder, input generator, plain-Python
reference, output decoder, layer budget, edge inputs). Names without a suffix use a
Python MLP function; `*_rules` names are the same algorithm written with `MLPBuilder`
(small, hand-chosen rule contexts; the versions to compile when rule count matters).

    case = programs.get("addition")
    outputs = alta.interpret(case.build(), batch, max_layers=case.max_layers)
    assert all(case.check(x, y) for x, y in zip(batch, outputs))
"""

from __future__ import annotations

import functools

from alta.errors import AltaError
from alta.programs import addition, parity, parity_sum, sort_unique, subleq, subleq_machine
from alta.programs.case import ProgramCase

__all__ = ["PROGRAMS", "ProgramCase", "get", "names"]


def _parity_cases() -> list[ProgramCase]:
    bits_edges = [[], [0], [1], [1, 0, 1], [1, 0, 1, 1], [1] * parity.MAX_LENGTH]
    sum_edges = [[*bits[: parity_sum.MAX_LENGTH - 1], parity_sum.EOS] for bits in bits_edges]
    cases = []
    for rules in (False, True):
        suffix = "_rules" if rules else ""
        cases += [
            ProgramCase(
                name="parity_sequential_absolute" + suffix,
                build=functools.partial(parity.build_sequential_absolute, rules=rules),
                generate=parity.generate_absolute,
                reference=parity.parity_of,
                decode=parity.decode_last,
                max_layers=None,
                edge_inputs=bits_edges,
                layers=parity.layers_absolute,
                description="bits; absolute positions (L=50); N-1 layers; halts",
            ),
            ProgramCase(
                name="parity_sequential_relative" + suffix,
                build=functools.partial(parity.build_sequential_relative, rules=rules),
                generate=parity.generate_relative,
                reference=lambda tokens: parity.parity_of(tokens[1:]),
                decode=parity.decode_last,
                max_layers=None,
                edge_inputs=[[parity.START, *bits] for bits in bits_edges],
                layers=parity.layers_relative,
                description="START then bits; relative heads; N layers; halts",
            ),
            ProgramCase(
                name="parity_sum_mod_2" + suffix,
                build=functools.partial(parity_sum.build_sum_mod_2, rules=rules),
                generate=parity_sum.generate,
                reference=parity_sum.reference,
                decode=parity.decode_last,
                max_layers=1,
                edge_inputs=sum_edges,
                layers=lambda tokens: 1,
                description="bits then EOS; one numerical head; 1 layer",
            ),
        ]
    cases.append(
        ProgramCase(
            name="parity_intermediate",
            build=parity_sum.build_intermediate,
            generate=parity_sum.generate,
            reference=parity_sum.reference,
            decode=parity.decode_last,
            max_layers=None,
            edge_inputs=sum_edges,
            layers=lambda tokens: 2,
            description="bits then EOS; count in num_ones, then mod 2; 2 layers; halts",
        )
    )
    return cases


def _other_cases() -> list[ProgramCase]:
    cases = []
    for rules in (False, True):
        suffix = "_rules" if rules else ""
        cases += [
            ProgramCase(
                name="addition" + suffix,
                build=functools.partial(addition.build, rules=rules),
                generate=addition.generate,
                reference=addition.reference,
                decode=addition.decode,
                max_layers=None,
                edge_inputs=addition.edge_inputs(),
                layers=addition.layers,
                description="s a + b e; pointers and carry; n+2 layers; halts",
            ),
            ProgramCase(
                name="subleq" + suffix,
                build=functools.partial(subleq.build, rules=rules),
                generate=subleq_machine.generate,
                reference=subleq_machine.reference,
                decode=subleq_machine.decode_memory,
                max_layers=None,
                edge_inputs=subleq_machine.edge_inputs(),
                layers=subleq_machine.layers,
                description="16-cell SUBLEQ machine; 3 layers per instruction; halts",
            ),
        ]
    cases.append(
        ProgramCase(
            name="sort_unique",
            build=sort_unique.build,
            generate=sort_unique.generate,
            reference=sort_unique.reference,
            decode=sort_unique.decode,
            max_layers=None,
            edge_inputs=sort_unique.edge_inputs(),
            layers=lambda tokens: 2,
            description="BOS then distinct tokens 1..15; 2 layers; halts",
        )
    )
    return cases


PROGRAMS: dict[str, ProgramCase] = {
    case.name: case for case in sorted(_parity_cases() + _other_cases(), key=lambda c: c.name)
}


def names() -> list[str]:
    """The registered program names, sorted."""
    return list(PROGRAMS)


def get(name: str) -> ProgramCase:
    """The case registered as `name`."""
    if name not in PROGRAMS:
        raise AltaError(f"unknown program '{name}'; registered: {', '.join(PROGRAMS)}")
    return PROGRAMS[name]
