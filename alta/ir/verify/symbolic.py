"""The IR1 verifier: reject a malformed program with an error that names the offender."""

from __future__ import annotations

import itertools

from alta.errors import ProgramError
from alta.ir import symbolic
from alta.ir.verify.heads import head_problem


def verify_symbolic(program: symbolic.Program) -> symbolic.Program:
    """Check a program; return it unchanged, or raise `ProgramError` naming what is wrong."""
    variables = program.vars
    if len(variables) != len(program.variables):
        names = [n for n, _ in program.variables]
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ProgramError(f"program '{program.name}': variable(s) {dup} declared twice")
    for name, var in program.variables:
        _check_var(program, name, var)
    for head in program.heads:
        _check_head(program, head)
    if program.output not in variables:
        raise ProgramError(_unknown(program, "output", program.output))
    if program.halt is not None:
        _check_halt(program, program.halt)
    if program.input_range < 1:
        raise ProgramError(f"input_range must be at least 1, got {program.input_range}")
    for name, source, index, value in symbolic.iter_inits(program):
        why = symbolic.value_error(variables[name], value)
        if why:
            raise ProgramError(f"variable '{name}': init function gives {why} for {source} {index}")
    if isinstance(program.mlp, symbolic.RulesMLP):
        passed: set[tuple[str, int]] = set()  # int atoms already checked: rules share them
        for i, rule in enumerate(program.mlp.rules):
            _check_rule(program, i, rule, passed)
    return program


def _unknown(program: symbolic.Program, role: str, name: str) -> str:
    known = ", ".join(n for n, _ in program.variables)
    return f"{role} names unknown variable '{name}' (variables: {known})"


def _check_var(program: symbolic.Program, name: str, var: symbolic.Var) -> None:
    where = f"variable '{name}'"
    if isinstance(var, symbolic.CategoricalVar | symbolic.SetVar) and var.range < 1:
        raise ProgramError(f"{where}: range must be at least 1, got {var.range}")
    if isinstance(var, symbolic.SetVar) and var.range > symbolic.MAX_SET_RANGE:
        raise ProgramError(f"{where}: set range {var.range} exceeds {symbolic.MAX_SET_RANGE}")
    if isinstance(var, symbolic.NumericalVar) and var.values is not None:
        vals = var.values
        if any(b <= a for a, b in itertools.pairwise(vals)):
            raise ProgramError(
                f"{where}: numerical values must be sorted and distinct, got {list(vals)}"
            )
    if (
        isinstance(var, symbolic.NumericalVar)
        and var.default is None
        and name not in program.head_outputs
    ):
        raise ProgramError(f"{where}: a numerical variable needs a float default")
    if var.position_init_fn is not None and program.position_range is None:
        raise ProgramError(f"{where}: has a position_init_fn but the program has no position_range")
    if name not in program.head_outputs and _default_used(var):
        why = symbolic.value_error(var, var.default)
        if why:
            raise ProgramError(f"{where}: default {why}")


def _default_used(var: symbolic.Var) -> bool:
    """An init function covers every token (or position), so the default is never read;
    it is checked only where it is used (docs/semantics.md, "Initial state")."""
    return var.input_init_fn is None and var.position_init_fn is None


def _check_head(program: symbolic.Program, head: symbolic.Head) -> None:
    variables = program.vars
    where = f"head '{head.output}'"
    for role in ("output", "query", "key", "value"):
        name = getattr(head, role)
        if name not in variables:
            raise ProgramError(f"{where}: " + _unknown(program, role, name))
    order = [h.output for h in program.heads]
    problem = head_problem(head, lambda n: _kind(variables[n]), order)
    if problem:
        raise ProgramError(problem)


def _kind(var: symbolic.Var) -> tuple[str, int]:
    return var.kind, 0 if isinstance(var, symbolic.NumericalVar) else var.range


def _check_halt(program: symbolic.Program, halt: symbolic.Halt) -> None:
    var = program.vars.get(halt.var)
    if var is None:
        raise ProgramError("halt spec " + _unknown(program, "var", halt.var))
    if not isinstance(var, symbolic.CategoricalVar):
        raise ProgramError(f"halt variable '{halt.var}' must be categorical")
    if not 0 <= halt.value < var.range:
        raise ProgramError(f"halt value {halt.value} is outside range({var.range}) of '{halt.var}'")


def _check_rule(
    program: symbolic.Program, index: int, rule: symbolic.Rule, passed: set[tuple[str, int]]
) -> None:
    variables = program.vars

    def where() -> str:  # formatted only on error: a rule program has thousands of rules
        return f"rule #{index} ({rule})"

    try:
        names = [n for n, _ in rule.lhs]
    except (TypeError, ValueError):  # (and `where()` could not print the rule either)
        raise ProgramError(
            f"rule #{index}: lhs {rule.lhs!r} is not a sequence of (variable, value) pairs"
        ) from None
    if not all(isinstance(n, str) for n in (*names, rule.var)):
        raise ProgramError(f"{where()}: a variable name is not a string")
    if len(set(names)) != len(names):
        raise ProgramError(f"{where()}: a variable appears twice in the lhs")
    for name, value in (*rule.lhs, (rule.var, rule.old)):
        key = (name, value) if type(value) is int else None
        if key in passed:
            continue
        if name not in variables:
            raise ProgramError(f"{where()}: " + _unknown(program, "atom", name))
        why = symbolic.value_error(variables[name], value)
        if why or value is None:
            raise ProgramError(f"{where()}: atom on '{name}': {why or 'None never matches'}")
        if key is not None:
            passed.add(key)
    if rule.var in program.head_outputs:
        raise ProgramError(
            f"{where()}: writes head output '{rule.var}'; head outputs are read-only in the MLP"
        )
    try:
        hash(rule.new)
    except TypeError:
        raise ProgramError(
            f"{where()}: writes {rule.new!r}, which no variable can hold (a set variable "
            "holds frozensets)"
        ) from None
    if dict(rule.lhs).get(rule.var, rule.old) != rule.old:
        raise ProgramError(f"{where()}: lhs atom on '{rule.var}' disagrees with the old value")
    # A write outside the variable's range is accepted: it is undefined behaviour when the
    # rule fires (docs/semantics.md, "Undefined behaviour"), and the compiler drops it.
