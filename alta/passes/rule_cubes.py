"""The rules that write one variable as multi-valued cubes, for `minimize-rules`.

A cube holds one bitmask per tested variable over that variable's *reachable* values
(`analysis.reachable_values`), so values no state holds cost nothing. A rule without an
atom on a variable has the full mask there, and None, where reachable, is one more bit
that only a full mask holds: an atom never matches None (docs/semantics.md), so the only
literal that admits None is "no atom". When every rule of the variable is
`dont_care_none` (derived from a Python function, which raises on reading None), None of
the other variables is left out of the space: what the rules do there is free.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from alta.ir import analysis, sparse, symbolic

Cube = tuple[int, ...]


class Space:
    """The tested variables of the rules writing `var` (`var` first) and their value bits."""

    def __init__(
        self, var: str, rules: Sequence[sparse.Rule], reach: Mapping[str, frozenset[Any]]
    ) -> None:
        self.var = var
        self.none_free = all(r.dont_care_none for r in rules)
        tested = dict.fromkeys(a.var for r in rules for a in r.atoms)
        self.names: tuple[str, ...] = (var, *(n for n in tested if n != var))
        self.values: list[tuple[Any, ...]] = []
        self.bit: list[dict[Any, int]] = []
        for name in self.names:
            values = sorted(reach[name] - {None}, key=symbolic.value_order)
            if None in reach[name] and not (self.none_free and name != var):
                values.append(None)
            self.values.append(tuple(values))
            self.bit.append({v: 1 << i for i, v in enumerate(values) if v is not None})
        self.full: Cube = tuple((1 << len(v)) - 1 for v in self.values)
        self.position = {name: i for i, name in enumerate(self.names)}
        self._atoms: dict[tuple[int, int], sparse.Atom] = {}
        #: id(atom) -> (variable position, mask, the atom: held so that its id stays its own)
        self._masks: dict[int, tuple[int, int, sparse.Atom]] = {}

    def bit_of(self, i: int, value: Any) -> int:
        """The bit of `value` in variable i's mask; 0 when the space leaves it out."""
        if value is None:
            return 1 << (len(self.values[i]) - 1) if None in self.values[i] else 0
        return self.bit[i].get(value, 0)

    def cube(self, rule: sparse.Rule) -> Cube | None:
        """The rule's cube, or None when some atom admits no reachable value."""
        masks = list(self.full)
        for atom in rule.atoms:
            found = self._masks.get(id(atom))  # rule programs share their atoms
            if found is None:
                i = self.position[atom.var]
                bits = self.bit[i]
                mask = 0
                for value in atom.values:
                    mask |= bits.get(value, 0)
                found = self._masks[id(atom)] = (i, mask, atom)
            i, mask, _ = found
            if not mask:
                return None
            masks[i] = mask
        return tuple(masks)

    def atoms(self, cube: Cube) -> tuple[sparse.Atom, ...]:
        """The atoms of `cube`: none where its mask is full."""
        out = []
        for i, mask in enumerate(cube):
            if mask != self.full[i]:
                key = (i, mask)
                atom = self._atoms.get(key)
                if atom is None:
                    values = frozenset(self.values[i][b] for b in bits(mask))
                    atom = self._atoms[key] = sparse.Atom(self.names[i], values)
                out.append(atom)
        return tuple(out)


def bits(mask: int) -> Iterable[int]:
    """The indices of the set bits of `mask`, lowest first.

    Value masks are small and recur thousands of times in a minimisation, so those
    below 2**16 are answered from a table (a generator costs more than its loop)."""
    if mask < _SMALL:
        found = _BITS.get(mask)
        if found is None:
            found = _BITS[mask] = tuple(_bits(mask))
        return found
    return _bits(mask)


_SMALL = 1 << 16
_BITS: dict[int, tuple[int, ...]] = {}


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def volume(cube: Cube) -> int:
    """How many states (of the space) the cube holds."""
    n = 1
    for mask in cube:
        n *= mask.bit_count()
    return n


def merge_pairs(cover: dict[Any, list[Cube]]) -> dict[Any, list[Cube]]:
    """Merge cubes of one value that differ in one mask, until none do (their union is
    then one cube)."""
    out = {}
    for value, cubes in cover.items():
        cubes = list(dict.fromkeys(cubes))
        width = len(cubes[0]) if cubes else 0
        changed = True
        while changed and len(cubes) > 1:
            changed = False
            for k in range(width):
                groups: dict[Cube, int] = {}
                merged: list[Cube] = []
                for c in cubes:
                    rest = c[:k] + c[k + 1 :]
                    j = groups.get(rest)
                    if j is None:
                        groups[rest] = len(merged)
                        merged.append(c)
                    else:
                        d = merged[j]
                        merged[j] = (*d[:k], d[k] | c[k], *d[k + 1 :])
                if len(merged) < len(cubes):
                    changed = True
                    cubes = merged
        out[value] = cubes
    return out


class CubeIndex:
    """For a fixed list of cubes: per variable and value bit, which cubes hold that bit,
    as an int bitset over cube positions. `meets(i, mask)` is the set of cubes whose
    mask i intersects `mask`."""

    def __init__(self, cubes: Sequence[Cube], full: Cube) -> None:
        n = len(cubes)
        self.full = full
        self.all = (1 << n) - 1
        self.whole: list[int] = []
        self.by_bit: list[list[int]] = []
        self._met: dict[tuple[int, int], int] = {}
        for i, full_i in enumerate(full):
            ids: dict[int, list[int]] = defaultdict(list)
            whole = []
            for j, c in enumerate(cubes):
                if c[i] == full_i:
                    whole.append(j)
                else:
                    for b in bits(c[i]):
                        ids[b].append(j)
            self.whole.append(analysis.bitset(whole, n))
            self.by_bit.append(
                [analysis.bitset(ids.get(b, ()), n) for b in range(full_i.bit_length())]
            )

    def meets(self, i: int, mask: int) -> int:
        found = self._met.get((i, mask))  # masks recur: cubes share most of them
        if found is None:
            found = self._met[(i, mask)] = self._meets(i, mask)
        return found

    def _meets(self, i: int, mask: int) -> int:
        if mask == self.full[i]:
            return self.all
        found = self.whole[i] if mask else 0
        for b in bits(mask):
            found |= self.by_bit[i][b]
        return found


def disjoint(cubes: Sequence[Cube], index: CubeIndex) -> bool:
    """Whether no two of `cubes` share a state."""
    for j, c in enumerate(cubes):
        meet = index.all
        for i, mask in enumerate(c):
            meet &= index.meets(i, mask)
            if meet == 1 << j:
                break
        if meet != 1 << j:
            return False
    return True
