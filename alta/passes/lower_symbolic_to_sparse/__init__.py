"""`lower-symbolic-to-sparse`: IR1 -> IR2. Domains made explicit, the MLP turned into rules.

A Python MLP function becomes rules by *path exploration*: it runs on a partial assignment,
and only when it needs the value of a variable the path has not fixed do we branch over
that variable's values (never None: reading None raises in the interpreter).

Reads are lazy (pass option `lazy`, on by default): `z[name]` then gives a `Lazy` value
that records its dependencies; arithmetic and comparisons build more lazy values, and only
what needs the value (`bool`, `int`, hashing, formatting, attributes...) forces it: a branch
on its first dependency. A written lazy value is expanded over its own dependencies, so
`z["carry"] = z["carry"] + a + b` adds an atom on `carry` to that write, not a factor 2
to every path. What lazy values cannot defer (a mutable operand, `type()`, a TypeError or
AttributeError) makes the whole function explore eagerly, every read branching at once.

The paths form a tree. A variable that gets the same rules under every value of a branch
does not depend on it: its rules are hoisted above the branch (no atom for it), else each
gets the branch's atom. So parity's step gives 3 rules, not the 15,000 of the full product,
and rules writing one variable stay pairwise disjoint. A hoisted-over variable was read,
so where it is None the interpreter raises: like `dont_care_none` states, a don't-care.

The rules equal the function in every state, reachable or not, unless `merge-copies=true`
(the default pipeline sets it): then variables that start from the same table and that
the function never writes are read as the first of them (`input_copies`), so k copies of
the token cost the paths of one, not the product of k; the rules then agree with the
function where the copies are equal, which is every reachable state.

Explicit rules (`program_spec_from_rules`) become one IR2 rule each, unless
`merge-olds=true` (the default pipeline sets it): then rules that differ only in the old
value of the variable they write become one (`_from_rules_merged`). Rule coverage
(`alta.learn.coverage`) reads the rules one by one, as written.
"""

from __future__ import annotations

import itertools
import operator
import warnings
from typing import Any, ClassVar

import attrs

from alta import progress
from alta.errors import (
    CompileError,
    CompileWarning,
    IllTypedWriteError,
    ProgramError,
    UndefinedReadError,
)
from alta.ir import analysis, joint_reach, sparse, symbolic
from alta.ir.types import Level
from alta.passes import base, conflict_warning, context, gc_pause, none_means
from alta.passes.lower_symbolic_to_sparse import domains as domain_inference
from alta.passes.lower_symbolic_to_sparse.lazy_values import (
    Fallback,
    Lazy,
    NeedValue,
    fallback,
    may_defer,
)

#: A function that needs more runs than this is refused (it would not fit a model anyway).
MAX_PATHS = 2_000_000

Atoms = tuple[tuple[str, Any], ...]
Rules = tuple[tuple[Atoms, Any], ...]  # (atoms below a tree node, new value) per rule


@attrs.frozen
class LowerSymbolicToSparsePass(base.Pass):
    """Lower a symbolic program to the sparse rule/head graph."""

    name: ClassVar[str] = "lower-symbolic-to-sparse"
    input_level: ClassVar[Level] = Level.SYMBOLIC
    output_level: ClassVar[Level] = Level.SPARSE
    lazy: bool = True
    merge_copies: bool = attrs.field(
        default=False,
        metadata={"help": "read unwritten copies of a variable as it (reachable states only)"},
    )
    merge_olds: bool = attrs.field(
        default=False,
        metadata={"help": "one rule for explicit rules that differ only in their old value"},
    )

    def run(self, module: symbolic.Program) -> sparse.Module:
        with gc_pause.paused():
            result, notes = lower_with_notes(
                module, lazy=self.lazy, merge_copies=self.merge_copies, merge_olds=self.merge_olds
            )
        ctx = context.current()
        ctx.record("rules", len(result.rules))
        ctx.record("variables", len(result.variables))
        for note in notes:
            ctx.note(note)
        return result


def lower(program: symbolic.Program, *, lazy: bool = True) -> sparse.Module:
    """The lowered module; what it dropped is still warned about, but not recorded."""
    return lower_with_notes(program, lazy=lazy)[0]


