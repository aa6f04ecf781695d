"""Deterministic text forms of the three IRs (the same text under any hash seed).

The first line names the level: `alta.symbolic @name`, `alta.sparse @name`, `alta.dense @name`.
IR2 and IR3 text is complete: `alta.ir.parser.parse` reads it back (IR3 with its weights
given separately), and printing the parsed module gives the same text again. IR1 holds
Python functions, so its text is for reading only. `alta.ir.parser`'s docstring has the
grammar and samples of both. IR3 is printed by `alta.ir.dense_printer`.

Names print bare (`%parity`, `@head.x.wq`) when they are made of letters, digits, `_`, `.`
and `$`, and as a JSON string after the sigil otherwise (`%"my var"`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from alta.ir import sparse, symbolic

#: What a name may hold to print without quotes (the parser's lexer reads the same set).
BARE_NAME = re.compile(r"[A-Za-z0-9_.$]+")


def fmt(value: Any) -> str:
    return sparse.fmt_value(value)


def sym(sigil: str, name: str) -> str:
    """`%name` or `@name`; quoted as a JSON string when the name has other characters."""
    return sigil + (name if BARE_NAME.fullmatch(name) else json.dumps(name))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def _table(source: str, table: tuple[Any, ...]) -> str:
    if source == "head":
        return "head"
    if source == "const":
        return fmt(table[0])
    return f"{source}[{', '.join(fmt(v) for v in table)}]"


def _type(kind: str, size: int) -> str:
    if kind == sparse.NUMERICAL:
        return "num" if size == 0 else f"num<{size}>"
    return {"categorical": f"cat<{size}>", "set": f"set<{size}>"}.get(kind, f"{kind}<{size}>")


def _head(output: str, query: str, key: str, value: str, mask: frozenset[int]) -> str:
    text = (
        f"head {sym('%', output)} = attend(query={sym('%', query)}, key={sym('%', key)}, "
        f"value={sym('%', value)}"
    )
    if mask:
        text += ", mask={" + ", ".join(str(m) for m in sorted(mask)) + "}"
    return text + ")"


def print_symbolic(program: symbolic.Program) -> str:
    lines = [f"alta.symbolic {sym('@', program.name)} {{"]
    pos = "none" if program.position_range is None else str(program.position_range)
    lines.append(f"  input_range = {program.input_range}, position_range = {pos}")
    for name, var in program.variables:
        size = 0 if isinstance(var, symbolic.NumericalVar) else var.range
        decl = f"  var {sym('%', name)} : {_type(var.kind, size)}"
        if not isinstance(var, symbolic.CategoricalVar) and var.values is not None:
            decl += " {" + ", ".join(fmt(v) for v in var.values) + "}"
        if name in program.head_outputs:
            init = "head"
        elif var.input_init_fn is not None:
            init = (
                "token["
                + ", ".join(
                    fmt(symbolic.normalise(var, var.input_init_fn(t)))
                    for t in range(program.input_range)
                )
                + "]"
            )
        elif var.position_init_fn is not None:
            init = "position-init"
        else:
            init = fmt(var.default)
        lines.append(f"{decl} = {init}")
    for h in program.heads:
        lines.append("  " + _head(h.output, h.query, h.key, h.value, h.relative_position_mask))
    if isinstance(program.mlp, symbolic.RulesMLP):
        for i, rule in enumerate(program.mlp.rules):
            lines.append(f"  rule #{i} : {rule}")
    else:
        fn = program.mlp.fn
        lines.append(f"  mlp = function {getattr(fn, '__qualname__', type(fn).__name__)}")
    if program.halt is not None:
        lines.append(f"  halt {sym('%', program.halt.var)} == {program.halt.value}")
    lines.append(f"  output {sym('%', program.output)}")
    lines.append("}")
    return "\n".join(lines)


def rule_text(index: int, rule: sparse.Rule) -> str:
    atoms = ", ".join(
        f"{sym('%', a.var)} in {{{', '.join(fmt(v) for v in _sorted(a.values))}}}"
        for a in rule.atoms
    )
    flag = " [none-dont-care]" if rule.dont_care_none else ""
    return f"rule #{index} : {atoms or 'true'} -> {sym('%', rule.var)} := {fmt(rule.new)}{flag}"


def _sorted(values: frozenset[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (len(v), sorted(v)) if isinstance(v, frozenset) else v)


def var_text(var: sparse.Variable) -> str:
    """A `var` line of IR2 (without its indent): name, type, domain, nullable, init."""
    domain = ", ".join(fmt(v) for v in var.values)
    null = " nullable" if var.nullable else ""
    return (
        f"var {sym('%', var.name)} : {_type(var.kind, var.range)} {{{domain}}}{null} = "
        f"{_table(var.init.source, var.init.table)}"
    )


def print_sparse(module: sparse.Module) -> str:
    """IR2 as text: every variable (domain and full init table), head and rule."""
    lines = [f"alta.sparse {sym('@', module.name)} {{"]
    pos = "none" if module.position_range is None else str(module.position_range)
    lines.append(f"  input_range = {module.input_range}, position_range = {pos}")
    for var in module.variables.values():
        lines.append("  " + var_text(var))
    for h in module.heads:
        lines.append("  " + _head(h.output, h.query, h.key, h.value, h.mask))
    for i, rule in enumerate(module.rules):
        lines.append("  " + rule_text(i, rule))
    if module.clears:
        lines.append("  clear " + ", ".join(sym("%", c) for c in module.clears))
    if module.halt is not None:
        lines.append(f"  halt {sym('%', module.halt.var)} == {module.halt.value}")
    lines.append(f"  output {sym('%', module.output)}")
    lines.append("}")
    return "\n".join(lines)
