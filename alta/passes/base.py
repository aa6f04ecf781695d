"""The pass contract and the pass registry.

A pass is a frozen attrs class: its fields are its options, `name` is its kebab-case
pipeline spelling, `input_level`/`output_level` the IR it takes and returns, and
`run(module)` returns the same object when nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import attrs

LEVELS = ("symbolic", "sparse", "dense")


@attrs.frozen
class Pass:
    """Base of every pass. Subclasses set `name` and `level` (or both io levels)."""

    name: ClassVar[str] = ""
    level: ClassVar[str] = ""
    input_level: ClassVar[str] = ""
    output_level: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.level:
            cls.input_level = cls.input_level or cls.level
            cls.output_level = cls.output_level or cls.level

    def run(self, module: Any) -> Any:
        raise NotImplementedError

    def statistics(self, before: Any, after: Any) -> list[str]:
        """Lines such as 'rules 4428 -> 57' that `--pass-statistics` prints."""
        return []


P = TypeVar("P", bound=type[Pass])

_REGISTRY: dict[str, Callable[[], type[Pass]]] = {}


def register(cls: P) -> P:
    """Class decorator: make a pass available by its `name` in pipeline strings."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} needs a class-level kebab-case `name`")
    _REGISTRY[cls.name] = lambda: cls
    return cls


def register_lazy(name: str, factory: Callable[[], type[Pass]]) -> None:
    """Register a pass by name without importing its module until it is used."""
    _REGISTRY.setdefault(name, factory)


def registry() -> dict[str, Callable[[], type[Pass]]]:
    return _REGISTRY
