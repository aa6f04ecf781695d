"""The MLP weights of IR3: an optional expansion layer, one unit per rule write, a readout.

A rule unit computes clipped_relu(sum of its atoms' indicators - (atoms - 1)): 1 when
every atom holds, else 0. Indicators are exact 0/1 linear forms of the layer's input:
a categorical atom sums one-hot dims; a numerical atom is a difference of two step units
(step_i(x) = [x > edge_i]); a set atom is a set-equality unit. Step and set units live in
an expansion layer that exists only when some rule reads a numerical or set variable;
categorical dims then pass through it unchanged (clipped_relu is the identity on 0/1).
Each unit writes new - old into the residual, so a rule that may see several old values
of its variable becomes one unit per reachable old value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from alta.errors import CompileError
from alta.ir import dense, sparse, symbolic
from alta.passes import lower_sparse_to_dense as lsd

Form = tuple[dict[int, float], float]  # (coefficients by input index, constant)

#: Step pre-activations beyond this magnitude lose the 0.5 margin to float32 rounding.
_FLOAT32_SAFE = float(2**20)


@attrs.define
class _Inputs:
    """The input space of the rule layer: residual dims, or the units of an expansion layer."""

    d: int
    expanded: bool
    units: dict[Any, int] = attrs.field(factory=dict)
    w: list[np.ndarray] = attrs.field(factory=list)
    b: list[float] = attrs.field(factory=list)

    def unit(self, key: Any, w: np.ndarray, b: float) -> int:
        if not self.expanded:
            raise CompileError(f"internal: MLP unit {key} needs an expansion layer that is absent")
        if key not in self.units:
            self.units[key] = len(self.w)
            self.w.append(w)
            self.b.append(b)
        return self.units[key]

    def dim(self, d: int) -> Form:
        """The residual dim `d` (in [0, 1]) as a form over this layer's inputs."""
        if not self.expanded:
            return {d: 1.0}, 0.0
        w = np.zeros(self.d)
        w[d] = 1.0
        return {self.unit(("dim", d), w, 0.0): 1.0}, 0.0

    def scaled(self, d: int, scale: float) -> Form:
        """clipped_relu(x_d * scale) as a form: exact when x_d * scale is in [0, 1]."""
        if not self.expanded:
            return {d: scale}, 0.0
        w = np.zeros(self.d)
        w[d] = scale
        return {self.unit(("scaled", d, scale), w, 0.0): 1.0}, 0.0


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
    for rule in module.rules:
        units.extend(indicators.rule_units(rule, d))
    for name in module.clears:
        units.extend(indicators.clear_units(name, d))
    n_in = len(inputs.w) if expanded else d
    w_rule, b_rule = np.zeros((n_in, len(units))), np.zeros(len(units))
    w_out = np.zeros((len(units), d))
    for u, ((coef, const), out) in enumerate(units):
        for i, v in coef.items():
            w_rule[i, u] += v
        b_rule[u] = const
        w_out[u] = out
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

    def indicator(self, var: str, values: frozenset[Any]) -> Form:
        """1 when `var`'s value is in `values` (None never is), else 0."""
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
        if var.nullable:
            # None is stored as 0 with the defined flag off; take back 0's bucket then.
            zero_bucket = symbolic.bucket_index(tuple(domain), 0.0)
            if zero_bucket in wanted:
                flag = self.inputs.dim(slot.start + 1)
                form = _add((form, 1.0), (({}, 1.0), -1.0), (flag, 1.0))
        return form

    def _step(self, var: sparse.Variable, slot: dense.Slot, i: int) -> Form:
        domain = list(var.values)
        edge = (domain[i - 1] + domain[i]) / 2
        seen = set(domain) | ({0.0} if var.nullable else set())
        gap = min(abs(v - edge) for v in seen)
        if gap <= 0:
            raise CompileError(f"numerical '{var.name}': value {edge!r} sits on a bucket edge")
        w_x, b = 1.0 / gap, 0.5 - edge / gap
        if max(abs(v) * w_x for v in seen) + abs(b) > _FLOAT32_SAFE:
            raise CompileError(
                f"numerical '{var.name}': values {domain[i - 1]!r} and {domain[i]!r} are too "
                "close for float32 bucket expansion; space its values further apart"
            )
        w = np.zeros(self.inputs.d)
        w[slot.start] = w_x
        index = self.inputs.unit(("step", var.name, i), w, b)
        return {index: 1.0}, 0.0

    def rule_units(self, rule: sparse.Rule, d: int) -> list[tuple[Form, np.ndarray]]:
        others = [a for a in rule.atoms if a.var != rule.var]
        if any(not (a.values & self.reach[a.var]) for a in others):
            return []  # can never fire
        own = rule.atom(rule.var)
        olds = self.reach[rule.var] if own is None else own.values & self.reach[rule.var]
        slot = self.slots[rule.var]
        body = _add(*((self.indicator(a.var, a.values), 1.0) for a in others))
        units = []
        for old in sorted(olds, key=_order):
            if old == rule.new:
                continue
            own_form = self.is_none(rule.var) if old is None else self.indicator(rule.var, frozenset({old}))
            form = _add((body, 1.0), (own_form, 1.0), (({}, -float(len(others))), 1.0))
            out = lsd.encode(slot, rule.new, d) - lsd.encode(slot, old, d)
            units.append((form, out))
        return units

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


def _order(value: Any) -> Any:
    if value is None:
        return (0, ())
    if isinstance(value, frozenset):
        return (1, (len(value), sorted(value)))
    return (1, (value,))
