"""Which categorical variables get a bipolar binary code instead of one-hot dims.

A variable of n values needs n one-hot dims but only b = max(2, bits of its largest value)
dims as a code whose bit i is +1 or -1 (`dense.code`), None being all zero. Equality with
one value is then one linear form (sum of code_i x_i - (b - 1): 1 on a match, at most -1
otherwise), and query . key peaks exactly on equal codes (docs/encodings.md).

Variables a head joins (its query with its key, its value with its output) must share one
code, so the choice is per class of joined variables. A class stays one-hot when any of
its variables needs one-hot: the halt test reads a single dim, a set query tests
membership, and only categorical variables have codes. A class is coded only where
that makes it much narrower (_PAYS).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np

from alta.ir import sparse

#: `Module.codes` value of a nullable numerical variable laid out without its "defined"
#: dim (nothing reads its None, `needs_flag`): None and 0 then share the value dim.
VALUE_ONLY = 0

#: A class whose codes would need more equality units (tests of several values that do
#: not share bits, `cube`) than its head-output clears save is coded only when it saves
#: this many residual dims per extra unit.
_DIMS_PER_UNIT = 1


def choose(
    module: sparse.Module,
    folded: Mapping[str, Any],
    reach: Mapping[str, frozenset[Any]],
) -> dict[str, int]:
    """The binary-coded variables and their bits (folded constants included, for biases),
    and the numerical variables that need no "defined" dim (VALUE_ONLY)."""
    variables = module.variables
    joined = nx.Graph()
    joined.add_nodes_from(variables)
    needs_one_hot = {module.halt.var} if module.halt else set()
    for head in module.heads:
        joined.add_edge(head.query, head.key)
        if variables[head.output].kind == sparse.CATEGORICAL:
            joined.add_edge(head.value, head.output)
        if variables[head.query].kind == sparse.SET:
            needs_one_hot |= {head.query, head.key}
    tests: dict[str, set[frozenset[Any]]] = {}  # the distinct value sets rules test
    for rule in module.rules:
        for atom in rule.atoms:
            tests.setdefault(atom.var, set()).add(atom.values)
    codes: dict[str, int] = dict.fromkeys(
        (name for name, var in variables.items() if var.kind == sparse.NUMERICAL and var.nullable),
        VALUE_ONLY,
    )
    for name in needs_flag(module, reach):
        del codes[name]
    for group in nx.connected_components(joined):
        names = sorted(group)
        if any(n in needs_one_hot or variables[n].kind != sparse.CATEGORICAL for n in names):
            continue
        values = {v for n in names for v in variables[n].values}
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values):
            continue
        bits = max(2, max(values, default=0).bit_length())
        live = [n for n in names if n not in folded]
        saved = sum(len(variables[n].values) for n in live) - bits * len(live)
        extra = _extra_units(tests, module, set(live), bits, reach)
        if live and saved > 0 and (extra <= 0 or saved >= _DIMS_PER_UNIT * extra):
            codes.update(dict.fromkeys(names, bits))
    return codes


def needs_flag(module: sparse.Module, reach: Mapping[str, frozenset[Any]]) -> set[str]:
    """The nullable numerical variables that keep a "defined" dim: the readout (a head
    output is None again after the MLP), and those a rule tests where they may be None
    (but not a rule from a function, which raises on None: docs/semantics.md). A head
    never reads the flag of the value it copies."""
    tested = {atom.var for rule in module.rules if not rule.dont_care_none for atom in rule.atoms}
    return {
        name
        for name, var in module.variables.items()
        if var.kind == sparse.NUMERICAL
        and var.nullable
        and (name == module.output or (name in tested and None in reach[name]))
    }


def cube(bits: int, codes: list[int], reachable: frozenset[Any]) -> dict[int, float] | None:
    """The bits (index -> +1/-1) that `codes` share, when no other reachable value shares
    them all; None when they span no such cube (or share no bit while None is reachable,
    since None, all zero, would pass an empty test)."""
    if not codes:
        return None
    return _cube(bits, frozenset(codes), reachable)


@functools.lru_cache(maxsize=1 << 16)
def _cube(bits: int, codes: frozenset[int], reachable: frozenset[Any]) -> dict[int, float] | None:
    every = (1 << bits) - 1
    ones = functools.reduce(operator.and_, codes, every)
    any_one = functools.reduce(operator.or_, codes, 0)
    fixed = every & ~(ones ^ any_one)  # the bits on which every code agrees
    pattern = ones & fixed
    values = _ints(reachable)
    inside = values[(values & fixed) == pattern]
    if not np.isin(inside, list(codes)).all() or (not fixed and None in reachable):
        return None
    return {i: 1.0 if pattern >> i & 1 else -1.0 for i in range(bits) if fixed >> i & 1}


@functools.lru_cache(maxsize=1 << 10)
def _ints(reachable: frozenset[Any]) -> np.ndarray:
    return np.asarray(sorted(v for v in reachable if v is not None), dtype=np.int64)


def _extra_units(
    tests: Mapping[str, set[frozenset[Any]]],
    module: sparse.Module,
    live: set[str],
    bits: int,
    reach: Mapping[str, frozenset[Any]],
) -> int:
    """MLP units coding adds (equality units for tests that are not cubes) minus those it
    saves (a head output's clears: two per bit instead of one per value)."""
    equal: set[tuple[str, Any]] = set()
    for name in live:
        for values in tests.get(name, ()):
            tested = sorted(v for v in values & reach[name] if v is not None)
            if cube(bits, tested, reach[name]) is None:
                equal.update((name, v) for v in tested)
    outputs = {h.output for h in module.heads} & live
    return len(equal) - sum(len(module.variables[n].values) - 2 * bits for n in outputs)
