"""The MLP step of the interpreter, vectorised over positions.

A Python MLP function's results are cached on the values of the variables it read
(`read_tree`), so a call is needed only for a path of reads not seen before; rules are
grouped by the variables they test and matched with one sorted-key lookup per group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from alta.interp import read_memo, read_tree
from alta.interp import state as st
from alta.interp.flat import Positions
from alta.ir import symbolic

#: var -> (positions, raw new values): the positions as indices, the values theirs; or as
#: a mask over every position, the values every position's (only the masked are written).
Writes = dict[str, tuple[np.ndarray, np.ndarray]]
#: The MLP over the valid positions: their columns (`flat.Flat`), the layer, and where
#: they are (for error messages).
MLPStep = Callable[[Mapping[str, np.ndarray], int, Positions], Writes]


class _Z:
    """The `z` a Python MLP function sees: reads check definedness and are recorded in
    order (the read tree branches on them), writes are buffered."""

    def __init__(
        self,
        program: symbolic.Program,
        values: Mapping[str, Any],
    ) -> None:
        self._program = program
        self._values = values
        self.read: dict[str, None] = {}  # first reads, in order (a dict keeps the order)
        self.writes: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            raise ProgramError(f"MLP function reads unknown variable '{name}'")
        self.read.setdefault(name)  # before the None check: a caught raise still read it
        value = self._values[name]
        if value is None:
            raise UndefinedReadError(name)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        self.writes[name] = symbolic.checked_write(self._program, name, value)


#: A program's read tree is dropped and refilled once it holds more nodes than this
#: (a few tens of MB), so a long-lived program cannot grow it without bound.
MAX_TREE_NODES = 1 << 17
#: From this many positions on, leaves are looked up with numpy (`read_memo`, which walks
#: the tree level by level for keys it has not seen); below it, row by row in plain
#: Python, which is cheaper than numpy's cost per call (on the paper's programs the two
#: cross at some 20 to 40 positions).
VECTOR_ROWS = 32


class FunctionRunner:
    """Runs a Python MLP function, its results cached on the values of what it read.

    The cache is a `read_tree.ReadTree` kept with the program (`Program.derived`), so
    later runs reuse it. It is exact for a function that is deterministic and reads the
    state only through `z` (the compiler's lowering, which explores the function's paths
    of reads, assumes the same); a function with side effects, or one that reads anything
    else, is undefined behaviour, and one seen to change its reads is reported. A call that
    raises is never cached, so its error is reported on every run, naming the position
    and the state.
    """

    def __init__(self, program: symbolic.Program) -> None:
        assert isinstance(program.mlp, symbolic.FunctionMLP)
        self.program = program
        self.names = [n for n, _ in program.variables]
        self.column = {n: j for j, n in enumerate(self.names)}
        self.variables = program.vars
        self.decoders = [_decoder(self.variables[n]) for n in self.names]
        #: The numerical columns, which the tree sees by their bits (`read_tree.raw_bits`).
        self.numbers = {
            j
            for j, n in enumerate(self.names)
            if isinstance(self.variables[n], symbolic.NumericalVar)
        }
        #: Head outputs, whose writes the layer drops (they are cleared at once).
        self.cleared = {j for j, n in enumerate(self.names) if n in program.head_outputs}
        self._reads: tuple[str, ...] = ()
        #: The tree and its number of slots that `_reads` was made for (slots only grow).
        self._reads_of: tuple[read_tree.ReadTree | None, int] = (None, 0)

    def tree(self) -> read_tree.ReadTree:
        """The program's tree, made anew when missing or grown past `MAX_TREE_NODES`."""
        tree: read_tree.ReadTree | None = self.program.derived.get("read_tree")
        if tree is None or tree.size > MAX_TREE_NODES:
            tree = read_tree.ReadTree([self.variables[n] for n in self.names])
            self.program.derived["read_tree"] = tree
        return tree

    def reads(self) -> tuple[str, ...]:
        """What the last call could have read: every variable its tree had read, on
        every path seen (the tree may be replaced by the next call)."""
        return self._reads

    def memo(self, tree: read_tree.ReadTree) -> read_memo.Memo:
        """The memo of the program's tree (`read_memo`), made with the tree."""
        memo: read_memo.Memo | None = self.program.derived.get("read_memo")
        if memo is None or memo.tree is not tree:
            memo = self.program.derived["read_memo"] = read_memo.Memo(tree)
        return memo

    def __call__(self, flat: Mapping[str, np.ndarray], layer: int, where: Positions) -> Writes:
        n = len(where)
        if not n:
            self._reads, self._reads_of = (), (None, 0)
            return {}
        tree = self.tree()
        bits = _Columns(flat, self.names)
        misses: Sequence[int]
        if n >= VECTOR_ROWS:
            leaf, misses = self.memo(tree).lookup(bits, n)
        else:
            leaf, misses = np.full(n, -1, dtype=np.int64), range(n)
        if misses:
            columns = _Lists(bits)
            for row in misses:  # in order: the first position that raises is reported
                found = tree.find(columns, row)
                leaf[row] = found if found >= 0 else self._call(tree, columns, row, layer, where)
        if self._reads_of != (tree, len(tree.slot)):
            self._reads_of = (tree, len(tree.slot))
            self._reads = tuple(self.names[c] for c in tree.slot)
        writes = {}
        for col, (mask, raw) in tree.written.items():
            if col in self.cleared:
                continue
            which = mask[leaf]
            if np.count_nonzero(which):
                writes[self.names[col]] = (which, raw[leaf])
        return writes

    def leaves(
        self, columns: read_tree.Lists, n: int, layer: int, where: Positions
    ) -> tuple[read_tree.ReadTree, list[int]]:
        """The tree, and the leaf of each of `n` rows given as plain-Python columns of
        `read_tree.raw_bits` (`alta.interp.single`), calling the function on misses."""
        tree = self.tree()
        leaves = []
        for row in range(n):  # in order: the first position that raises is reported
            found = tree.find(columns, row)
            leaves.append(found if found >= 0 else self._call(tree, columns, row, layer, where))
        return tree, leaves

    def _call(
        self,
        tree: read_tree.ReadTree,
        columns: read_tree.Lists,
        row: int,
        layer: int,
        where: Positions,
    ) -> int:
        """Call the function on one row's state and add the call to the tree: the leaf."""
        values = _Row(self, columns, row)
        z = _Z(self.program, values)
        at = where[row]
        try:
            self.program.mlp.fn(z)  # type: ignore[union-attr]
        except UndefinedReadError as exc:
            raise UndefinedReadError(
                f"layer {layer}: the MLP function read '{exc.args[0]}', which is undefined "
                f"(None) at {_describe(at)} (state {_state(values)}); guard the read on a "
                "variable that says whether it is defined"
            ) from None
        except IllTypedWriteError as exc:
            raise IllTypedWriteError(
                f"layer {layer}: {exc} at {_describe(at)} (state {_state(values)})"
            ) from None
        except AltaError:
            raise
        except Exception as exc:
            raise InterpreterError(
                f"layer {layer}: the MLP function raised {type(exc).__name__}: {exc} at "
                f"{_describe(at)} (state {_state(values)})"
            ) from exc
        trace = [(self.column[n], columns[self.column[n]][row]) for n in z.read]
        writes = [(self.column[n], st.encode(self.variables[n], v)) for n, v in z.writes.items()]
        try:
            return tree.insert(trace, writes)
        except read_tree.Inconsistent:
            raise InterpreterError(
                f"layer {layer}: the MLP function read other variables than it did before "
                f"on the same values, at {_describe(at)} (state {_state(values)}); an MLP "
                "function must be deterministic and read the state only through z"
            ) from None


