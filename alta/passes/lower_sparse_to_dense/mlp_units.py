"""The MLP weights of IR3: an optional expansion layer, one unit per rule write, a readout.

A rule unit computes clipped_relu(sum of its atoms' indicators - (atoms - 1)): 1 when
every atom holds, else 0. Indicators are exact 0/1 linear forms of the layer's input:
a categorical atom sums one-hot dims; a numerical atom is a difference of two step units
(step_i(x) = [x > edge_i]); a set atom is a set-equality unit. Step and set units live in
an expansion layer that exists only when some rule reads or writes a numerical or set
variable;
categorical dims then pass through it unchanged (clipped_relu is the identity on 0/1).
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

Form = tuple[dict[int, float], float]  # (coefficients by input index, constant)

#: Step pre-activations beyond this magnitude lose the 0.5 margin to float32 rounding.
_FLOAT32_SAFE = float(2**20)
#: A group of rules is checked to partition at most this many value combinations.
_MAX_CELLS = 1 << 16


@attrs.define
class _Inputs:
    """The input space of the rule layer: residual dims, or the units of an expansion layer."""

    d: int
    expanded: bool
    units: dict[Any, int] = attrs.field(factory=dict)
    w: list[np.ndarray] = attrs.field(factory=list)
    b: list[float] = attrs.field(factory=list)

    def unit(self, key: Any, w: np.ndarray | None, b: float) -> int:
        """The index of the expansion unit `key`; `w` (None: one-hot at key[1]) if new."""
        if not self.expanded:
            raise CompileError(f"internal: MLP unit {key} needs an expansion layer that is absent")
        if key not in self.units:
            if w is None:
                w = np.zeros(self.d)
                w[key[1]] = key[2] if len(key) > 2 else 1.0
            self.units[key] = len(self.w)
            self.w.append(w)
            self.b.append(b)
        return self.units[key]

    def dim(self, d: int) -> Form:
        """The residual dim `d` (in [0, 1]) as a form over this layer's inputs."""
        if not self.expanded:
            return {d: 1.0}, 0.0
        return {self.unit(("dim", d), None, 0.0): 1.0}, 0.0

    def scaled(self, d: int, scale: float) -> Form:
        """clipped_relu(x_d * scale) as a form: exact when x_d * scale is in [0, 1]."""
        if not self.expanded:
            return {d: scale}, 0.0
        return {self.unit(("scaled", d, scale), None, 0.0): 1.0}, 0.0


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
    variables = module.variables
    # A rule reads the variables of its atoms, and the old value of the variable it writes
    # (one unit per reachable old value) even when it has no atom on it.
    expanded = any(
        variables[name].kind != sparse.CATEGORICAL and name not in constants
        for r in module.rules
        for name in (r.var, *(a.var for a in r.atoms))
    )
    inputs = _Inputs(d, expanded)
    indicators = _Indicators(module, slots, reach, constants, inputs)
    units: list[tuple[Form, np.ndarray]] = []
    by_var: dict[str, list[sparse.Rule]] = defaultdict(list)
    for rule in module.rules:
        by_var[rule.var].append(rule)
    for name, rules in by_var.items():
        units.extend(indicators.var_units(name, rules, d))
    for name in module.clears:
        units.extend(indicators.clear_units(name, d))
    n_in = len(inputs.w) if expanded else d
    w_rule, b_rule = np.zeros((n_in, len(units))), np.zeros(len(units))
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for u, ((coef, const), _) in enumerate(units):
        rows.extend(coef)
        cols.extend([u] * len(coef))
        vals.extend(coef.values())
        b_rule[u] = const
    np.add.at(w_rule, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)), vals)
    w_out = np.stack([out for _, out in units]) if units else np.zeros((0, d))
    layers = []
    if expanded:
        weights["mlp.expand.w"] = np.stack(inputs.w, axis=1) if inputs.w else np.zeros((d, 0))
        weights["mlp.expand.b"] = np.asarray(inputs.b)
        layers.append(dense.MLPLayer("mlp.expand.w", "mlp.expand.b", dense.CLIPPED_RELU))
    weights["mlp.rules.w"], weights["mlp.rules.b"] = w_rule, b_rule
    weights["mlp.out.w"], weights["mlp.out.b"] = w_out, np.zeros(d)
    layers.append(dense.MLPLayer("mlp.rules.w", "mlp.rules.b", dense.CLIPPED_RELU))
    layers.append(dense.MLPLayer("mlp.out.w", "mlp.out.b", dense.LINEAR))
    return tuple(layers)


