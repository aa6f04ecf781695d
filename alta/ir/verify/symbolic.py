"""The IR1 verifier: reject a malformed program with an error that names the offender."""

from __future__ import annotations

import itertools
import math

import attrs

from alta.errors import ProgramError
from alta.ir import symbolic
from alta.ir.verify.heads import head_problem


def verify_symbolic(program: symbolic.Program) -> symbolic.Program:
    """Check a program; return it unchanged, or raise `ProgramError` naming what is wrong."""
    variables = program.vars
    if len(variables) != len(program.variables):
        names = [n for n, _ in program.variables]
        dup = sorted({n for n in names if names.count(n) > 1}, key=repr)
        raise ProgramError(f"program '{program.name}': variable(s) {dup} declared twice")
    for name, var in program.variables:
        _check_var(program, name, var)
    for head in program.heads:
        _check_head(program, head)
    if not isinstance(program.output, str) or program.output not in variables:
        raise ProgramError(_unknown(program, "output", program.output))
    if program.halt is not None:
        _check_halt(program, program.halt)
    _check_size(program.input_range, "input_range", optional=False)
    _check_size(program.position_range, "position_range", optional=True)
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


def _is_int(value: object) -> bool:
    """A Python int that is not a bool (a range, a size, a mask offset, a halt value)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_size(value: object, what: str, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not _is_int(value):
        raise ProgramError(f"{what} must be an int, got {value!r} ({type(value).__name__})")
    assert isinstance(value, int)
    if value < 1:
        raise ProgramError(f"{what} must be at least 1, got {value}")


def _check_var(program: symbolic.Program, name: str, var: symbolic.Var) -> None:
    where = f"variable {name!r}"
    if not isinstance(name, str):
        raise ProgramError(f"{where}: a variable name must be a string")
    if not isinstance(var, symbolic.Var):
        raise ProgramError(
            f"{where}: {var!r} is not a variable; make one with var, input_var, position_var, "
            "numeric_var or set_var"
        )
    if isinstance(var, symbolic.CategoricalVar | symbolic.SetVar):
        _check_size(var.range, f"{where}: range", optional=False)
    if isinstance(var, symbolic.SetVar) and var.range > symbolic.MAX_SET_RANGE:
        raise ProgramError(f"{where}: set range {var.range} exceeds {symbolic.MAX_SET_RANGE}")
    if isinstance(var, symbolic.SetVar) and var.values is not None:
        _check_set_values(where, var)
    if isinstance(var, symbolic.NumericalVar) and var.values is not None:
        _check_numbers(where, var.values)
    if _undefined_start(program, name, var):
        given = "a float" if isinstance(var, symbolic.NumericalVar) else "a set (frozenset())"
        raise ProgramError(
            f"{where}: default None: only a categorical variable can start undefined (a "
            f"compiled model encodes None only for those); give {given} default or an init "
            "function"
        )
    if var.position_init_fn is not None and program.position_range is None:
        raise ProgramError(f"{where}: has a position_init_fn but the program has no position_range")
    if name not in program.head_outputs and _default_used(var):
        why = symbolic.value_error(var, var.default)
        if why:
            raise ProgramError(f"{where}: default {why}")


def _check_numbers(where: str, vals: object) -> None:
    if not isinstance(vals, tuple) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in vals
    ):
        raise ProgramError(
            f"{where}: numerical values must be a tuple of finite numbers, got {vals!r}"
        )
    if any(b <= a for a, b in itertools.pairwise(vals)):
        raise ProgramError(
            f"{where}: numerical values must be sorted and distinct, got {list(vals)}"
        )


def _check_set_values(where: str, var: symbolic.SetVar) -> None:
    if not isinstance(var.values, tuple):
        raise ProgramError(f"{where}: set values must be a tuple of sets, got {var.values!r}")
    for value in var.values:
        why = symbolic.value_error(attrs.evolve(var, values=None), value)
        if why or value is None:
            raise ProgramError(f"{where}: set value {why or 'None is not a set'}")


def _undefined_start(program: symbolic.Program, name: str, var: symbolic.Var) -> bool:
    """A numerical or set variable that starts None everywhere: the MLP could only write
    it, and no compiled model can (mlp_units.is_none); a head output starts None anyway."""
    return (
        var.default is None
        and not isinstance(var, symbolic.CategoricalVar)
        and name not in program.head_outputs
        and _default_used(var)
    )


def _default_used(var: symbolic.Var) -> bool:
    """An init function covers every token (or position), so the default is never read;
    it is checked only where it is used (docs/semantics.md, "Initial state")."""
    return var.input_init_fn is None and var.position_init_fn is None


def _check_head(program: symbolic.Program, head: symbolic.Head) -> None:
    variables = program.vars
    if not isinstance(head, symbolic.Head):
        raise ProgramError(f"{head!r} is not an attention head; make one with qkv or v_relative")
    where = f"head {head.output!r}"
    for role in ("output", "query", "key", "value"):
        name = getattr(head, role)
        if not isinstance(name, str) or name not in variables:
            raise ProgramError(f"{where}: " + _unknown(program, role, name))
    mask = head.relative_position_mask
    if not isinstance(mask, frozenset) or not all(_is_int(m) for m in mask):
        raise ProgramError(
            f"{where}: relative_position_mask must be a set of ints (offsets j - i), got {mask!r}"
        )
    order = [h.output for h in program.heads]
    problem = head_problem(head, lambda n: _kind(variables[n]), order)
    if problem:
        raise ProgramError(problem)


def _kind(var: symbolic.Var) -> tuple[str, int]:
    return var.kind, 0 if isinstance(var, symbolic.NumericalVar) else var.range


def _check_halt(program: symbolic.Program, halt: symbolic.Halt) -> None:
    if not isinstance(halt, symbolic.Halt):
        raise ProgramError(f"halt must be a halt_spec(var, value) or None, got {halt!r}")
    var = program.vars.get(halt.var) if isinstance(halt.var, str) else None
    if var is None:
        raise ProgramError("halt spec " + _unknown(program, "var", halt.var))
    if not isinstance(var, symbolic.CategoricalVar):
        raise ProgramError(f"halt variable '{halt.var}' must be categorical")
    if not _is_int(halt.value):
        raise ProgramError(
            f"halt value {halt.value!r} of '{halt.var}' must be an int in range({var.range})"
        )
    if not 0 <= halt.value < var.range:
        raise ProgramError(f"halt value {halt.value} is outside range({var.range}) of '{halt.var}'")


def _check_rule(
    program: symbolic.Program, index: int, rule: symbolic.Rule, passed: set[tuple[str, int]]
) -> None:
    variables = program.vars
    if not isinstance(rule, symbolic.Rule):
        raise ProgramError(
            f"rule #{index}: {rule!r} is not a Rule; build rules with MLPBuilder or "
            "symbolic.Rule(lhs, var, old, new)"
        )

    def where() -> str:  # formatted only on error: a rule program has thousands of rules
        return f"rule #{index} ({rule})"

    try:
        names = [n for n, _ in rule.lhs]
    except (TypeError, ValueError):  # (and `where()` could not print the rule either)
        raise ProgramError(
            f"rule #{index}: lhs {rule.lhs!r} is not a sequence of (variable, value) pairs"
        ) from None
    try:  # (lhs names are checked below, where a (name, value) pair is first met)
        twice, named = len(set(names)) != len(names), type(rule.var) is str
    except TypeError:  # an unhashable name
        named = False
    if not named:
        raise ProgramError(f"{where()}: a variable name is not a string")
    if twice:
        raise ProgramError(f"{where()}: a variable appears twice in the lhs")
    for name, value in (*rule.lhs, (rule.var, rule.old)):
        key = (name, value) if type(value) is int else None
        if key in passed:
            continue
        if type(name) is not str:
            raise ProgramError(f"{where()}: a variable name is not a string")
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