class _Columns:
    """The flat columns by variable index as `read_tree.raw_bits`, each made when first
    read: the tree reads few of them."""

    def __init__(self, flat: Mapping[str, np.ndarray], names: list[str]) -> None:
        self._flat, self._names = flat, names
        self._made: dict[int, np.ndarray] = {}

    def __getitem__(self, col: int) -> np.ndarray:
        bits = self._made.get(col)
        if bits is None:
            bits = self._made[col] = read_tree.raw_bits(self._flat[self._names[col]])
        return bits


class _Lists:
    """The same columns as Python lists, for walking the tree and calling the function
    one row at a time."""

    def __init__(self, columns: _Columns) -> None:
        self._columns = columns
        self._made: dict[int, list[int]] = {}

    def __getitem__(self, col: int) -> list[int]:
        values = self._made.get(col)
        if values is None:
            values = self._made[col] = self._columns[col].tolist()
        return values


class _Row(Mapping[str, Any]):
    """One row's state for `_Z`, each value decoded when first read: most never are."""

    def __init__(self, runner: FunctionRunner, columns: read_tree.Lists, row: int) -> None:
        self._runner, self._columns, self._row = runner, columns, row
        self._decoded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._decoded:
            col = self._runner.column[name]
            self._decoded[name] = self._runner.decoders[col](self._columns[col][self._row])
        return self._decoded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._runner.column

    def __iter__(self) -> Iterator[str]:
        return iter(self._runner.names)

    def __len__(self) -> int:
        return len(self._runner.names)


def _decoder(var: symbolic.Var) -> Callable[[int], Any]:
    """A raw value as `tree.raw_bits` keeps it (floats by their bits) back to a value."""
    if isinstance(var, symbolic.CategoricalVar):
        return lambda raw: None if raw == st.NONE_INT else raw
    if isinstance(var, symbolic.NumericalVar):
        return lambda raw: st.decode(var, np.int64(raw).view(np.float64))
    return lambda raw: st.decode(var, raw)


def _state(values: Mapping[str, Any]) -> str:
    shown = [f"{n}={symbolic.fmt_value(v)}" for n, v in values.items() if v is not None]
    text = ", ".join(shown[:12])
    return "{" + text + (", ..." if len(shown) > 12 else "") + "}"


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
        self._reads = tuple(sorted({n for names, *_ in self.groups for n in names}))

    def reads(self) -> tuple[str, ...]:
        """The variables the rules test (asked every layer: made once)."""
        return self._reads

    def _key(self, rule: symbolic.Rule, names: tuple[str, ...], strides: np.ndarray) -> int:
        atoms = {**dict(rule.lhs), rule.var: rule.old}
        variables = self.program.vars
        return sum(
            _domain(variables[n], n).index(atoms[n]) * int(s)
            for n, s in zip(names, strides, strict=True)
        )

    def __call__(self, flat: Mapping[str, np.ndarray], layer: int, where: Positions) -> Writes:
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
        self, pos: np.ndarray, rule_ids: np.ndarray, layer: int, where: Positions
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