def lower_with_notes(
    program: symbolic.Program,
    *,
    lazy: bool = True,
    merge_copies: bool = False,
    merge_olds: bool = False,
) -> tuple[sparse.Module, tuple[str, ...]]:
    """The lowered module, and what the lowering dropped or could not prove as
    statistic lines (each also gave a `CompileWarning`)."""
    written: dict[str, set[Any]] = {}
    for _ in range(8):
        domains = domain_inference.domains(program, written)
        dropped = Dropped()
        rules = _rules(program, domains, lazy, dropped, merge_copies, merge_olds)
        grown = _numeric_writes(program, rules)
        if all(vals <= written.get(n, set()) for n, vals in grown.items()):
            break
        for n, vals in grown.items():
            written.setdefault(n, set()).update(vals)
    else:
        raise CompileError(
            f"program '{program.name}': numerical domains did not settle; give `values`"
        )
    dropped.warn(program.name)
    module = _module(program, domains, rules)
    reach = analysis.reachable_values(module)
    merged = merge_olds and isinstance(program.mlp, symbolic.RulesMLP)  # (`_rules`)
    if not merged or joint_reach.unproven_conflicts(module, reach):
        if merged:  # count and show the conflicts among the rules as written
            module = _module(program, domains, _from_rules(program, Dropped()))
        conflicts = conflict_warning.warn_unproven_conflicts(module, reach)
    else:
        conflicts = 0
    means = none_means.warn_none_means(module, reach)
    notes = dropped.lines() + ((f"{conflicts} unproven rule conflict(s)",) if conflicts else ())
    notes += (f"{means} numerical head(s) may average None",) if means else ()
    return attrs.evolve(module, conflicts_checked=True), notes


def _module(
    program: symbolic.Program, domains: dict[str, tuple[Any, ...]], rules: list[sparse.Rule]
) -> sparse.Module:
    none_written = {r.var for r in rules if r.new is None}
    variables = {
        name: _variable(program, name, var, domains[name], name in none_written)
        for name, var in program.variables
    }
    halt = None if program.halt is None else sparse.Halt(program.halt.var, program.halt.value)
    return sparse.Module(
        name=program.name,
        variables=variables,
        heads=tuple(
            sparse.Head(h.output, h.query, h.key, h.value, h.relative_position_mask)
            for h in program.heads
        ),
        rules=tuple(rules),
        output=program.output,
        input_range=program.input_range,
        position_range=program.position_range,
        halt=halt,
    )


@attrs.define
class Dropped:
    """What lowering dropped as undefined behaviour: ill-typed writes and raising paths.

    The compiler explores value combinations that the interpreter may never reach, so
    these are dropped with one `CompileWarning` rather than refused (docs/semantics.md,
    "What the compiler does with undefined behaviour").
    """

    ill_typed: list[str] = attrs.field(factory=list)
    raising: list[str] = attrs.field(factory=list)
    #: Not dropped but noted with them: copies of a variable explored as that variable.
    copies: int = 0

    def lines(self) -> tuple[str, ...]:
        out = []
        if self.copies:
            out.append(f"read {self.copies} unwritten copy variable(s) as their original")
        if self.ill_typed:
            out.append(f"dropped {len(self.ill_typed)} ill-typed rule(s) or path(s)")
        if self.raising:
            out.append(f"dropped {len(self.raising)} raising path(s)")
        return tuple(out)

    def warn(self, name: str) -> None:
        if not (self.ill_typed or self.raising):
            return
        parts = []
        for what, items in (("ill-typed write", self.ill_typed), ("raising path", self.raising)):
            if items:
                first = "; ".join(items[:3]) + ("; ..." if len(items) > 3 else "")
                parts.append(f"{len(items)} {what}(s), e.g. {first}")
        warnings.warn(
            f"program '{name}': dropped {' and '.join(parts)}. The compiler explores value "
            "combinations that the interpreter may never reach; if a run reaches one, the "
            "interpreter raises and the compiled model does not. Pass strict=True to make "
            "this an error.",
            CompileWarning,
            stacklevel=2,
        )


def _variable(
    program: symbolic.Program,
    name: str,
    var: symbolic.Var,
    domain: tuple[Any, ...],
    none_written: bool,
) -> sparse.Variable:
    init = _init(program, name, var)
    nullable = name in program.head_outputs or None in init.table or none_written
    size = var.range if isinstance(var, symbolic.CategoricalVar | symbolic.SetVar) else 0
    return sparse.Variable(name, var.kind, domain, init, nullable, size)


