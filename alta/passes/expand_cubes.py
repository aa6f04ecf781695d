"""Espresso-style expand and reduce over the disjoint cubes of one written variable.

The rules that write a variable `w` (as `rule_cubes`) are the *reference*: pairwise
disjoint cubes, each with the value it writes. A cube may write `v` in a state when a
reference cube writing `v` holds it, or when `w` already holds `v` there and no reference
cube writing another value does (writing `v` is then a no-op: a don't-care), and nowhere
else. Every state a cube could hold is reachable under the per-variable analysis, so
that is the only freedom besides unreachable values, which the space has left out.

The cover must stay disjoint: when two rules writing `w` fire at once the interpreter
raises and the dense lowering adds both writes. So `expand` grows a cube one variable at
a time by value bits whose slab is allowed, over other cubes of its value that it then
holds whole (absorbs them) or, when that removes more cubes than it adds, cuts through
(what is left of them becomes smaller cubes); `reduce` shrinks each cube to the
smallest one holding the states it must write, and expanding again may then merge
differently. Cubes of different values never meet: each holds only states its
reference cubes write or where `w` holds its own value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from alta.passes.rule_cubes import Cube, CubeIndex, Space, bits, volume

#: Rounds of expand and reduce; each must remove cubes, or the minimisation stops.
MAX_ROUNDS = 3


class Reference:
    """The disjoint cubes of one variable that define what each value may cover."""

    def __init__(self, cover: dict[Any, list[Cube]], space: Space) -> None:
        self.full = full = space.full
        self.cubes: list[Cube] = [c for cubes in cover.values() for c in cubes]
        self.index = CubeIndex(self.cubes, full)
        self.of_value: dict[Any, int] = {}
        start = 0
        for value, cubes in cover.items():
            self.of_value[value] = ((1 << len(cubes)) - 1) << start
            start += len(cubes)
        #: value -> the bit of `w` that holds it: there writing the value is a no-op
        self.keep = {value: space.bit_of(0, value) for value in cover}
        self.none_bits = [space.bit_of(i, None) for i in range(len(full))]


def minimize(cover: dict[Any, list[Cube]], ref: Reference) -> dict[Any, list[Cube]]:
    """Fewer cubes writing the same values in every state where that matters: expand,
    then reduce and expand again while that removes cubes. `cover` is the reference."""
    best = _expand(cover, ref, first=True)
    if _size(best) == _size(cover):
        return best  # nothing to gain from reducing what did not merge
    for _ in range(MAX_ROUNDS - 1):
        reduced = {v: [_reduce(c, v, ref) for c in cubes] for v, cubes in best.items()}
        grown = _expand(reduced, ref)
        if _size(grown) >= _size(best):
            break
        best = grown
    return best


def _expand(
    cover: dict[Any, list[Cube]], ref: Reference, first: bool = False
) -> dict[Any, list[Cube]]:
    out = {}
    for value, cubes in cover.items():
        if first and all(not m & (m - 1) for c in cubes for m in c):
            # Reference cubes of one value that each hold one state, no two of which
            # differ in one variable (they would have merged): growing along a variable
            # other than `w` needs another such cube there, so only a no-op write that
            # leaves no atom on `w` can be added. Tens of thousands of cubes for the
            # paper's SUBLEQ, where that test spares most of the time.
            keep, full = ref.keep[value], ref.full[0]
            order = [j for j, c in enumerate(cubes) if c[0] | keep == full]
            out[value] = _Group(value, cubes, ref, order).expand_all()
        else:
            out[value] = _Group(value, cubes, ref).expand_all()
    return out


def _size(cover: dict[Any, list[Cube]]) -> int:
    return sum(map(len, cover.values()))


def _reduce(c: Cube, value: Any, ref: Reference) -> Cube:
    """The smallest cube holding every state of `c` that some reference cube writes."""
    keep = ref.keep[value]
    meet = ref.of_value[value]
    for i, mask in enumerate(c):
        meet &= ref.index.meets(i, mask & ~keep if i == 0 else mask)
    out = [0] * len(c)
    for r in bits(meet):
        cube = ref.cubes[r]
        for i, mask in enumerate(c):
            out[i] |= mask & cube[i]
    trimmed = out[0] & ~keep
    if not trimmed & ref.none_bits[0]:  # None may stay only in a full mask
        out[0] = trimmed
    return tuple(out)


class _Move(NamedTuple):
    gain: int  # cubes removed: those absorbed, less the pieces that carving adds
    bits: int  # bits added
    x: int  # the variable grown
    grow: int
    absorbed: list[int]
    carved: dict[int, list[Cube]]  # a cube the grown one cuts through -> what is left


class _Group:
    """The current cubes of one value, with an index of which cube holds which bits."""

    def __init__(
        self, value: Any, cubes: list[Cube], ref: Reference, order: list[int] | None = None
    ) -> None:
        self.value, self.ref = value, ref
        self.cubes: dict[int, Cube] = dict(enumerate(cubes))
        self.all = (1 << len(cubes)) - 1
        self.next = len(cubes)
        self.whole: list[int] = []
        self.by_bit: list[dict[int, int]] = []
        self.indexed = False
        #: the cubes to expand, largest first (Espresso's order: big cubes absorb small)
        self.order = (
            order
            if order is not None
            else sorted(self.cubes, key=lambda j: (-volume(self.cubes[j]), self.cubes[j]))
        )

    def expand_all(self) -> list[Cube]:
        for j in self.order:  # pieces that carving adds are appended, and expanded too
            if j in self.cubes:
                while self._grow(j):
                    pass
        return list(self.cubes.values())

    def _grow(self, j: int) -> bool:
        move = self._best_move(j)
        if move is None:
            return False
        c = self.cubes[j]
        self._remove(j)
        for d in move.absorbed:
            self._remove(d)
        for d, pieces in move.carved.items():
            self._remove(d)
            for piece in pieces:
                self.order.append(self._add(self.next, piece))
        self._add(j, (*c[: move.x], c[move.x] | move.grow, *c[move.x + 1 :]))
        return True

    def _add(self, j: int, c: Cube) -> int:
        self.cubes[j] = c
        self.all |= 1 << j
        self.next = max(self.next, j + 1)
        self._index(j, c, True)
        return j

    def _remove(self, j: int) -> None:
        self._index(j, self.cubes.pop(j), False)
        self.all &= ~(1 << j)

    def _build_index(self) -> None:
        n = len(self.ref.full)
        self.whole = [0] * n
        self.by_bit = [{} for _ in range(n)]
        self.indexed = True
        for j, c in self.cubes.items():
            self._index(j, c, True)

    def _index(self, j: int, c: Cube, add: bool) -> None:
        if not self.indexed:
            return
        flag = 1 << j
        for i, mask in enumerate(c):
            if mask == self.ref.full[i]:
                self.whole[i] = self.whole[i] | flag if add else self.whole[i] & ~flag
                continue
            table = self.by_bit[i]
            for b in bits(mask):
                table[b] = table.get(b, 0) | flag if add else table[b] & ~flag

    def _meets(self, i: int, mask: int) -> int:
        if mask == self.ref.full[i]:
            return self.all
        found = self.whole[i]
        table = self.by_bit[i]
        for b in bits(mask):
            found |= table.get(b, 0)
        return found & self.all

    def _best_move(self, j: int) -> _Move | None:
        """The move that removes most cubes, then adds most bits; None when no bit of
        any variable can be added."""
        ref, c, value = self.ref, self.cubes[j], self.value
        n = len(c)
        keep = ref.keep[value]
        live = (c[0] & ~keep, *c[1:])  # the states of c where the write is not a no-op
        same, other = ref.of_value[value], ref.index.all & ~ref.of_value[value]
        meets = [ref.index.meets(i, mask) for i, mask in enumerate(live)]
        near = _all_but(meets, ref.index.all)  # reference cubes meeting c but along x
        own = near[0] & meets[0]  # those meeting c (usually inside it: they add nothing)
        rest: list[int] | None = None  # as `near`, with c's mask on `w` whole (keep included)
        own_but: list[int] | None = None
        best: _Move | None = None
        for x in range(n):
            free = ref.full[x] & ~c[x]
            if not free:
                continue
            grow = 0
            along = near[x] & same
            if along & ~own or along & ref.index.meets(x, free):
                grow = _covered(ref, live, x, free, along)
            if x == 0 and keep & free and (grow or c[0] | keep == ref.full[0]):
                grow |= keep  # a no-op write: worth it with other bits, or for no atom
            if not grow:
                continue
            if x == 0:
                touching = near[0]
            else:  # the slab must not meet other values' cubes, where w == value included
                if rest is None:
                    rest = _all_but(meets[1:], ref.index.all)
                    rest = [r & ref.index.meets(0, c[0]) for r in rest]
                touching = rest[x - 1]
            grow &= ~_forbidden(ref.index, x, grow, touching & other)
            grow = _whole_or_no_none(grow, c[x], ref.full[x], x, ref)
            if not grow:
                continue
            if own_but is None:
                if not self.indexed:
                    self._build_index()
                own_but = _all_but([self._meets(i, c[i]) for i in range(n)], self.all & ~(1 << j))
            met = [(d, self.cubes[d]) for d in bits(own_but[x]) if self.cubes[d][x] & grow]
            for move in (self._plain(c, x, grow, met), self._carving(c, x, grow, met)):
                if move is not None and (best is None or move[:2] > best[:2]):
                    best = move
        return best

    def _plain(self, c: Cube, x: int, grow: int, met: list[tuple[int, Cube]]) -> _Move | None:
        """Grow without cutting: the cubes the slab meets are absorbed whole, or their
        bits are not added."""
        n = len(c)
        for _, cube in met:
            if any(cube[i] & ~c[i] for i in range(n) if i != x):
                grow &= ~cube[x]
        changed = True
        while changed:
            changed = False
            for _, cube in met:
                if cube[x] & grow and cube[x] & ~grow:
                    grow &= ~cube[x]
                    changed = True
            grow = _whole_or_no_none(grow, c[x], self.ref.full[x], x, self.ref)
        if not grow:
            return None
        absorbed = [d for d, cube in met if cube[x] & grow]
        return _Move(len(absorbed), grow.bit_count(), x, grow, absorbed, {})

    def _carving(self, c: Cube, x: int, grow: int, met: list[tuple[int, Cube]]) -> _Move | None:
        """Grow by all of `grow`, cutting what the grown cube holds out of the cubes it
        meets; only worth it when that removes cubes."""
        grown = (*c[:x], c[x] | grow, *c[x + 1 :])
        gain, absorbed, carved = 0, [], {}
        for d, cube in met:
            pieces = _sharp(cube, grown)
            if not pieces:
                absorbed.append(d)
                gain += 1
                continue
            if any(self._unwritable(p) for p in pieces):
                return None
            pieces = [p for p in pieces if self._writes(p)]
            carved[d] = pieces
            gain += 1 - len(pieces)
        if not carved or gain <= 0:
            return None
        return _Move(gain, grow.bit_count(), x, grow, absorbed, carved)

    def _unwritable(self, c: Cube) -> bool:
        """Whether some mask holds None without being full (no atom can say that)."""
        ref = self.ref
        return any(m & ref.none_bits[i] and m != ref.full[i] for i, m in enumerate(c))

    def _writes(self, c: Cube) -> bool:
        """Whether some state of `c` is one a reference cube writes (not only no-ops)."""
        ref = self.ref
        meet = ref.of_value[self.value]
        for i, mask in enumerate(c):
            meet &= ref.index.meets(i, mask & ~ref.keep[self.value] if i == 0 else mask)
            if not meet:
                return False
        return True


def _sharp(c: Cube, cut: Cube) -> list[Cube]:
    """`c` less `cut`, as disjoint cubes (none when `cut` holds `c`)."""
    pieces = []
    inside = list(c)
    for i, mask in enumerate(c):
        outside = mask & ~cut[i]
        if outside:
            pieces.append((*inside[:i], outside, *c[i + 1 :]))
        inside[i] = mask & cut[i]
    return pieces


def _all_but(meets: Sequence[int], everything: int) -> list[int]:
    """For each i, the AND of every set in `meets` but the i-th."""
    n = len(meets)
    prefix = [everything] * (n + 1)
    for i in range(n):
        prefix[i + 1] = prefix[i] & meets[i]
    out = [0] * n
    suffix = everything
    for i in range(n - 1, -1, -1):
        out[i] = prefix[i] & suffix
        suffix &= meets[i]
    return out


def _forbidden(index: CubeIndex, x: int, grow: int, others: int) -> int:
    """The bits of `grow` whose slab meets one of the reference cubes `others` (they
    write other values)."""
    if not others:
        return 0
    if index.whole[x] & others:
        return grow
    out = 0
    for b in bits(grow):
        if index.by_bit[x][b] & others:
            out |= 1 << b
    return out


def _covered(ref: Reference, live: Cube, x: int, free: int, same: int) -> int:
    """The bits of `free` whose slab (the live states of the cube, with x at that value)
    the reference cubes `same` (of the cube's value) cover."""
    target = 1
    for i, mask in enumerate(live):
        if i != x:
            target *= mask.bit_count()
    covered: dict[int, int] = {}
    for r in bits(same):
        cube = ref.cubes[r]
        hit = cube[x] & free
        if not hit:
            continue
        part = 1
        for i, mask in enumerate(live):
            if i != x:
                part *= (mask & cube[i]).bit_count()
        if not part:
            continue
        for b in bits(hit):
            covered[b] = covered.get(b, 0) + part
    grow = 0
    for b, count in covered.items():
        if count == target:
            grow |= 1 << b
    return grow


def _whole_or_no_none(grow: int, mask: int, full: int, x: int, ref: Reference) -> int:
    """None can only join a mask that becomes full (only "no atom" admits None)."""
    none = ref.none_bits[x]
    if grow & none and (mask | grow) != full:
        return grow & ~none
    return grow
