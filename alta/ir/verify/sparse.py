"""The IR2 verifier: every name resolves, every value is in its variable's domain, heads
read what they can (a head may read heads declared before it), and the MLP writes no head
output. Errors name the offender and quote its printed line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from alta.errors import VerifyError
from alta.ir import joint_reach, printer, sparse
from alta.ir.verify.heads import head_problem

_KINDS = (sparse.CATEGORICAL, sparse.NUMERICAL, sparse.SET)


def verify_sparse(module: sparse.Module, *, check_conflicts: bool = False) -> sparse.Module:
    """Check `module`; return it unchanged, or raise `VerifyError` naming what is wrong.

    Rules that may fire together on one variable are undefined behaviour at run time, not
    malformed IR, so they are checked only with `check_conflicts=True`.
    """
    for key, var in module.variables.items():
        _check_var(module, key, var)
    order = [h.output for h in module.heads]
    for head in module.heads:
        _check_head(module, head, order)
    for name, var in module.variables.items():
        if var.is_head_output and name not in order:
            _fail(module, f"variable '%{name}' is initialised by a head, but no head writes it")
    known = _Domains(module)
    for i, rule in enumerate(module.rules):
        _check_rule(module, i, rule, known)
    if module.output not in module.variables:
        _fail(module, f"output names unknown variable '%{module.output}'" + _known(module))
    if module.halt is not None:
        _check_halt(module, module.halt)
    _check_codes(module)
    if check_conflicts:
        _check_conflicts(module)
    return module


def _check_codes(module: sparse.Module) -> None:
    """Binary codes (docs/encodings.md): a coded variable holds ints below 2^bits, variables
    a head joins share one code, and the halt variable and set-query keys stay one-hot.
    A code naming a variable a later pass removed is ignored."""
    variables, codes = module.variables, module.codes
    for name, bits in codes.items():
        var = variables.get(name)
        if var is None:
            continue
        if bits == 0:  # value-only: a nullable number without its "defined" dim
            if var.kind != sparse.NUMERICAL:
                _fail(module, f"'%{name}' is {var.kind}; only numbers are value-only")
            continue
        line = f"encode %{name} binary {bits}"
        if var.kind != sparse.CATEGORICAL:
            _fail(module, f"'%{name}' is {var.kind}; only categorical variables take codes", line)
        if not isinstance(bits, int) or bits < 2:
            _fail(module, f"the code of '%{name}' has {bits} bits; it needs at least 2", line)
        bad = [v for v in var.values if not isinstance(v, int) or not 0 <= v < 1 << bits]
        if bad:
            _fail(module, f"'%{name}' holds {bad[0]!r}, which {bits} bits cannot code", line)
    if module.halt is not None and module.halt.var in codes:
        _fail(module, f"the halt variable '%{module.halt.var}' must stay one-hot")
    for head in module.heads:
        pairs = [(head.query, head.key)]
        if variables[head.output].kind == sparse.CATEGORICAL:
            pairs.append((head.value, head.output))
        for a, b in pairs:
            if codes.get(a) != codes.get(b) and variables[a].kind == sparse.CATEGORICAL:
                _fail(
                    module,
                    f"head '%{head.output}' joins '%{a}' ({_code(codes, a)}) and '%{b}' "
                    f"({_code(codes, b)}); joined variables share one code",
                )
        if variables[head.query].kind == sparse.SET and head.key in codes:
            _fail(
                module, f"'%{head.key}' is the key of set query '%{head.query}': it stays one-hot"
            )


def _code(codes: Any, name: str) -> str:
    return f"binary {codes[name]}" if name in codes else "one-hot"


def _fail(module: sparse.Module, what: str, line: str | Callable[[], str] = "") -> NoReturn:
    line = line() if callable(line) else line
    quote = f"\n    {line}" if line else ""
    raise VerifyError(f"alta.sparse @{module.name}: {what}{quote}")


def _known(module: sparse.Module) -> str:
    return f" (variables: {', '.join(module.variables)})"


def _var_line(module: sparse.Module, name: str) -> str:
    prefix = f"  var %{name} :"
    for line in printer.print_sparse(module).splitlines():
        if line.startswith(prefix):
            return line.strip()
    return ""


def _in_domain(var: sparse.Variable, value: Any) -> bool:
    if value is None:
        return var.nullable
    return value in var.values


def _check_var(module: sparse.Module, key: str, var: sparse.Variable) -> None:
    if key != var.name:
        _fail(module, f"variable '%{var.name}' is stored under the key '{key}'")
    if var.kind not in _KINDS:
        _fail(module, f"variable '%{key}' has unknown kind '{var.kind}'", _var_line(module, key))
    if len(set(var.values)) != len(var.values):
        _fail(module, f"variable '%{key}' lists a value twice", _var_line(module, key))
    if var.kind == sparse.CATEGORICAL and any(
        isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < var.range for v in var.values
    ):
        _fail(
            module,
            f"variable '%{key}' has a value outside range({var.range})",
            _var_line(module, key),
        )
    bad = [v for v in var.init.table if not _in_domain(var, v)]
    if bad:
        _fail(
            module,
            f"variable '%{key}' starts as {sparse.fmt_value(bad[0])}, which is not in its domain",
            _var_line(module, key),
        )


def _check_head(module: sparse.Module, head: sparse.Head, order: list[str]) -> None:
    line = printer.head_text(head.output, head.query, head.key, head.value, head.mask)
    variables = module.variables
    for role in ("output", "query", "key", "value"):
        name = getattr(head, role)
        if name not in variables:
            _fail(
                module,
                f"head '%{head.output}': {role} names unknown variable '%{name}'" + _known(module),
                line,
            )
    output = variables[head.output]
    if not output.is_head_output:
        _fail(
            module,
            f"head '%{head.output}': its output variable is not marked as a head "
            f"output (init is '{output.init.source}')",
            line,
        )
    problem = head_problem(head, lambda n: (variables[n].kind, variables[n].range), order, "%")
    if problem:
        _fail(module, problem, line)


class _Domains:
    """Each variable's values as a set, and the atoms found well formed (by identity,
    while the module holds them): rule programs share atom objects, so each is checked
    once."""

    def __init__(self, module: sparse.Module) -> None:
        self.values = {n: frozenset(v.values) for n, v in module.variables.items()}
        self.atoms: set[int] = set()


def _check_rule(module: sparse.Module, index: int, rule: sparse.Rule, known: _Domains) -> None:
    def line() -> str:
        return printer.rule_text(index, rule)

    where = f"rule #{index}"
    seen: set[str] = set()
    for atom in rule.atoms:
        if atom.var in seen:
            _fail(module, f"{where}: variable '%{atom.var}' has two atoms", line)
        seen.add(atom.var)
        if id(atom) in known.atoms:
            continue
        var = module.variables.get(atom.var)
        if var is None:
            _fail(
                module, f"{where}: atom reads unknown variable '%{atom.var}'" + _known(module), line
            )
            return
        if None in atom.values:
            _fail(
                module,
                f"{where}: the atom on '%{atom.var}' lists none; atoms match defined values only",
                line,
            )
        bad = [v for v in atom.values if v not in known.values[atom.var]]
        if bad:
            _fail(
                module,
                f"{where}: atom value {sparse.fmt_value(bad[0])} is not in the domain "
                f"of '%{atom.var}'",
                line,
            )
        known.atoms.add(id(atom))
    compared: set[frozenset[str]] = set()
    for pair in rule.equals:
        _check_equal(module, where, pair, line)
        if frozenset(pair) in compared:
            _fail(module, f"{where}: '%{pair[0]} == %{pair[1]}' appears twice", line)
        compared.add(frozenset(pair))
    var = module.variables.get(rule.var)
    if var is None:
        _fail(module, f"{where}: writes unknown variable '%{rule.var}'" + _known(module), line)
        return
    if var.is_head_output:
        _fail(
            module,
            f"{where}: writes head output '%{rule.var}'; head outputs are read-only in the MLP",
            line,
        )
    if rule.new is None and not (var.kind == sparse.CATEGORICAL and var.nullable):
        _fail(
            module,
            f"{where}: writes none to '%{rule.var}'; only a nullable categorical "
            "variable can be set to none",
            line,
        )
    if rule.new is not None and rule.new not in known.values[rule.var]:
        _fail(
            module,
            f"{where}: writes {sparse.fmt_value(rule.new)}, which is not in the "
            f"domain of '%{rule.var}'",
            line,
        )


def _check_equal(
    module: sparse.Module, where: str, pair: tuple[str, str], line: Callable[[], str]
) -> None:
    """`%x == %y` compares two distinct categorical variables (numbers and sets have no
    equality units)."""
    for name in pair:
        var = module.variables.get(name)
        if var is None:
            _fail(module, f"{where}: '==' reads unknown variable '%{name}'" + _known(module), line)
            return
        if var.kind != sparse.CATEGORICAL:
            _fail(module, f"{where}: '==' compares '%{name}', which is {var.kind}", line)
    if pair[0] == pair[1]:
        _fail(module, f"{where}: '%{pair[0]}' is compared with itself", line)


def _check_halt(module: sparse.Module, halt: sparse.Halt) -> None:
    line = f"halt %{halt.var} == {halt.value}"
    var = module.variables.get(halt.var)
    if var is None:
        _fail(module, f"halt names unknown variable '%{halt.var}'" + _known(module), line)
        return
    if var.kind != sparse.CATEGORICAL:
        _fail(module, f"halt variable '%{halt.var}' must be categorical", line)
    if halt.value not in var.values:
        _fail(module, f"halt value {halt.value} is not in the domain of '%{halt.var}'", line)


def _check_conflicts(module: sparse.Module) -> None:
    for i, j in joint_reach.unproven_conflicts(module)[:1]:
        a, b = module.rules[i], module.rules[j]
        _fail(
            module,
            f"rules #{i} and #{j} can fire together and both write '%{a.var}'",
            f"{printer.rule_text(i, a)}\n    {printer.rule_text(j, b)}",
        )