def _init(program: symbolic.Program, name: str, var: symbolic.Var) -> sparse.Init:
    if name in program.head_outputs:
        return sparse.Init("head", ())
    if var.input_init_fn is not None:
        fn = var.input_init_fn
        return sparse.Init(
            "token", tuple(symbolic.normalise(var, fn(t)) for t in range(program.input_range))
        )
    if var.position_init_fn is not None:
        fn, size = var.position_init_fn, program.position_range or 0
        return sparse.Init("position", tuple(symbolic.normalise(var, fn(p)) for p in range(size)))
    return sparse.Init("const", (var.default,))


def _rules(
    program: symbolic.Program,
    domains: dict[str, tuple[Any, ...]],
    lazy: bool,
    dropped: Dropped,
    merge_copies: bool = False,
    merge_olds: bool = False,
) -> list[sparse.Rule]:
    if isinstance(program.mlp, symbolic.RulesMLP):
        merged = _from_rules_merged(program, dropped) if merge_olds else None
        return merged if merged is not None else _from_rules(program, dropped)
    written: set[str] = set()
    while True:
        aliases = input_copies(program, domains, written) if merge_copies else {}
        rules = _explore_function(program, domains, lazy, dropped, aliases)
        now = {rule.var for rule in rules}
        if not now & (set(aliases) | set(aliases.values())):
            dropped.copies = len(aliases)
            return rules
        written |= now  # a copy is written after all: explore it as itself


def input_copies(
    program: symbolic.Program, domains: dict[str, tuple[Any, ...]], written: set[str]
) -> dict[str, str]:
    """Variables that start from the same table (token, position or constant) with the
    same domain, and that the function may not write, each -> the first of its group.

    Exploring reads of a copy as reads of the first (one branch, not the product of
    all) is sound when the rules found that way write no member of a group: then every
    member keeps its initial value, and the members are equal in every reachable state,
    which is where the function was assumed to see equal values (merge-equal-variables
    proves the same at IR2). `_rules` checks that and explores again without the groups
    it wrote."""
    groups: dict[Any, list[str]] = {}
    for name, var in program.variables:
        if name in program.head_outputs or name in written:
            continue
        key = (var.kind, domains[name], _init(program, name, var), _range(var))
        groups.setdefault(key, []).append(name)
    return {n: names[0] for names in groups.values() for n in names[1:]}


def _range(var: symbolic.Var) -> int:
    return var.range if isinstance(var, symbolic.CategoricalVar | symbolic.SetVar) else 0


def _explore_function(
    program: symbolic.Program,
    domains: dict[str, tuple[Any, ...]],
    lazy: bool,
    dropped: Dropped,
    aliases: dict[str, str],
) -> list[sparse.Rule]:
    assert isinstance(program.mlp, symbolic.FunctionMLP)
    if lazy and may_defer(program.mlp.fn):
        try:
            return _explore(program, domains, True, dropped, aliases)
        except Fallback:
            pass
    return _explore(program, domains, False, dropped, aliases)


def _explore(
    program: symbolic.Program,
    domains: dict[str, tuple[Any, ...]],
    lazy: bool,
    dropped: Dropped,
    aliases: dict[str, str],
) -> list[sparse.Rule]:
    explorer = _Explorer(program, domains, lazy=lazy, aliases=aliases)
    rules = explorer.rules()
    dropped.ill_typed[:], dropped.raising[:] = explorer.ill_typed, explorer.raising
    return rules


def _from_rules(program: symbolic.Program, dropped: Dropped) -> list[sparse.Rule]:
    """Explicit rules as IR2 rules, one per rule, each with one atom per lhs pair and one
    on the old value, in the order of the variables (canonicalize's order).

    A large rule program repeats its atoms, written values and lhs variables many times,
    so each is handled once: atoms are made once (and shared atoms are keyed once
    downstream), and the variable order of each lhs shape is sorted once."""
    made = _AtomMaker(program)
    writes = {(r.var, type(r.new), r.new) for r in program.mlp.rules}  # type: ignore[union-attr]
    bad = _ill_typed(program, writes, dropped)
    rules = []
    for rule in program.mlp.rules:  # type: ignore[union-attr]
        if (rule.var, type(rule.new), rule.new) not in bad:
            atoms = made.atoms(rule.lhs, rule.var, made.one(rule.var, rule.old))
            rules.append(sparse.Rule(atoms, rule.var, rule.new))
    return rules


