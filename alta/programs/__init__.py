"""The program library: the paper's example programs, each with a task reference.

`PROGRAMS` maps a name to a `ProgramCase` (builder, input generator, plain-Python
reference, output decoder, layer budget, edge inputs), sorted by name. Names without a
suffix use a Python MLP function; `*_rules` names are the same algorithm written with
`MLPBuilder` (small, hand-chosen rule contexts; the versions to compile when rule count
matters).

    case = programs.get("addition")
    outputs = alta.interpret(case.build(), batch, max_layers=case.max_layers)
    assert all(case.check(x, y) for x, y in zip(batch, outputs))

The library registers itself: each module of this package may define a module-level
`CASES` list of `ProgramCase`s, and this package imports every module and collects them.
Modules without `CASES` (helpers such as `subleq_machine.py`, or `case.py`) contribute
none.

Adding a program: write one module in `alta/programs/` holding the program and, at its
end, its task and cases: `TASK = Task(generate=..., reference=..., decode=...,
edge_inputs=...)` and `CASES = [TASK.case(name, build, ...)]` (`TASK.twins` for a
`TwinMLP` program and its `*_rules` twin; see `case.py`). No other file needs to
change; a name that is already registered is an error at import.
"""

from __future__ import annotations

import importlib
import pkgutil

from alta.errors import AltaError
from alta.programs.case import ProgramCase

__all__ = ["PROGRAMS", "ProgramCase", "get", "names"]


def _discover() -> dict[str, ProgramCase]:
    """Every module's `CASES`, keyed and sorted by name."""
    found: dict[str, ProgramCase] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for case in getattr(module, "CASES", ()):
            if case.name in found:
                raise AltaError(f"program '{case.name}' is registered twice ({info.name})")
            found[case.name] = case
    return {name: found[name] for name in sorted(found)}


PROGRAMS: dict[str, ProgramCase] = _discover()


def names() -> list[str]:
    """The registered program names, sorted."""
    return list(PROGRAMS)


def get(name: str) -> ProgramCase:
    """The case registered as `name`."""
    if name not in PROGRAMS:
        raise AltaError(f"unknown program '{name}'; registered: {', '.join(PROGRAMS)}")
    return PROGRAMS[name]
