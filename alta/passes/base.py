"""The pass contract and the pass registry.

A pass is a frozen attrs class: its fields are its options, `name` is its kebab-case
pipeline spelling, `input_level`/`output_level` the IR it takes and returns (or `level`
for both), and `run(module)` returns the same object when nothing changed, so "did it
change?" is `result is not module`. While it runs, it records its statistics in
`context.current()` (alta/passes/context.py).

The registry is one lazy map, name -> "module:Class", fed three ways: the built-ins in
`BUILTIN`, the entry-point group `alta.passes` (name = pass name, value = "pkg.mod:Class"),
and `register(cls)` at run time. Nothing is imported until a pipeline names the pass or
`--list-passes` asks for all.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import typing
import warnings
import weakref
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, TypeVar

import attrs

from alta.errors import PipelineError
from alta.ir.types import Level
from alta.passes import context

LEVELS = tuple(Level)
ENTRY_POINT_GROUP = "alta.passes"

#: First-party passes, written as entry points are: name -> "module:Class". A class is
#: imported when a pipeline first names it; its module does not register itself.
BUILTIN: dict[str, str] = {
    "canonicalize": "alta.passes.canonicalize:CanonicalizePass",
    "dce": "alta.passes.dce:DeadCodeEliminationPass",
    "lower-symbolic-to-sparse": "alta.passes.lower_symbolic_to_sparse:LowerSymbolicToSparsePass",
    "merge-equal-variables": "alta.passes.merge_equal_variables:MergeEqualVariablesPass",
    "fold-equalities": "alta.passes.fold_equalities:FoldEqualitiesPass",
    "minimize-rules": "alta.passes.minimize_rules:MinimizeRulesPass",
    "prune-values": "alta.passes.prune_values:PruneValuesPass",
    "choose-encodings": "alta.passes.choose_encodings:ChooseEncodingsPass",
    "lower-sparse-to-dense": "alta.passes.lower_sparse_to_dense:LowerSparseToDensePass",
    "prune-mlp-units": "alta.passes.prune_mlp_units:PruneMlpUnitsPass",
}

#: Names the pipeline syntax keeps for itself (`fixpoint(...)`, alta/passes/fixpoint.py).
RESERVED = frozenset({"fixpoint"})


@attrs.frozen
class Pass:
    """Base of every pass. Subclasses set `name` and `level` (or both io levels)."""

    name: ClassVar[str] = ""
    level: ClassVar[str] = ""
    input_level: ClassVar[str] = ""
    output_level: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = vars(cls)
        if own.get("level"):
            if "input_level" not in own:
                cls.input_level = cls.level
            if "output_level" not in own:
                cls.output_level = cls.level

    def run(self, module: Any) -> Any:
        raise NotImplementedError(f"pass '{self.name}' does not implement run()")

    def statistics(self, before: Any, after: Any) -> list[str]:
        """The `--pass-statistics` lines of this pass taking `before` to `after`.

        A pass records them while it runs, where the pass manager collects them (and
        never calls this); this is for a caller outside a pipeline, so it runs the pass
        on `before` again in a fresh context. A pass that records nothing gets the
        generic size comparison. A pass may still override it (the older way): its
        lines are printed after the ones it recorded."""
        with warnings.catch_warnings(), context.PassContext(self.name).active() as ctx:
            warnings.simplefilter("ignore")  # the real run warned already
            self.run(before)
        return ctx.lines or generic_statistics(before, after)

    def spec(self) -> str:
        """This pass as pipeline text: its name, then the options that differ from defaults."""
        opts = [
            f"{opt.spelling}={format_value(getattr(self, opt.field))}"
            for opt in options(type(self))
            if not opt.has_default or getattr(self, opt.field) != opt.default
        ]
        return self.name + ("{" + " ".join(opts) + "}" if opts else "")


@attrs.frozen
class Option:
    """One option of a pass: the attrs field, its pipeline spelling, type and default."""

    field: str
    type: Any
    default: Any
    has_default: bool
    help: str = ""

    @property
    def spelling(self) -> str:
        return self.field.replace("_", "-")


def options(cls: type[Pass]) -> list[Option]:
    """The options of a pass class, in field order, with their types resolved."""
    hints = _field_types(cls)
    result = []
    for f in attrs.fields(cls):
        if not f.init:
            continue
        has_default = f.default is not attrs.NOTHING
        default = f.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()  # type: ignore[union-attr]
        typ = hints.get(f.name, f.type)
        result.append(Option(f.name, typ, default, has_default, f.metadata.get("help", "")))
    return result


#: Fully resolved annotations per pass class: `spec()` asks for them on every run of a pass.
_RESOLVED: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()


def _field_types(cls: type) -> dict[str, Any]:
    """The annotations of `cls`, resolved; one that does not resolve stays a string (and
    the others still resolve, but are not kept: a later call may resolve them all)."""
    if cls in _RESOLVED:
        return _RESOLVED[cls]
    try:
        _RESOLVED[cls] = typing.get_type_hints(cls)
        return _RESOLVED[cls]
    except Exception:
        pass
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        module = sys.modules.get(klass.__module__)
        namespace = dict(vars(module)) if module is not None else {}
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if isinstance(annotation, str):
                with contextlib.suppress(Exception):
                    annotation = eval(annotation, namespace, dict(vars(klass)))
            hints[name] = annotation
    return hints


_SPECIAL = frozenset("{}=,'\"\\")
_SEQUENCE_VALUES = (tuple, list, frozenset, set)


def format_value(value: Any) -> str:
    """An option value as pipeline text (the inverse of `option_types.convert`).

    A str that would read as something else (`none`, a bool, a number) is quoted, and
    quoted text is never `none` and stays a str where the option accepts one. Sequences
    are written as their items separated by spaces, a sequence of sequences as groups
    separated by ';' (a trailing ';' marks an empty last group)."""
    if isinstance(value, _SEQUENCE_VALUES):
        items = _ordered(value)
        if any(isinstance(item, _SEQUENCE_VALUES) for item in items):
            groups = [" ".join(_format_item(x) for x in _ordered(group)) for group in items]
            text = ";".join(groups) + (";" if groups and not groups[-1] else "")
        else:
            text = " ".join(_format_item(x) for x in items)
        return _quoted(text) if not text or _needs_quotes(text) else text
    text = _format_item(value)
    ambiguous = isinstance(value, str) and _reads_as_other(value)
    return _quoted(text) if not text or ambiguous or _needs_quotes(text) else text


def _format_item(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _ordered(items: Any) -> list[Any]:
    if not isinstance(items, frozenset | set):
        return list(items)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _needs_quotes(text: str) -> bool:
    return any(c.isspace() or c in _SPECIAL for c in text)


def _reads_as_other(text: str) -> bool:
    if text.lower() in ("none", "true", "false", "yes", "no", "on", "off"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- levels


def level_of(module: Any) -> Level:
    """The IR level of a module: symbolic programs have no `level` field, the others do."""
    from alta.ir import symbolic

    if isinstance(module, symbolic.Program):
        return Level.SYMBOLIC
    level = getattr(module, "level", None)
    if level not in LEVELS:
        raise PipelineError(f"{type(module).__name__} is not an alta IR module")
    return Level(level)


def measures(module: Any) -> dict[str, int]:
    """Sizes that say what a pass did: rules, variables and heads; d_model and nonzeros."""
    from alta.ir import symbolic

    if isinstance(module, symbolic.Program):
        sizes = {"variables": len(module.variables), "heads": len(module.heads)}
        if isinstance(module.mlp, symbolic.RulesMLP):
            sizes["rules"] = len(module.mlp.rules)
        return sizes
    if getattr(module, "level", None) == "sparse":
        return {
            "rules": len(module.rules),
            "variables": len(module.variables),
            "heads": len(module.heads),
        }
    if getattr(module, "level", None) == "dense":
        import numpy as np

        arrays = list(module.weights.values())
        return {
            "d_model": module.d_model,
            "params": int(sum(a.size for a in arrays)),
            "nonzeros": int(sum(np.count_nonzero(a) for a in arrays)),
        }
    return {}


def generic_statistics(before: Any, after: Any) -> list[str]:
    """What changed between two modules, e.g. ['rules 4428 -> 57']; never empty."""
    if after is before:
        return ["unchanged"]
    old, new = measures(before), measures(after)
    if level_of(before) != level_of(after):
        return [f"{key} {value}" for key, value in new.items()]
    lines = [f"{k} {old[k]} -> {v}" for k, v in new.items() if k in old and old[k] != v]
    return lines or ["rewritten, sizes unchanged: " + ", ".join(f"{k} {v}" for k, v in new.items())]


# --------------------------------------------------------------------------- registry

P = TypeVar("P", bound=type[Pass])


@attrs.frozen
class _Entry:
    """One registered name: the "module:Class" that defines it, who offered it, and the
    class once it is loaded (a class handed to `register` is loaded from the start)."""

    target: str
    origin: str
    builtin: bool = False
    cls: type[Pass] | None = None


def _builtin_entries() -> dict[str, _Entry]:
    return {
        name: _Entry(target, f"built-in '{name} = {target}'", builtin=True)
        for name, target in BUILTIN.items()
    }


_REGISTRY = _builtin_entries()
_entry_points_read = False


def _entries() -> dict[str, _Entry]:
    """The registry, with the `alta.passes` entry points added on first use (listed, not
    imported). A clash leaves them unread, so every later use reports it again."""
    global _entry_points_read
    if _entry_points_read:
        return _REGISTRY
    found: dict[str, _Entry] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"entry point '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP})"
        old = _REGISTRY.get(ep.name) or found.get(ep.name)
        if old is not None and old.target == ep.value:
            continue  # its module was imported, and registered the class, before
        if ep.name in RESERVED:
            raise PipelineError(f"{origin}: '{ep.name}' is pipeline syntax, not a pass name")
        if old is not None:
            raise PipelineError(f"{origin} reuses the name of an existing pass ({old.origin})")
        found[ep.name] = _Entry(ep.value, origin)
    _REGISTRY.update(found)
    _entry_points_read = True
    return _REGISTRY


def _target(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_class(cls: Any) -> None:
    if not isinstance(cls, type) or not issubclass(cls, Pass):
        raise TypeError("@register decorates a subclass of alta.passes.Pass")
    if not cls.name:
        raise TypeError(f"{cls.__name__} needs a class-level kebab-case `name`")
    if cls.input_level not in LEVELS or cls.output_level not in LEVELS:
        raise TypeError(
            f"pass '{cls.name}' ({cls.__name__}) must set `level` or `input_level` and "
            f"`output_level` to one of {', '.join(LEVELS)}"
        )
    if cls.name in RESERVED:
        raise PipelineError(
            f"'{cls.name}' is pipeline syntax, not a pass name; {_qualname(cls)} must choose "
            "another name"
        )


def register(cls: P) -> P:
    """Make pass class `cls` usable by its `name` in pipeline text (also a decorator).

    Registering the class a name already holds is harmless; any other class under a
    taken name is an error naming both."""
    _check_class(cls)
    target = _target(cls)
    entry = _entries().get(cls.name)
    if entry is None:
        entry = _Entry(target, _qualname(cls))
    elif entry.target != target:
        taken = (
            f"is reserved for the built-in pass {entry.target}"
            if entry.builtin
            else f"is already registered by {entry.origin}"
        )
        raise PipelineError(
            f"pass name '{cls.name}' {taken}; {_qualname(cls)} must choose another name"
        )
    _REGISTRY[cls.name] = attrs.evolve(entry, cls=cls)
    return cls


def unregister(name: str) -> None:
    """Forget pass `name`, one that `register` or an entry point added; built-ins stay."""
    entry = _entries().get(name)
    if entry is None:
        raise PipelineError(f"no pass named '{name}' is registered")
    if entry.builtin:
        raise PipelineError(f"'{name}' is a built-in pass ({entry.target}); it stays registered")
    del _REGISTRY[name]


@contextlib.contextmanager
def registered(*classes: type[Pass]) -> Iterator[None]:
    """Register `classes` for the `with` block only (a pytest fixture's way): afterwards
    the names they added are gone, and a name that already held its class stays."""
    added: list[str] = []
    try:
        for cls in classes:
            new = getattr(cls, "name", None) not in _entries()
            register(cls)
            if new:
                added.append(cls.name)
        yield
    finally:
        for name in added:
            _REGISTRY.pop(name, None)


def available() -> list[str]:
    """Every pass name a pipeline can use (nothing is imported), sorted."""
    return sorted(_entries())


def lookup(name: str) -> type[Pass] | None:
    """The pass class registered as `name`, importing it on first use; None if unknown."""
    entry = _entries().get(name)
    if entry is None:
        return None
    if entry.cls is None:
        entry = _REGISTRY[name] = attrs.evolve(entry, cls=_load(name, entry))
    return entry.cls


def _load(name: str, entry: _Entry) -> type[Pass]:
    """Import `entry.target` exactly as an entry point is loaded, and check what it is."""
    try:
        cls = EntryPoint(name, entry.target, ENTRY_POINT_GROUP).load()
    except Exception as exc:
        raise PipelineError(f"cannot load pass '{name}' from {entry.origin}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Pass)) or cls.name != name:
        raise PipelineError(
            f"{entry.origin} must name a Pass subclass whose name is '{name}', got {cls!r}"
        )
    try:
        _check_class(cls)
    except TypeError as exc:
        raise PipelineError(f"{entry.origin}: {exc}") from None
    return cls


def registry() -> dict[str, Callable[[], type[Pass] | None]]:
    """Name -> zero-argument factory returning the pass class (imports on call)."""
    return {name: functools.partial(lookup, name) for name in available()}