def _from_rules_merged(program: symbolic.Program, dropped: Dropped) -> list[sparse.Rule] | None:
    """`_from_rules`, but rules that differ only in the old value of the variable they
    write become one rule whose atom on it holds all those old values: it fires exactly
    where they do and writes what they write. The paper's rule programs enumerate every
    old value: the paper's addition goes from 16,421 rules to 2,760 before any pass runs.

    None, with nothing recorded in `dropped`, when two rules of a group share an old
    value (they may fire together: the conflict check then counts the rules one by one)
    or when an lhs is not a tuple of pairs (a list, say, which cannot key a group)."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    fields = operator.attrgetter("var", "old", "new", "lhs")
    try:
        for var, old, new, lhs in map(fields, program.mlp.rules):  # type: ignore[union-attr]
            try:  # the old value overrides the lhs pair on var: leave it out
                i = lhs.index((var, old))
                lhs = lhs[:i] + lhs[i + 1 :]
            except ValueError:
                pass
            key = (var, type(new), new, lhs)
            olds = groups.get(key)
            if olds is None:
                groups[key] = [old]
            else:
                olds.append(old)
    except TypeError:  # unhashable
        return None
    olds_sets = [frozenset(olds) for olds in groups.values()]
    if any(len(s) < len(olds) for s, olds in zip(olds_sets, groups.values(), strict=True)):
        return None
    made = _AtomMaker(program)
    bad = _ill_typed(program, {key[:3] for key in groups}, dropped)
    return [
        sparse.Rule(made.atoms(lhs, var, made.set(var, values)), var, new)
        for (var, kind, new, lhs), values in zip(groups, olds_sets, strict=True)
        if (var, kind, new) not in bad
    ]


def _ill_typed(
    program: symbolic.Program, writes: set[tuple[str, type, Any]], dropped: Dropped
) -> set[tuple[str, type, Any]]:
    """The (variable, type, value) `writes` of the program's rules that are ill-typed,
    each rule making one counted in `dropped` (the warning describes the first three)."""
    variables = program.vars
    errors = {w: symbolic.write_error(variables[w[0]], w[2]) for w in writes}
    bad = {w for w, why in errors.items() if why}
    if bad:
        for i, rule in enumerate(program.mlp.rules):  # type: ignore[union-attr]
            why = errors[(rule.var, type(rule.new), rule.new)]
            if why:
                described = len(dropped.ill_typed) < 3
                dropped.ill_typed.append(
                    f"rule #{i} ({rule}) writes '{rule.var}' := {why}" if described else ""
                )
    return bad


class _AtomMaker:
    """Atoms of a rule program, each made once, in the order of the variables."""

    def __init__(self, program: symbolic.Program) -> None:
        self.order = {name: i for i, (name, _) in enumerate(program.variables)}
        self.made: dict[tuple[str, frozenset[Any]], sparse.Atom] = {}
        self.single: dict[tuple[str, Any], sparse.Atom] = {}
        self.shapes: dict[tuple[str, ...], list[str]] = {}

    def set(self, var: str, values: frozenset[Any]) -> sparse.Atom:
        atom = self.made.get((var, values))
        if atom is None:
            atom = self.made[(var, values)] = sparse.Atom(var, values)
        return atom

    def one(self, var: str, value: Any) -> sparse.Atom:
        atom = self.single.get((var, value))
        if atom is None:
            atom = self.single[(var, value)] = self.set(var, frozenset({value}))
        return atom

    def atoms(
        self, lhs: tuple[tuple[str, Any], ...], var: str, old: sparse.Atom
    ) -> tuple[sparse.Atom, ...]:
        """One atom per lhs pair (a later pair on a variable wins) and `old` on `var`."""
        pairs: dict[str, Any] = dict(lhs)
        pairs[var] = old
        names = tuple(pairs)
        shape = self.shapes.get(names)
        if shape is None:
            shape = self.shapes[names] = sorted(names, key=self.order.__getitem__)
        return tuple([pairs[n] if n == var else self.one(n, pairs[n]) for n in shape])


class _Force(Exception):
    """Expanding a written lazy value failed for some values: branch on it instead."""


class _Explorer:
    def __init__(
        self,
        program: symbolic.Program,
        domains: dict[str, tuple[Any, ...]],
        lazy: bool,
        aliases: dict[str, str] | None = None,
    ) -> None:
        assert isinstance(program.mlp, symbolic.FunctionMLP)
        self.program, self.domains, self.lazy = program, domains, lazy
        self.aliases = aliases or {}  # a copy -> the variable read in its place
        self.bar = progress.Bar("", None, 0.0, live=False)
        self.fn = program.mlp.fn
        self.vars = program.vars
        self.heads = program.head_outputs
        self.runs = self.ok = 0
        self.ill_typed: list[str] = []  # paths whose write is ill-typed, described
        self.raising: list[str] = []  # paths on which the function raises, described
        self.checked: dict[tuple[str, int], int] = {}

    def rules(self) -> list[sparse.Rule]:
        with progress.task(f"lowering '{self.program.name}': paths explored") as bar:
            self.bar = bar
            tree = self.node({})
        if (self.raising or self.ill_typed) and not self.ok:
            raise CompileError(
                f"program '{self.program.name}': the MLP function fails on every path "
                f"({(self.raising or self.ill_typed)[0]})"
            )
        atoms: dict[tuple[str, Any], sparse.Atom] = {}
        out = []
        for name in sorted(tree):
            for rel, new in tree[name]:
                if (name, new) in rel:
                    continue  # writes the value the path read
                for pair in rel:
                    if pair not in atoms:
                        atoms[pair] = sparse.Atom(pair[0], frozenset({pair[1]}))
                rule_atoms = tuple(atoms[pair] for pair in sorted(rel, key=_first))
                out.append(sparse.Rule(rule_atoms, name, new, dont_care_none=True))
        return out

    def count(self, n: int = 1) -> None:
        self.runs += n
        self.bar.advance(n)
        if self.runs > MAX_PATHS:
            raise CompileError(
                f"program '{self.program.name}': the MLP function needs more "
                f"than {MAX_PATHS} paths; split it into steps that each read "
                "fewer variables"
            )

    def node(self, path: dict[str, Any]) -> dict[str, Rules]:
        """Run the function on `path`; the rules it writes below this node, by variable."""
        self.count()
        z = _Exploring(self, path)
        try:
            self.fn(z)
        except NeedValue:
            if z.need is None:  # a lazy value of an earlier run: not ours to resolve
                raise Fallback from None
        except IllTypedWriteError as exc:  # undefined behaviour: drop the path
            if z.need is None and not z.fallback:
                self.ill_typed.append(f"on the path {_path(path)}, {exc}")
                return {}
        except (ProgramError, UndefinedReadError) as exc:
            if z.need is None and not z.fallback:
                raise CompileError(
                    f"program '{self.program.name}': on the path {_path(path)} the MLP "
                    f"function fails: {exc}"
                ) from None
        except Exception as exc:  # undefined behaviour: drop the path
            if z.need is None and not z.fallback:
                if self.lazy and isinstance(exc, TypeError | AttributeError):
                    raise Fallback from None  # maybe a lazy value where a real one was due
                self.raising.append(f"{type(exc).__name__}: {exc} on the path {_path(path)}")
                return {}
        if z.fallback:
            raise Fallback
        if z.need is not None:
            return self.branch(path, z.need)
        raising = next((v for v in z.may_raise if self.raises(v)), None)
        if raising is not None:  # the function would raise there: run it on real values
            return self.branch(path, raising.deps[0])
        try:
            rules = {name: self.expand(path, name, value) for name, value in z.writes.items()}
        except _Force as force:
            return self.branch(path, force.args[0])
        self.ok += 1
        return rules

    def domain(self, name: str) -> tuple[Any, ...]:
        if not self.domains[name]:
            raise CompileError(
                f"MLP function reads {self.vars[name].kind} variable '{name}', "
                "whose values are unknown; give it `values`"
            )
        return self.domains[name]

    def branch(self, path: dict[str, Any], name: str) -> dict[str, Rules]:
        domain = self.domain(name)
        children = [self.node({**path, name: v}) for v in domain]
        out: dict[str, Rules] = {}
        for var in dict.fromkeys(k for child in children for k in child):
            sets = [child.get(var) for child in children]
            first = sets[0]
            if first is not None and all(_same(s, first) for s in sets[1:]):
                out[var] = first  # the same under every value of `name`: hoist it
            else:
                out[var] = tuple(
                    (((name, v), *rel), new)
                    for v, s in zip(domain, sets, strict=True)
                    if s
                    for rel, new in s
                )
        return out

    def raises(self, value: Lazy) -> bool:
        """Whether computing `value` raises for some values of its dependencies."""
        combos = list(itertools.product(*(self.domain(d) for d in value.deps)))
        self.count(len(combos))
        for combo in combos:
            try:
                value.fn(dict(zip(value.deps, combo, strict=True)))
            except Exception:
                return True
        return False

    def expand(self, path: dict[str, Any], name: str, value: Any) -> Rules:
        """The rules of the write `name := value`: one, or one per combination of the
        values of a lazy value's dependencies."""
        if not isinstance(value, Lazy):
            return (((), value),)
        deps = value.deps
        combos = list(itertools.product(*(self.domain(d) for d in deps)))
        self.count(len(combos))
        out = []
        for combo in combos:
            env = dict(zip(deps, combo, strict=True))
            try:
                new = value.fn(env)
            except Exception:
                raise _Force(deps[0]) from None  # branch, and let the run itself fail
            try:
                new = self.check(name, new)
            except IllTypedWriteError as exc:
                # The interpreter raises in these states, so what the model does there is
                # free: drop this write only, keeping the rest of the path compact.
                self.ill_typed.append(f"on the path {_path({**path, **env})}, {exc}")
                continue
            except ProgramError as exc:
                raise CompileError(
                    f"program '{self.program.name}': on the path {_path({**path, **env})} the "
                    f"MLP function fails: {exc}"
                ) from None
            out.append((tuple(zip(deps, combo, strict=True)), new))
        return tuple(out)

    def check(self, name: str, value: Any) -> Any:
        """`value` as `name` holds it, as `_Z.__setitem__` checks it."""
        key = (name, value) if type(value) is int else None
        if key is not None and key in self.checked:
            return self.checked[key]
        new = symbolic.checked_write(self.program, name, value)
        if key is not None:
            self.checked[key] = new
        return new