@attrs.define
class _Indicators:
    module: sparse.Module
    slots: Mapping[str, dense.Slot]
    reach: Mapping[str, frozenset[Any]]
    constants: Mapping[str, Any]
    inputs: _Inputs
    memo: dict[Any, Any] = attrs.field(factory=dict, init=False)

    def indicator(self, var: str, values: frozenset[Any]) -> Form:
        """1 when `var`'s value is in `values` (None never is), else 0. Shared: do not mutate."""
        key = ("indicator", var, values)
        if key not in self.memo:
            self.memo[key] = self._indicator(var, values)
        return self.memo[key]

    def delta(self, var: str, new: Any, old: Any, d: int) -> np.ndarray:
        """The residual change of `var` from `old` to `new`. Shared: do not mutate."""
        key = ("delta", var, new, old)
        if key not in self.memo:
            slot = self.slots[var]
            self.memo[key] = dense.encode(slot, new, d) - dense.encode(slot, old, d)
        return self.memo[key]

    def _indicator(self, var: str, values: frozenset[Any]) -> Form:
        if var in self.constants:
            return {}, 1.0 if self.constants[var] in values else 0.0
        slot, variable = self.slots[var], self.module.variables[var]
        if slot.kind == sparse.CATEGORICAL:
            return _add(*((self.inputs.dim(slot.dim(v)), 1.0) for v in values if v in slot.values))
        if slot.kind == sparse.SET:
            return _add(*((self._set_unit(slot, s), 1.0) for s in values))
        return self._buckets(variable, slot, values)

    def is_none(self, var: str) -> Form:
        slot = self.slots[var]
        if slot.kind != sparse.CATEGORICAL:
            raise CompileError(f"a rule reads '{var}' as None; only categorical None is encodable")
        return _add((({}, 1.0), 1.0), *((self.inputs.dim(slot.dim(v)), -1.0) for v in slot.values))

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
        if var.nullable and 0 in wanted:
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
        gate = abs(b) + 1.0 if var.nullable else 0.0
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
        body = _add(*((self.indicator(a.var, a.values), 1.0) for a in others))
        units = []
        for old in sorted(olds, key=symbolic.value_order):
            if old == rule.new:
                continue
            own_form = (
                self.is_none(rule.var)
                if old is None
                else self.indicator(rule.var, frozenset({old}))
            )
            form = _add((body, 1.0), (own_form, 1.0), (({}, -float(len(others))), 1.0))
            units.append((form, self.delta(rule.var, rule.new, old, d)))
        return units

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
                    form = _add(*((self.indicator(a.var, a.values), 1.0) for a in rule.atoms))
                    form = form[0], form[1] - (len(rule.atoms) - 1)
                    units.append((form, self.delta(var, rule.new, None, d)))
            others = [a for a in common if a.var != var]
            body = _add(*((self.indicator(a.var, a.values), 1.0) for a in others))
            for old in sorted(self._olds(var, common), key=symbolic.value_order):
                form = _add((body, 1.0), (self.indicator(var, frozenset({old})), 1.0))
                units.append(((form[0], form[1] - len(others)), self.delta(var, None, old, d)))
        return units

    def _olds(self, var: str, atoms: Any) -> frozenset[Any]:
        own = next((a for a in atoms if a.var == var), None)
        olds = self.reach[var] if own is None else own.values & self.reach[var]
        return olds - {None}

    def _groups(
        self, var: str, rules: list[sparse.Rule]
    ) -> Iterator[tuple[list[sparse.Rule], frozenset[sparse.Atom] | None]]:
        """Split `rules` into groups, each with its shared atoms, or None: unit per rule."""
        per_rule = sum(len(self._olds_all(var, r) - {r.new}) for r in rules)
        if len(rules) < 2 or per_rule <= len(rules) + 1:
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

    def clear_units(self, name: str, d: int) -> list[tuple[Form, np.ndarray]]:
        """Units that reset a head output to the zero vector (None)."""
        slot = self.slots[name]
        units = []
        if slot.kind == sparse.CATEGORICAL:
            for k in range(slot.width):
                out = np.zeros(d)
                out[slot.start + k] = -1.0
                units.append((self.inputs.dim(slot.start + k), out))
            return units
        values = [*self.module.variables[name].values, 0.0]
        hi, lo = max(values), min(values)
        flag = np.zeros(d)
        flag[slot.start + 1] = -1.0
        units.append((self.inputs.dim(slot.start + 1), flag))
        for bound in (hi, lo):
            if bound != 0.0:
                out = np.zeros(d)
                out[slot.start] = -bound
                units.append((self.inputs.scaled(slot.start, 1.0 / bound), out))
        return units
