"""Deterministic text forms of the three IRs (the same text under any hash seed).

The first line names the level: `alta.symbolic @name`, `alta.sparse @name`, `alta.dense @name`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from alta.ir import sparse, symbolic

if TYPE_CHECKING:
    from alta.ir import dense

_MAX_TABLE = 24


def fmt(value: Any) -> str:
    return sparse.fmt_value(value)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


def _table(source: str, table: tuple[Any, ...]) -> str:
    if source == "head":
        return "head"
    if source == "const":
        return fmt(table[0])
    if len(table) <= _MAX_TABLE:
        return f"{source}[{', '.join(fmt(v) for v in table)}]"
    text = ", ".join(fmt(v) for v in table)
    return f"{source}[{len(table)} entries sha={digest(text.encode())}]"


def _type(kind: str, size: int) -> str:
    return {"categorical": f"cat<{size}>", "numerical": "num", "set": f"set<{size}>"}[kind]


def _head(output: str, query: str, key: str, value: str, mask: frozenset[int]) -> str:
    text = f"head %{output} = attend(query=%{query}, key=%{key}, value=%{value}"
    if mask:
        text += ", mask={" + ", ".join(str(m) for m in sorted(mask)) + "}"
    return text + ")"


def print_symbolic(program: symbolic.Program) -> str:
    lines = [f"alta.symbolic @{program.name} {{"]
    pos = "none" if program.position_range is None else str(program.position_range)
    lines.append(f"  input_range = {program.input_range}, position_range = {pos}")
    for name, var in program.variables:
        size = 0 if isinstance(var, symbolic.NumericalVar) else var.range
        decl = f"  var %{name} : {_type(var.kind, size)}"
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
        lines.append(f"  halt %{program.halt.var} == {program.halt.value}")
    lines.append(f"  output %{program.output}")
    lines.append("}")
    return "\n".join(lines)


def rule_text(index: int, rule: sparse.Rule) -> str:
    atoms = ", ".join(
        f"%{a.var} in {{{', '.join(fmt(v) for v in _sorted(a.values))}}}" for a in rule.atoms
    )
    flag = " [none-dont-care]" if rule.dont_care_none else ""
    return f"rule #{index} : {atoms or 'true'} -> %{rule.var} := {fmt(rule.new)}{flag}"


def _sorted(values: frozenset[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (len(v), sorted(v)) if isinstance(v, frozenset) else v)


def print_sparse(module: sparse.Module) -> str:
    lines = [f"alta.sparse @{module.name} {{"]
    pos = "none" if module.position_range is None else str(module.position_range)
    lines.append(f"  input_range = {module.input_range}, position_range = {pos}")
    for var in module.variables.values():
        domain = ", ".join(fmt(v) for v in var.values)
        null = " nullable" if var.nullable else ""
        lines.append(
            f"  var %{var.name} : {_type(var.kind, var.range)} {{{domain}}}{null} = "
            f"{_table(var.init.source, var.init.table)}"
        )
    for h in module.heads:
        lines.append("  " + _head(h.output, h.query, h.key, h.value, h.mask))
    for i, rule in enumerate(module.rules):
        lines.append("  " + rule_text(i, rule))
    if module.clears:
        lines.append("  clear " + ", ".join(f"%{c}" for c in module.clears))
    if module.halt is not None:
        lines.append(f"  halt %{module.halt.var} == {module.halt.value}")
    lines.append(f"  output %{module.output}")
    lines.append("}")
    return "\n".join(lines)


def print_dense(module: dense.Module) -> str:
    from alta.ir import dense_printer

    return dense_printer.print_dense(module)
