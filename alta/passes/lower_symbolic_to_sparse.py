"""`lower-symbolic-to-sparse`: IR1 -> IR2. Domains made explicit, the MLP turned into rules.

A Python MLP function becomes rules by *path exploration*: it runs on a partial
assignment, and only when it reads a variable that has no value yet do we branch over that
variable's values. A rule's atoms are exactly the variables its path read, so parity's
ffn gives 6 rules, not the 15,000 of the full product.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from alta.errors import CompileError, ProgramError, UndefinedReadError
from alta.interpreter_mlp import _Z
from alta.ir import domains as domain_inference
from alta.ir import sparse, symbolic
from alta.passes import base

#: A function that needs more paths than this is refused (it would not fit a model anyway).
MAX_PATHS = 2_000_000


@base.register
@attrs.frozen
class LowerSymbolicToSparsePass(base.Pass):
    """Lower a symbolic program to the sparse rule/head graph."""

    name: ClassVar[str] = "lower-symbolic-to-sparse"
    input_level: ClassVar[str] = "symbolic"
    output_level: ClassVar[str] = "sparse"

    def run(self, module: symbolic.Program) -> sparse.Module:
        return lower(module)

    def statistics(self, before: Any, after: sparse.Module) -> list[str]:
        return [f"rules {len(after.rules)}", f"variables {len(after.variables)}"]


def lower(program: symbolic.Program) -> sparse.Module:
    written: dict[str, set[Any]] = {}
    for _ in range(8):
        domains = domain_inference.domains(program, written)
        rules = _rules(program, domains)
        grown = _numeric_writes(program, rules)
        if all(vals <= written.get(n, set()) for n, vals in grown.items()):
            break
        for n, vals in grown.items():
            written.setdefault(n, set()).update(vals)
    else:
        raise CompileError(
            f"program '{program.name}': numerical domains did not settle; give `values`"
        )
    variables = {
        name: _variable(program, name, var, domains[name], rules)
        for name, var in program.variables
    }
    halt = program.halt and sparse.Halt(program.halt.var, program.halt.value)
    return sparse.Module(
        name=program.name,
        variables=variables,
        heads=tuple(
            sparse.Head(h.output, h.query, h.key, h.value, h.relative_position_mask)
            for h in program.heads
        ),
        rules=tuple(rules),
        output=program.output,
        input_range=program.input_range,
        position_range=program.position_range,
        halt=halt,
    )


def _variable(
    program: symbolic.Program,
    name: str,
    var: symbolic.Var,
    domain: tuple[Any, ...],
    rules: list[sparse.Rule],
) -> sparse.Variable:
    init = _init(program, name, var)
    nullable = (
        name in program.head_outputs
        or None in init.table
        or any(r.var == name and r.new is None for r in rules)
    )
    kind = var.kind
    size = var.range if isinstance(var, symbolic.CategoricalVar | symbolic.SetVar) else 0
    return sparse.Variable(name, kind, domain, init, nullable, size)


def _init(program: symbolic.Program, name: str, var: symbolic.Var) -> sparse.Init:
    if name in program.head_outputs:
        return sparse.Init("head", ())
    if var.input_init_fn is not None:
        fn = var.input_init_fn
        return sparse.Init(
            "token", tuple(symbolic.normalise(var, fn(t)) for t in range(program.input_range))
        )
    if var.position_init_fn is not None:
        fn, size = var.position_init_fn, program.position_range or 0
        return sparse.Init("position", tuple(symbolic.normalise(var, fn(p)) for p in range(size)))
    return sparse.Init("const", (var.default,))


def _rules(program: symbolic.Program, domains: dict[str, tuple[Any, ...]]) -> list[sparse.Rule]:
    if isinstance(program.mlp, symbolic.RulesMLP):
        return [_from_rule(r) for r in program.mlp.rules]
    return _explore(program, domains)


def _from_rule(rule: symbolic.Rule) -> sparse.Rule:
    atoms = {n: v for n, v in rule.lhs}
    atoms[rule.var] = rule.old
    return sparse.Rule(
        tuple(sorted(sparse.Atom(n, frozenset({v})) for n, v in atoms.items())),
        rule.var,
        rule.new,
    )


class _NeedValue(Exception):
    """The function read a variable the current path has not fixed yet."""


class _Exploring(_Z):
    """`z` on a partial assignment: reading an unassigned variable asks for a branch."""

    def __getitem__(self, name: str) -> Any:
        if name in self._program.vars and name not in self._values:
            raise _NeedValue(name)
        return super().__getitem__(name)


def _explore(program: symbolic.Program, domains: dict[str, tuple[Any, ...]]) -> list[sparse.Rule]:
    assert isinstance(program.mlp, symbolic.FunctionMLP)
    fn = program.mlp.fn
    rules: list[sparse.Rule] = []
    stack: list[tuple[tuple[str, Any], ...]] = [()]
    paths = failed = 0
    first_failure = ""
    while stack:
        path = stack.pop()
        paths += 1
        if paths > MAX_PATHS:
            raise CompileError(
                f"program '{program.name}': the MLP function needs more than {MAX_PATHS} "
                "paths; split it into steps that each read fewer variables"
            )
        z = _Exploring(program, dict(path))
        try:
            fn(z)
        except _NeedValue as need:
            name = need.args[0]
            if not domains[name]:
                raise CompileError(
                    f"MLP function reads {program.vars[name].kind} variable '{name}', whose "
                    "values are unknown; give it `values`"
                ) from None
            # None is never branched on: reading it raises in the interpreter.
            stack.extend(path + ((name, v),) for v in reversed(domains[name]))
            continue
        except (ProgramError, UndefinedReadError) as exc:
            raise CompileError(
                f"program '{program.name}': on the path {_path(path)} the MLP function fails: "
                f"{exc}"
            ) from None
        except Exception as exc:  # an unreachable state the function does not handle
            failed += 1
            first_failure = first_failure or f"{type(exc).__name__}: {exc} on {_path(path)}"
            continue
        rules.extend(_path_rules(path, z.writes))
    if failed and failed == paths:
        raise CompileError(
            f"program '{program.name}': the MLP function raised on every path ({first_failure})"
        )
    return rules


def _path_rules(path: tuple[tuple[str, Any], ...], writes: dict[str, Any]) -> list[sparse.Rule]:
    read = dict(path)
    atoms = tuple(sorted(sparse.Atom(n, frozenset({v})) for n, v in path))
    return [
        sparse.Rule(atoms, name, new, dont_care_none=True)
        for name, new in sorted(writes.items())
        if not (name in read and read[name] == new)
    ]


def _path(path: tuple[tuple[str, Any], ...]) -> str:
    return "{" + ", ".join(f"{n}={symbolic.fmt_value(v)}" for n, v in path) + "}"


def _numeric_writes(program: symbolic.Program, rules: list[sparse.Rule]) -> dict[str, set[Any]]:
    grown: dict[str, set[Any]] = {}
    variables = program.vars
    for rule in rules:
        var = variables[rule.var]
        if not isinstance(var, symbolic.CategoricalVar) and var.values is None:
            grown.setdefault(rule.var, set()).add(rule.new)
    return grown
