"""What a head may read and write, checked the same way at IR1 and IR2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from alta.ir.types import Kind


class HeadNames(Protocol):
    @property
    def output(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...


def head_problem(
    head: HeadNames,
    kind_of: Callable[[str], tuple[str, int]],
    order: Sequence[str],
    sigil: str = "",
) -> str | None:
    """Why `head` is malformed, or None. `kind_of(name)` gives a variable's kind and range
    (0 for numerical); `order` lists head outputs in declaration order; `sigil` prefixes
    names as the level prints them ('%' at IR2). Every name must already be known."""
    where = f"head '{sigil}{head.output}'"
    for role in ("query", "key", "value"):
        name = getattr(head, role)
        if name in order and order.index(name) >= order.index(head.output):
            return (
                f"{where}: {role} '{sigil}{name}' is the output of head '{sigil}{name}', "
                f"declared {'at' if name == head.output else 'after'} it; a head may read "
                "only heads declared before it (they run in declaration order)"
            )
    (query, q_range), (key, k_range) = kind_of(head.query), kind_of(head.key)
    (value, v_range), (output, o_range) = kind_of(head.value), kind_of(head.output)
    if query == Kind.NUMERICAL:
        return f"{where}: query '{sigil}{head.query}' must be categorical or a set"
    if key != Kind.CATEGORICAL:
        return f"{where}: key '{sigil}{head.key}' must be categorical"
    if q_range != k_range:
        return (
            f"{where}: query '{sigil}{head.query}' has range {q_range} but key "
            f"'{sigil}{head.key}' has range {k_range}; they must agree"
        )
    if value == Kind.SET:
        return f"{where}: value '{sigil}{head.value}' must be categorical or numerical"
    if output != value:
        return f"{where}: output is {output} but value '{sigil}{head.value}' is {value}"
    if value == Kind.CATEGORICAL and o_range != v_range:
        return (
            f"{where}: output range {o_range} differs from value '{sigil}{head.value}'s "
            f"range {v_range}"
        )
    return None
