"""The MLP step of the interpreter, vectorised over positions.

A Python MLP function runs once per distinct state row (not once per position); rules are
grouped by the variables they test and matched with one sorted-key lookup per group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from alta import interpreter_state as st
from alta.errors import ProgramError, RuleConflictError, UndefinedReadError
from alta.ir import symbolic

Writes = dict[str, tuple[np.ndarray, np.ndarray]]  # var -> (flat positions, raw new values)


class _Z:
    """The `z` a Python MLP function sees: reads check definedness, writes are buffered."""

    def __init__(self, program: symbolic.Program, values: Mapping[str, Any]) -> None:
        self._program = program
        self._values = values
        self.writes: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            raise ProgramError(f"MLP function reads unknown variable '{name}'")
        value = self._values[name]
        if value is None:
            raise UndefinedReadError(name)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        variables = self._program.vars
        if name not in variables:
            raise ProgramError(f"MLP function writes unknown variable '{name}'")
        if name in self._program.head_outputs:
            raise ProgramError(f"MLP function writes head output '{name}', which is read-only")
        var = variables[name]
        value = symbolic.normalise(var, value)
        why = symbolic.value_error(var, value)
        if why:
            raise ProgramError(f"MLP function writes '{name}' := {why}")
        self.writes[name] = value


def run_function(
    program: symbolic.Program, flat: Mapping[str, np.ndarray], layer: int, where: np.ndarray
) -> Writes:
    """Run the MLP function once per distinct state among the flat positions."""
    assert isinstance(program.mlp, symbolic.FunctionMLP)
    names = [n for n, _ in program.variables]
    variables = program.vars
    if not len(where):
        return {}
    columns = [
        flat[n].view(np.int64) if flat[n].dtype == np.float64 else flat[n] for n in names
    ]
    rows, first, inverse = np.unique(
        np.stack(columns, axis=1), axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    per_row: list[dict[str, Any]] = []
    for r in range(len(rows)):
        pos = first[r]
        values = {n: st.decode(variables[n], flat[n][pos]) for n in names}
        z = _Z(program, values)
        try:
            program.mlp.fn(z)
        except UndefinedReadError as exc:
            raise UndefinedReadError(
                f"layer {layer}: the MLP function read '{exc.args[0]}', which is undefined "
                f"(None) at {_describe(where[pos])}; guard the read on a variable that "
                "says whether it is defined"
            ) from None
        per_row.append(z.writes)
    writes: dict[str, tuple[list[int], list[Any]]] = defaultdict(lambda: ([], []))
    for r, row_writes in enumerate(per_row):
        if not row_writes:
            continue
        positions = np.flatnonzero(inverse == r)
        for name, value in row_writes.items():
            raw = st.encode(variables[name], value)
            writes[name][0].extend(positions.tolist())
            writes[name][1].extend([raw] * len(positions))
    return {
        n: (np.asarray(p, dtype=np.int64), np.asarray(v, dtype=st.dtype_of(variables[n])))
        for n, (p, v) in writes.items()
    }


class RuleTable:
    """Rules grouped by the tuple of variables they test, as sorted integer keys."""

    def __init__(self, program: symbolic.Program) -> None:
        assert isinstance(program.mlp, symbolic.RulesMLP)
        self.program = program
        self.rules = program.mlp.rules
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, rule in enumerate(self.rules):
            groups[tuple(sorted({n for n, _ in rule.lhs} | {rule.var}))].append(i)
        variables = program.vars
        self.groups = []
        for names, members in sorted(groups.items()):
            sizes = [len(_domain(variables[n], n)) for n in names]
            strides = np.cumprod([1, *sizes[:-1]]).astype(np.int64)
            keys = np.array(
                [self._key(self.rules[i], names, strides) for i in members], dtype=np.int64
            )
            order = np.argsort(keys, kind="stable")
            self.groups.append((names, strides, keys[order], np.asarray(members)[order]))

    def _key(self, rule: symbolic.Rule, names: tuple[str, ...], strides: np.ndarray) -> int:
        atoms = {**dict(rule.lhs), rule.var: rule.old}
        variables = self.program.vars
        return sum(
            _domain(variables[n], n).index(atoms[n]) * int(s)
            for n, s in zip(names, strides, strict=True)
        )

    def fire(self, flat: Mapping[str, np.ndarray], layer: int, where: np.ndarray) -> Writes:
        """Match every rule at every flat position; return the writes, checking conflicts."""
        variables = self.program.vars
        index_cache: dict[str, np.ndarray] = {}
        fired_pos: list[np.ndarray] = []
        fired_rule: list[np.ndarray] = []
        for names, strides, keys, members in self.groups:
            key = np.zeros(len(where), dtype=np.int64)
            ok = np.ones(len(where), dtype=bool)
            for n, s in zip(names, strides, strict=True):
                if n not in index_cache:
                    index_cache[n] = value_index(variables[n], n, flat[n])
                idx = index_cache[n]
                ok &= idx >= 0
                key += idx * s
            lo = np.searchsorted(keys, key, side="left")
            hi = np.searchsorted(keys, key, side="right")
            hi = np.where(ok, hi, lo)
            for k in range(int((hi - lo).max(initial=0))):
                sel = np.flatnonzero(hi - lo > k)
                fired_pos.append(sel)
                fired_rule.append(members[lo[sel] + k])
        if not fired_pos:
            return {}
        pos = np.concatenate(fired_pos)
        rule_ids = np.concatenate(fired_rule)
        return self._writes(pos, rule_ids, layer, where)

    def _writes(
        self, pos: np.ndarray, rule_ids: np.ndarray, layer: int, where: np.ndarray
    ) -> Writes:
        variables = self.program.vars
        by_var: dict[str, list[int]] = defaultdict(list)
        for j, r in enumerate(rule_ids.tolist()):
            by_var[self.rules[r].var].append(j)
        writes: Writes = {}
        for name, js in by_var.items():
            p, r = pos[js], rule_ids[js]
            uniq, counts = np.unique(p, return_counts=True)
            if (counts > 1).any():
                clash = uniq[counts > 1][0]
                a, b = (int(x) for x in r[p == clash][:2])
                raise RuleConflictError(
                    f"layer {layer}: rules #{a} ({self.rules[a]}) and #{b} ({self.rules[b]}) "
                    f"both fired at {_describe(where[clash])} and both write '{name}'"
                )
            new = [st.encode(variables[name], self.rules[x].new) for x in r.tolist()]
            writes[name] = (p, np.asarray(new, dtype=st.dtype_of(variables[name])))
        return writes


def _domain(var: symbolic.Var, name: str) -> tuple[Any, ...]:
    if not isinstance(var, symbolic.CategoricalVar) and var.values is None:
        raise ProgramError(f"rules test {var.kind} variable '{name}', which has no `values`")
    return var.domain()


def value_index(var: symbolic.Var, name: str, raw: np.ndarray) -> np.ndarray:
    """Per position, the index of the value in the variable's domain (bucket for numbers)."""
    if isinstance(var, symbolic.CategoricalVar):
        return raw
    values = _domain(var, name)
    if isinstance(var, symbolic.NumericalVar):
        edges = np.asarray(symbolic.bucket_edges(values))
        idx = np.searchsorted(edges, raw, side="left").astype(np.int64)
        return np.where(np.isnan(raw), -1, idx)
    masks = np.asarray([st.encode(var, v) for v in values], dtype=np.int64)
    order = np.argsort(masks)
    at = np.clip(np.searchsorted(masks[order], raw), 0, len(masks) - 1)
    return np.where(masks[order][at] == raw, order[at], -1)


def _describe(where: Any) -> str:
    b, i = (int(x) for x in where)
    return f"sequence {b}, position {i}"
