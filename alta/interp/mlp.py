"""The MLP step of the interpreter, vectorised over positions.

A Python MLP function runs once per distinct state row (not once per position); rules are
grouped by the variables they test and matched with one sorted-key lookup per group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from alta.errors import (
    AltaError,
    IllTypedWriteError,
    InterpreterError,
    ProgramError,
    RuleConflictError,
    UndefinedReadError,
)
from alta.interp import state as st
from alta.ir import symbolic

Writes = dict[str, tuple[np.ndarray, np.ndarray]]  # var -> (flat positions, raw new values)
MLPStep = Callable[[Mapping[str, np.ndarray], int, np.ndarray], Writes]


class _Z:
    """The `z` a Python MLP function sees: reads check definedness, writes are buffered."""

    def __init__(
        self,
        program: symbolic.Program,
        values: Mapping[str, Any],
    ) -> None:
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
        self.writes[name] = symbolic.checked_write(self._program, name, value)


class FunctionRunner:
    """Runs a Python MLP function once per distinct state; results are memoised for the run."""

    def __init__(self, program: symbolic.Program) -> None:
        assert isinstance(program.mlp, symbolic.FunctionMLP)
        self.program = program
        self.names = [n for n, _ in program.variables]
        self.variables = program.vars
        self.cache: dict[tuple[int, ...], dict[str, Any]] = {}

    def __call__(self, flat: Mapping[str, np.ndarray], layer: int, where: np.ndarray) -> Writes:
        if not len(where):
            return {}
        columns = [
            flat[n].view(np.int64) if flat[n].dtype == np.float64 else flat[n] for n in self.names
        ]
        first, inverse = _distinct_rows(columns)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(first) + 1))
        positions: dict[str, list[np.ndarray]] = defaultdict(list)
        raws: dict[str, list[np.ndarray]] = defaultdict(list)
        for r, pos in enumerate(first.tolist()):
            writes = self._writes(tuple(int(c[pos]) for c in columns), layer, where[pos])
            members = order[bounds[r] : bounds[r + 1]]
            for name, raw in writes.items():
                positions[name].append(members)
                dtype = st.dtype_of(self.variables[name])
                raws[name].append(np.full(len(members), raw, dtype=dtype))
        return {n: (np.concatenate(positions[n]), np.concatenate(raws[n])) for n in positions}

    def _writes(self, row: tuple[int, ...], layer: int, where: Any) -> dict[str, Any]:
        cached = self.cache.get(row)
        if cached is not None:
            return cached
        values = {}
        for n, raw in zip(self.names, row, strict=True):
            var = self.variables[n]
            values[n] = st.decode(
                var,
                np.int64(raw).view(np.float64) if isinstance(var, symbolic.NumericalVar) else raw,
            )
        z = _Z(self.program, values)
        try:
            self.program.mlp.fn(z)  # type: ignore[union-attr]
        except UndefinedReadError as exc:
            raise UndefinedReadError(
                f"layer {layer}: the MLP function read '{exc.args[0]}', which is undefined "
                f"(None) at {_describe(where)} (state {_state(values)}); guard the read on a "
                "variable that says whether it is defined"
            ) from None
        except IllTypedWriteError as exc:
            raise IllTypedWriteError(
                f"layer {layer}: {exc} at {_describe(where)} (state {_state(values)})"
            ) from None
        except AltaError:
            raise
        except Exception as exc:
            raise InterpreterError(
                f"layer {layer}: the MLP function raised {type(exc).__name__}: {exc} at "
                f"{_describe(where)} (state {_state(values)})"
            ) from exc
        writes = {n: st.encode(self.variables[n], v) for n, v in z.writes.items()}
        self.cache[row] = writes
        return writes


def _state(values: Mapping[str, Any]) -> str:
    shown = [f"{n}={symbolic.fmt_value(v)}" for n, v in values.items() if v is not None]
    text = ", ".join(shown[:12])
    return "{" + text + (", ..." if len(shown) > 12 else "") + "}"


def _distinct_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first occurrence of each distinct row, and each position's row id."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    radix = 1
    for col in columns:
        values, codes = np.unique(col, return_inverse=True)
        if radix * len(values) >= 2**62:
            _, first, inverse = np.unique(
                np.stack(columns, axis=1), axis=0, return_index=True, return_inverse=True
            )
            return first, inverse.reshape(-1)
        key += codes.reshape(-1) * radix
        radix *= len(values)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


class RuleTable:
    """Rules grouped by the tuple of variables they test, as sorted integer keys."""

    def __init__(self, program: symbolic.Program) -> None:
        assert isinstance(program.mlp, symbolic.RulesMLP)
        self.program = program
        self.rules = program.mlp.rules
        variables = program.vars
        #: Rules whose write is ill-typed: firing one is an error (undefined behaviour).
        self.ill_typed = {
            i: why
            for i, r in enumerate(self.rules)
            if (why := symbolic.write_error(variables[r.var], r.new))
        }
        self.ill_typed_mask = np.zeros(len(self.rules), dtype=bool)
        self.ill_typed_mask[list(self.ill_typed)] = True
        self.written = sorted({r.var for r in self.rules})
        index = {n: i for i, n in enumerate(self.written)}
        self.var_of_rule = np.asarray([index[r.var] for r in self.rules], dtype=np.int64)
        # Every rule's new value, encoded, in an array of its variable's dtype (indexed by rule).
        self.new_raw: dict[str, np.ndarray] = {
            n: np.asarray(
                [
                    st.encode(variables[n], r.new)
                    if r.var == n and i not in self.ill_typed
                    else st.none_of(variables[n])
                    for i, r in enumerate(self.rules)
                ],
                dtype=st.dtype_of(variables[n]),
            )
            for n in self.written
        }
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

    def __call__(self, flat: Mapping[str, np.ndarray], layer: int, where: np.ndarray) -> Writes:
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
        writes: Writes = {}
        var_ids = self.var_of_rule[rule_ids]
        for v in np.unique(var_ids).tolist():
            name = self.written[v]
            sel = var_ids == v
            p, r = pos[sel], rule_ids[sel]
            uniq, counts = np.unique(p, return_counts=True)
            if (counts > 1).any():
                clash = uniq[counts > 1][0]
                a, b = (int(x) for x in r[p == clash][:2])
                raise RuleConflictError(
                    f"layer {layer}: rules #{a} ({self.rules[a]}) and #{b} ({self.rules[b]}) "
                    f"both fired at {_describe(where[clash])} and both write '{name}'"
                )
            bad = np.flatnonzero(self.ill_typed_mask[r]) if self.ill_typed else _NONE
            if len(bad):
                a = int(r[bad[0]])
                raise IllTypedWriteError(
                    f"layer {layer}: rule #{a} ({self.rules[a]}) fired at "
                    f"{_describe(where[p[bad[0]]])} and writes '{name}' := {self.ill_typed[a]}"
                )
            writes[name] = (p, self.new_raw[name][r])
        return writes


_NONE = np.zeros(0, dtype=np.int64)


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
