"""The pass contract and the pass registry.

A pass is a frozen attrs class: its fields are its options, `name` is its kebab-case
pipeline spelling, `input_level`/`output_level` the IR it takes and returns (or `level`
for both), and `run(module)` returns the same object when nothing changed, so "did it
change?" is `result is not module`.

The registry maps names to lazy factories: built-ins by module path, third-party passes
through the entry-point group `alta.passes` (name = pass name, value = "pkg.mod:Class").
Nothing is imported until a pipeline names the pass or `--list-passes` asks for all.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import sys
import typing
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

import attrs

from alta.errors import PipelineError
from alta.ir.types import Level

LEVELS = tuple(Level)
ENTRY_POINT_GROUP = "alta.passes"

#: First-party passes: name -> module that defines (and `@register`s) it. A name whose
#: module is not there yet is simply not offered.
BUILTIN: dict[str, str] = {
    "canonicalize": "alta.passes.canonicalize",
    "dce": "alta.passes.dce",
    "lower-symbolic-to-sparse": "alta.passes.lower_symbolic_to_sparse",
    "minimize-rules": "alta.passes.minimize_rules",
    "prune-values": "alta.passes.prune_values",
    "lower-sparse-to-dense": "alta.passes.lower_sparse_to_dense",
    "prune-mlp-units": "alta.passes.prune_mlp_units",
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
        """Lines such as 'rules 4428 -> 57' that `--pass-statistics` prints."""
        return generic_statistics(before, after)

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


def _field_types(cls: type) -> dict[str, Any]:
    """The annotations of `cls`, resolved; one that does not resolve stays a string (and
    the others still resolve)."""
    try:
        return typing.get_type_hints(cls)
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

_CLASSES: dict[str, type[Pass]] = {}
#: name -> (module the class must come from, loader); consulted when a name is not loaded.
_LAZY: dict[str, tuple[str, Callable[[], type[Pass]]]] = {}
_plugins_loaded = False


def register(cls: P) -> P:
    """Class decorator: make a pass available by its `name` in pipeline strings."""
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
    home = BUILTIN.get(cls.name)
    if home is not None and home != cls.__module__:
        raise PipelineError(
            f"pass name '{cls.name}' is reserved for the built-in pass in {home}; "
            f"{_qualname(cls)} must choose another name"
        )
    old = _CLASSES.get(cls.name)
    if old is not None and _qualname(old) != _qualname(cls):
        raise PipelineError(
            f"pass name '{cls.name}' is already registered by {_qualname(old)}; "
            f"{_qualname(cls)} must choose another name"
        )
    lazy = _LAZY.get(cls.name)
    if old is None and lazy is not None and lazy[0] != cls.__module__:
        raise PipelineError(
            f"pass name '{cls.name}' belongs to {lazy[0]}; {_qualname(cls)} must choose "
            "another name"
        )
    _CLASSES[cls.name] = cls
    return cls


def register_lazy(name: str, module: str, loader: Callable[[], type[Pass]] | None = None) -> None:
    """Offer pass `name` without importing `module` until the pass is used."""
    _LAZY.setdefault(name, (module, loader or (lambda: _import_pass(name, module))))


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import_pass(name: str, module_name: str) -> type[Pass]:
    module = importlib.import_module(module_name)
    if name in _CLASSES:
        return _CLASSES[name]
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Pass) and value.name == name:
            return value
    raise PipelineError(f"module {module_name} defines no pass named '{name}'")


def _load_plugins() -> None:
    """Register built-ins and the `alta.passes` entry points, lazily and once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name, module in BUILTIN.items():
        if name in _CLASSES or importlib.util.find_spec(module) is not None:
            register_lazy(name, module)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in _LAZY or ep.name in _CLASSES:
            raise PipelineError(
                f"entry point '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP}) reuses the name "
                "of an existing pass"
            )
        register_lazy(ep.name, ep.module, functools.partial(_load_entry_point, ep))


def _load_entry_point(ep: Any) -> type[Pass]:
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Pass)) or cls.name != ep.name:
        raise PipelineError(
            f"entry point '{ep.name} = {ep.value}' must name a Pass subclass whose name is "
            f"'{ep.name}'"
        )
    return register(cls) if ep.name not in _CLASSES else _CLASSES[ep.name]


def available() -> list[str]:
    """Every pass name a pipeline can use (nothing is imported), sorted."""
    _load_plugins()
    return sorted(set(_CLASSES) | set(_LAZY))


def lookup(name: str) -> type[Pass] | None:
    """The pass class registered as `name`, importing it on first use; None if unknown."""
    _load_plugins()
    if name in _CLASSES:
        return _CLASSES[name]
    if name not in _LAZY:
        return None
    cls = _LAZY[name][1]()
    _CLASSES.setdefault(name, cls)
    return _CLASSES[name]


def registry() -> dict[str, Callable[[], type[Pass]]]:
    """Name -> zero-argument factory returning the pass class (imports on call)."""
    return {name: (lambda name=name: lookup(name)) for name in available()}  # type: ignore[misc]