class _Exploring:
    """`z` on a partial assignment (the interpreter's `_Z` checks, writes buffered): reading
    a variable the path has not fixed gives a lazy value or asks for a branch."""

    def __init__(self, explorer: _Explorer, values: dict[str, Any]) -> None:
        self._explorer, self._values = explorer, values
        self.writes: dict[str, Any] = {}
        self.need: str | None = None
        self.fallback = False
        self.may_raise: list[Lazy] = []  # lazy values whose operation may raise

    def __getitem__(self, name: str) -> Any:
        name = self._explorer.aliases.get(name, name)
        values = self._values
        if name in values:
            return values[name]  # never None: paths only fix values of the domain
        if name not in self._explorer.vars:
            raise ProgramError(f"MLP function reads unknown variable '{name}'")
        if self._explorer.lazy:
            return Lazy(self, (name,), operator.itemgetter(name))
        self.need = name
        raise NeedValue(name)

    def __setitem__(self, name: str, value: Any) -> None:
        explorer = self._explorer
        if name not in explorer.vars or name in explorer.heads:
            symbolic.checked_write(explorer.program, name, value)  # raises the interpreter's error
        if isinstance(value, Lazy):
            if value._z is not self:
                fallback(self)
            self.writes[name] = value
        else:
            self.writes[name] = explorer.check(name, value)


def _same(a: Rules | None, b: Rules) -> bool:
    return a is b or (a is not None and len(a) == len(b) and (a == b or set(a) == set(b)))


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]


def _path(path: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{n}={symbolic.fmt_value(v)}" for n, v in path.items()) + "}"


def _numeric_writes(program: symbolic.Program, rules: list[sparse.Rule]) -> dict[str, set[Any]]:
    """What rules write to each variable whose domain is inferred from its writes."""
    open_ = {
        name
        for name, var in program.variables
        if not isinstance(var, symbolic.CategoricalVar) and var.values is None
    }
    grown: dict[str, set[Any]] = {}
    if open_:  # else nothing to collect: rule programs are mostly categorical
        for rule in rules:
            if rule.var in open_:
                grown.setdefault(rule.var, set()).add(rule.new)
    return grown
