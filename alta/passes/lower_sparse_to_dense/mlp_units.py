"""The MLP weights of IR3: an optional expansion layer, one unit per rule write, a readout.

A rule unit computes clipped_relu(sum of its tests' indicators - (tests - 1)): 1 when
every test holds, else 0. Indicators are exact 0/1 linear forms of the layer's input (or
scores, at most 0 when false): a categorical atom sums one-hot dims or is a code's score;
a numerical atom is a difference of two step units (step_i(x) = [x > edge_i]); a set atom
is a set-equality unit; an equality `%x == %y` sums one unit per shared value
(docs/encodings.md). Step, set and equality units live in an expansion layer that exists
only when some rule needs one; the rule layer then reads the residual through a skip.
Each unit writes new - old into the residual, so a rule that may see several old values
of its variable becomes one unit per reachable old value.

Unless a group of rules writing one variable does better: when the rules share a
conjunction C and, beyond it, partition every combination of the reachable values of the
variables they test, "some rule of the group fires" is just C. Then each rule adds its new
value (one unit each) and one unit per old value subtracts it where C holds: rules + values
units instead of rules x values (a write of a value computed from two heads, say).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import numpy as np

from alta.errors import CompileError
from alta.ir import dense, sparse, symbolic
from alta.passes.lower_sparse_to_dense import encodings

Form = tuple[dict[int, float], float]  # (coefficients by input index, constant)

#: Step pre-activations beyond this magnitude lose the 0.5 margin to float32 rounding.
_FLOAT32_SAFE = float(2**20)
#: A group of rules is checked to partition at most this many value combinations.
_MAX_CELLS = 1 << 16


@attrs.define
class _Inputs:
    """The input space of the rule layer: the residual dims 0..d-1, then the units of an
    expansion layer (steps, set equalities, binary-code equalities) at d, d+1, ... The
    rule layer reads the residual through a skip and the expansion through its w."""

    d: int
    units: dict[Any, int] = attrs.field(factory=dict)
    w: list[np.ndarray] = attrs.field(factory=list)
    b: list[float] = attrs.field(factory=list)

    def unit(self, key: Any, w: np.ndarray, b: float) -> int:
        """The input index of expansion unit `key` (clipped_relu(x w + b)), made if new."""
        if key not in self.units:
            self.units[key] = self.d + len(self.w)
            self.w.append(w)
            self.b.append(b)
        return self.units[key]

    def dim(self, d: int) -> Form:
        """The residual dim `d` as a form."""
        return {d: 1.0}, 0.0

    def scaled(self, d: int, scale: float) -> Form:
        """x_d * scale as a form (clipped_relu of it is exact when it lies in [0, 1])."""
        return {d: scale}, 0.0


def _add(*forms: tuple[Form, float]) -> Form:
    coef: dict[int, float] = {}
    const = 0.0
    for (c, k), scale in forms:
        for i, v in c.items():
            coef[i] = coef.get(i, 0.0) + scale * v
        const += scale * k
    return coef, const


def build(
    module: sparse.Module,
    slots: Mapping[str, dense.Slot],
    d: int,
    reach: Mapping[str, frozenset[Any]],
    constants: Mapping[str, Any],
    weights: dict[str, np.ndarray],
) -> tuple[dense.MLPLayer, ...]:
    inputs = _Inputs(d)
    indicators = _Indicators(module, slots, reach, constants, inputs)
    units: list[tuple[Form, np.ndarray]] = []  # rule-layer units that write the residual
    shared: list[tuple[Form, np.ndarray]] = []  # rule units whose variable clears shared
    clears: list[tuple[range, Form, np.ndarray]] = []  # (its rule units, old==v, -code(v))
    by_var: dict[str, list[sparse.Rule]] = defaultdict(list)
    for rule in module.rules:
        by_var[rule.var].append(rule)
    for name, rules in by_var.items():
        two_level = indicators.shared_clearing(name, rules, d)
        if two_level is None:
            units.extend(indicators.var_units(name, rules, d))
            continue
        size = len(two_level[0]) + len(two_level[1])
        # Build one unit per (rule, old value) only where it may be the smaller form.
        if size >= indicators.unit_count(name, rules):
            single = indicators.var_units(name, rules, d)
            if len(single) <= size:
                units.extend(single)
                continue
        first = len(shared)
        shared.extend(two_level[0])
        owners = range(first, len(shared))
        clears.extend((owners, form, out) for form, out in two_level[1])
    for name in module.clears:
        units.extend(indicators.clear_units(name, d))
    layers = []
    expanded = bool(inputs.w)
    if expanded:
        weights["mlp.expand.w"] = np.stack(inputs.w, axis=1)
        weights["mlp.expand.b"] = np.asarray(inputs.b)
        layers.append(dense.MLPLayer("mlp.expand.w", "mlp.expand.b", dense.CLIPPED_RELU))
    rule_units = units + shared
    layers.append(_layer(weights, "mlp.rules", d, expanded, [f for f, _ in rule_units], 0))
    rule_out = _outs(d, [out for _, out in rule_units])
    if not clears:
        weights["mlp.out.w"], weights["mlp.out.b"] = rule_out, np.zeros(d)
        layers.append(dense.MLPLayer("mlp.out.w", "mlp.out.b", dense.LINEAR))
        return tuple(layers)
    # Shared clearing (docs/encodings.md): clear unit (var, v) fires when some rule writing
    # var fired (at most one does) and var's old value is v: sum(rules) + [old == v] - 1.
    gate = np.zeros((len(rule_units), len(clears)))
    for c, (owners, _, _) in enumerate(clears):
        gate[[len(units) + r for r in owners], c] = 1.0
    # The clear layer reads the rule layer through w, the rule layer's inputs through skips.
    read = _layer(weights, "mlp.clear", d, expanded, [f for _, f, _ in clears], -1.0)
    skips = (*read.skips, (1, "mlp.clear.e")) if expanded else ((0, "mlp.clear.e"),)
    weights["mlp.clear.e"], weights["mlp.clear.w"] = weights["mlp.clear.w"], gate
    layers.append(attrs.evolve(read, skips=skips))
    weights["mlp.out.w"] = _outs(d, [out for _, _, out in clears])
    weights["mlp.out.skip"], weights["mlp.out.b"] = rule_out, np.zeros(d)
    layers.append(
        dense.MLPLayer("mlp.out.w", "mlp.out.b", dense.LINEAR, ((len(layers) - 1, "mlp.out.skip"),))
    )
    return tuple(layers)


def _layer(
    weights: dict[str, np.ndarray],
    name: str,
    d: int,
    expanded: bool,
    forms: list[Form],
    shift: float,
) -> dense.MLPLayer:
    """A clipped-ReLU layer of units with these forms over [residual, expansion]: the
    residual part is read through a skip when an expansion layer comes first."""
    n_in = d + len(weights["mlp.expand.b"]) if expanded else d
    w, b = _forms(n_in, forms)
    weights[f"{name}.b"] = b + shift
    if not expanded:
        weights[f"{name}.w"] = w
        return dense.MLPLayer(f"{name}.w", f"{name}.b", dense.CLIPPED_RELU)
    weights[f"{name}.w"], weights[f"{name}.x"] = w[d:], w[:d]
    return dense.MLPLayer(f"{name}.w", f"{name}.b", dense.CLIPPED_RELU, ((0, f"{name}.x"),))


def _forms(n_in: int, forms: list[Form]) -> tuple[np.ndarray, np.ndarray]:
    """The weights [n_in, units] and biases [units] of a layer of units with these forms."""
    w, b = np.zeros((n_in, len(forms))), np.zeros(len(forms))
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for u, (coef, const) in enumerate(forms):
        rows.extend(coef)
        cols.extend([u] * len(coef))
        vals.extend(coef.values())
        b[u] = const
    np.add.at(w, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)), vals)
    return w, b


def _outs(d: int, outs: list[np.ndarray]) -> np.ndarray:
    return np.stack(outs) if outs else np.zeros((0, d))


@attrs.define
class _Indicators:
    module: sparse.Module
    slots: Mapping[str, dense.Slot]
    reach: Mapping[str, frozenset[Any]]
    constants: Mapping[str, Any]
    inputs: _Inputs
    memo: dict[Any, Any] = attrs.field(factory=dict, init=False)

    def indicator(self, var: str, values: frozenset[Any], exact: bool = False) -> Form:
        """1 when `var`'s value is in `values` (None never is), else 0 -- or, unless `exact`,
        at most 0: a binary-coded test of one value is its code's score, which a rule's
        conjunction may take but a sum of alternatives may not. Shared: do not mutate."""
        key = ("indicator", var, values, exact)
        if key not in self.memo:
            self.memo[key] = self._indicator(var, values, exact)
        return self.memo[key]

    def conjunction(self, atoms: Any, equals: tuple[tuple[str, str], ...]) -> Form:
        """The sum of the indicators of `atoms` and `equals` (a rule adds its bias)."""
        return _add(
            *((self.indicator(a.var, a.values), 1.0) for a in atoms),
            *((self.equal(x, y), 1.0) for x, y in equals),
        )

    def equal(self, x: str, y: str) -> Form:
        """1 when `x` and `y` hold one defined value, else 0: the sum, over the values both
        may hold, of an expansion unit clipped_relu([x = v] + [y = v] - 1) (each test is
        1 on v and at most 0 elsewhere and on None, so exactly one unit is 1 on a match).
        Shared by every rule that compares the pair. Shared: do not mutate."""
        key = ("equal", x, y)
        if key not in self.memo:
            units: list[Form] = []
            for v in sorted((self.reach[x] & self.reach[y]) - {None}):
                both = _add(
                    (self.indicator(x, frozenset({v})), 1.0),
                    (self.indicator(y, frozenset({v})), 1.0),
                )
                if not both[0] and both[1] < 2:
                    continue  # a folded constant that never holds v
                if any(i >= self.inputs.d for i in both[0]):
                    raise CompileError(
                        f"'%{x} == %{y}': a value test is not linear in the residual"
                    )
                w = np.zeros(self.inputs.d)
                for i, c in both[0].items():
                    w[i] += c
                units.append(({self.inputs.unit(("equal", x, y, v), w, both[1] - 1.0): 1.0}, 0.0))
            self.memo[key] = _add(*((u, 1.0) for u in units))
        return self.memo[key]

    def delta(self, var: str, new: Any, old: Any, d: int) -> np.ndarray:
        """The residual change of `var` from `old` to `new`. Shared: do not mutate."""
        key = ("delta", var, new, old)
        if key not in self.memo:
            slot = self.slots[var]
            self.memo[key] = dense.encode(slot, new, d) - dense.encode(slot, old, d)
        return self.memo[key]

    def _indicator(self, var: str, values: frozenset[Any], exact: bool) -> Form:
        if var in self.constants:
            return {}, 1.0 if self.constants[var] in values else 0.0
        slot, variable = self.slots[var], self.module.variables[var]
        if slot.encoding == dense.BINARY:
            codes = [v for v in values if v in slot.values]
            cube = None if exact else self._cube(slot, var, codes)
            if cube is not None:
                return cube
            return _add(*((self._equal_unit(slot, v), 1.0) for v in codes))
        if slot.kind == sparse.CATEGORICAL:
            return _add(*((self.inputs.dim(slot.dim(v)), 1.0) for v in values if v in slot.values))
        if slot.kind == sparse.SET:
            return _add(*((self._set_unit(slot, s), 1.0) for s in values))
        return self._buckets(variable, slot, values)

    def is_none(self, var: str) -> Form:
        slot = self.slots[var]
        if slot.kind != sparse.CATEGORICAL:
            raise CompileError(f"a rule reads '{var}' as None; only categorical None is encodable")
        if slot.encoding == dense.BINARY:
            return _add((({}, 1.0), 1.0), (self.indicator(var, frozenset(slot.values), True), -1.0))
        return _add((({}, 1.0), 1.0), *((self.inputs.dim(slot.dim(v)), -1.0) for v in slot.values))

    def _cube(self, slot: dense.Slot, var: str, codes: list[int]) -> Form | None:
        """A score over the bits `codes` share (encodings.cube): sum of code_i x_i over
        those f bits - (f - 1) is 1 on `codes`, at most 0 on anything else and on None."""
        pattern = encodings.cube(slot.bits, codes, self.reach[var])
        if pattern is None:
            return None
        return {slot.start + i: c for i, c in pattern.items()}, 1.0 - len(pattern)

    def _equal_unit(self, slot: dense.Slot, value: int) -> Form:
        """An expansion unit that is exactly 1 when the slot holds `value`, else 0."""
        w = np.zeros(self.inputs.d)
        w[slot.start : slot.stop] = dense.code(value, slot.bits)
        return {self.inputs.unit(("equal", slot.var, value), w, 1.0 - slot.bits): 1.0}, 0.0

    def _set_unit(self, slot: dense.Slot, members: frozenset[int]) -> Form:
        w = np.zeros(self.inputs.d)
        for m in slot.values:
            w[slot.dim(m)] = 1.0 if m in members else -1.0
        index = self.inputs.unit(("set", slot.var, members), w, 1.0 - len(members))
        return {index: 1.0}, 0.0

    def _buckets(self, var: sparse.Variable, slot: dense.Slot, values: frozenset[Any]) -> Form:
        domain = list(var.values)
        wanted = {domain.index(v) for v in values if v in domain}
        steps = [self._step(var, slot, i) for i in range(1, len(domain))]
        one: Form = ({}, 1.0)
        zero: Form = ({}, 0.0)
        edges = [one, *steps, zero]  # edges[i] = [x > edge between bucket i-1 and i]
        form = _add(*((edges[i], 1.0) for i in wanted), *((edges[i + 1], -1.0) for i in wanted))
        if slot.width == 2 and 0 in wanted:
            # None (0 with the defined flag off) holds every step at 0, so it reads as
            # bucket 0; take that back.
            flag = self.inputs.dim(slot.start + 1)
            form = _add((form, 1.0), (({}, 1.0), -1.0), (flag, 1.0))
        return form

    def _step(self, var: sparse.Variable, slot: dense.Slot, i: int) -> Form:
        domain = list(var.values)
        edge = (domain[i - 1] + domain[i]) / 2
        gap = min(abs(v - edge) for v in domain)
        w_x, b = 1.0 / gap, 0.5 - edge / gap
        # None is x = 0 with the defined flag off (where 0 may sit on an edge): the flag
        # gates the step, which is then 0 whatever the edge.
        gate = abs(b) + 1.0 if slot.width == 2 else 0.0
        if max(abs(v) * w_x for v in domain) + abs(b) + 2 * gate > _FLOAT32_SAFE:
            raise CompileError(
                f"numerical '{var.name}': values {domain[i - 1]!r} and {domain[i]!r} are too "
                "close for float32 bucket expansion; space its values further apart"
            )
        w = np.zeros(self.inputs.d)
        w[slot.start] = w_x
        if gate:
            w[slot.start + 1] = gate
        index = self.inputs.unit(("step", var.name, i), w, b - gate)
        return {index: 1.0}, 0.0

    def rule_units(self, rule: sparse.Rule, d: int) -> list[tuple[Form, np.ndarray]]:
        others = [a for a in rule.atoms if a.var != rule.var]
        if any(not (a.values & self.reach[a.var]) for a in others):
            return []  # can never fire
        olds = rule.allows(rule.var, self.reach[rule.var])
        body = self.conjunction(others, rule.equals)
        tests = len(others) + len(rule.equals)
        units = []
        for old in sorted(olds, key=symbolic.value_order):
            if old == rule.new:
                continue
            own_form = (
                self.is_none(rule.var)
                if old is None
                else self.indicator(rule.var, frozenset({old}))
            )
            form = _add((body, 1.0), (own_form, 1.0), (({}, -float(tests)), 1.0))
            units.append((form, self.delta(rule.var, rule.new, old, d)))
        return units

    def unit_count(self, var: str, rules: list[sparse.Rule]) -> int:
        """The units of one unit per (rule, old value): `rule_units` without building them,
        an upper bound on `var_units` but for the grouping it may find."""
        live = [r for r in rules if all(a.values & self.reach[a.var] for a in r.atoms)]
        return sum(len(r.allows(var, self.reach[var]) - {r.new}) for r in live)

    def var_units(
        self, var: str, rules: list[sparse.Rule], d: int
    ) -> list[tuple[Form, np.ndarray]]:
        """The units of the rules that write `var`: per rule, or per group where that pays."""
        reach = self.reach
        live = [r for r in rules if all(a.values & reach[a.var] for a in r.atoms)]
        units = []
        for group, common in self._groups(var, live):
            if common is None:
                for rule in group:
                    units.extend(self.rule_units(rule, d))
                continue
            for rule in group:
                if rule.new is not None:
                    form = self.conjunction(rule.atoms, ())
                    form = form[0], form[1] - (len(rule.atoms) - 1)
                    units.append((form, self.delta(var, rule.new, None, d)))
            others = [a for a in common if a.var != var]
            body = self.conjunction(others, ())
            for old in sorted(self._olds(var, common), key=symbolic.value_order):
                form = _add((body, 1.0), (self.indicator(var, frozenset({old})), 1.0))
                units.append(((form[0], form[1] - len(others)), self.delta(var, None, old, d)))
        return units

    def shared_clearing(
        self, var: str, rules: list[sparse.Rule], d: int
    ) -> tuple[list[tuple[Form, np.ndarray]], list[tuple[Form, np.ndarray]]] | None:
        """Two-level units for the rules writing `var`: one unit per rule adds its new value,
        and one clear unit per old value subtracts it (gated by the rule units, in the next
        layer). None when there is nothing to share."""
        live = [r for r in rules if all(a.values & self.reach[a.var] for a in r.atoms)]
        if not live:
            return None
        rule_units = []
        for rule in live:
            forms = [(self.indicator(atom.var, atom.values), 1.0) for atom in rule.atoms]
            forms.extend((self.equal(x, y), 1.0) for x, y in rule.equals)
            tests = len(rule.atoms) + len(rule.equals)
            form = _add(*forms, (({}, -float(tests - 1)), 1.0))
            rule_units.append((form, self.delta(var, rule.new, None, d)))
        olds = frozenset().union(*(r.allows(var, self.reach[var]) for r in live)) - {None}
        slot = self.slots[var]
        if slot.encoding == dense.BINARY and 2 * slot.bits < len(olds):
            return rule_units, self._bit_clears(slot, d)
        clear_units = [
            (self.indicator(var, frozenset({old})), self.delta(var, None, old, d))
            for old in sorted(olds, key=symbolic.value_order)
        ]
        return rule_units, clear_units

    def _olds(self, var: str, atoms: Any) -> frozenset[Any]:
        own = next((a for a in atoms if a.var == var), None)
        olds = self.reach[var] if own is None else own.values & self.reach[var]
        return olds - {None}

    def _groups(
        self, var: str, rules: list[sparse.Rule]
    ) -> Iterator[tuple[list[sparse.Rule], frozenset[sparse.Atom] | None]]:
        """Split `rules` into groups, each with its shared atoms, or None: unit per rule."""
        per_rule = sum(len(self._olds_all(var, r) - {r.new}) for r in rules)
        if len(rules) < 2 or per_rule <= len(rules) + 1 or any(r.equals for r in rules):
            yield rules, None
            return
        common = frozenset(rules[0].atoms).intersection(*(r.atoms for r in rules[1:]))
        parts: dict[frozenset[str], list[sparse.Rule]] = defaultdict(list)
        for rule in rules:
            parts[frozenset(a.var for a in rule.atoms if a not in common)].append(rule)
        if len(parts) > 1:
            for part in parts.values():
                yield from self._groups(var, part)
            return
        free = sorted(next(iter(parts)))
        grouped = sum(r.new is not None for r in rules) + len(self._olds(var, common))
        if grouped < per_rule and self._partition(var, rules, free):
            yield rules, common
            return
        values = {v: {r.atom(v).values for r in rules} for v in free}  # type: ignore[union-attr]
        split = [v for v in free if all(len(s) == 1 for s in values[v])]
        if not split:
            yield rules, None
            return
        by = max(split, key=lambda v: (len(values[v]), v))
        part_of: dict[Any, list[sparse.Rule]] = defaultdict(list)
        for rule in rules:
            part_of[rule.atom(by).values].append(rule)  # type: ignore[union-attr]
        for part in part_of.values():
            yield from self._groups(var, part)

    def _olds_all(self, var: str, rule: sparse.Rule) -> frozenset[Any]:
        return rule.allows(var, self.reach[var])

    def _partition(self, var: str, rules: list[sparse.Rule], free: list[str]) -> bool:
        """Every combination of reachable values of `free` satisfies exactly one rule."""
        space = [self.reach[v] - {None} for v in free]
        if math.prod(len(s) for s in space) > _MAX_CELLS:
            return False
        if any(None in self.reach[v] for v in free if v != var) and not all(
            r.dont_care_none for r in rules
        ):
            return False  # a free variable may be None where C holds, and then none fires
        seen: set[tuple[Any, ...]] = set()
        for rule in rules:
            cells = [rule.atom(v).values & s for v, s in zip(free, space, strict=True)]  # type: ignore[union-attr]
            for cell in itertools.product(*cells):
                if cell in seen:
                    return False
                seen.add(cell)
        return len(seen) == math.prod(len(s) for s in space)

    def _bit_clears(self, slot: dense.Slot, d: int) -> list[tuple[Form, np.ndarray]]:
        """Two units per bit of a code: [bit = +1] subtracts 1, [bit = -1] adds 1."""
        units = []
        for i in range(slot.start, slot.stop):
            for sign in (1.0, -1.0):
                out = np.zeros(d)
                out[i] = -sign
                units.append((({i: sign}, 0.0), out))
        return units

    def clear_units(self, name: str, d: int) -> list[tuple[Form, np.ndarray]]:
        """Units that reset a head output to the zero vector (None)."""
        slot = self.slots[name]
        units = []
        if slot.encoding == dense.BINARY:
            return self._bit_clears(slot, d)
        if slot.kind == sparse.CATEGORICAL:
            for k in range(slot.width):
                out = np.zeros(d)
                out[slot.start + k] = -1.0
                units.append((self.inputs.dim(slot.start + k), out))
            return units
        values = [*self.module.variables[name].values, 0.0]
        hi, lo = max(values), min(values)
        if slot.width == 2:
            flag = np.zeros(d)
            flag[slot.start + 1] = -1.0
            units.append((self.inputs.dim(slot.start + 1), flag))
        for bound in (hi, lo):
            if bound != 0.0:
                out = np.zeros(d)
                out[slot.start] = -bound
                units.append((self.inputs.scaled(slot.start, 1.0 / bound), out))
        return units
