"""Lazy values for path exploration (`lower-symbolic-to-sparse`).

`Lazy` stands for a value the MLP function read but has not needed yet: `fn(env)` computes
it from `env`, the values of its dependencies `deps` (variables the path has not fixed).
Operators build more lazy values; what needs the value itself forces it, which raises
`NeedValue` for the first dependency after noting it in `z.need` (`z` is the exploring
`z` that made the value). `Fallback` means: explore this function eagerly instead.

Not seen: `x is y` on a lazy value is False (`x is None` is right: paths never read None);
`type`, `id` and `hasattr` anywhere the function may reach make it eager (`may_defer`).
"""

from __future__ import annotations

import contextlib
import math
import operator
import types
from collections.abc import Callable
from typing import Any

import numpy as np


class NeedValue(BaseException):  # not an Exception: a function's `except` must not catch it
    """The function needs a variable the current path has not fixed yet."""


class Fallback(BaseException):
    """Lazy reads met something they cannot defer: explore the function eagerly."""


def fallback(z: Any) -> None:
    z.fallback = True  # in case the function catches it
    raise Fallback


_ATOMIC = (int, float, complex, str, bytes, frozenset, range, type(None), np.generic)


def _immutable(value: Any) -> bool:
    return all(map(_immutable, value)) if type(value) is tuple else isinstance(value, _ATOMIC)


def _apply(f: Callable[..., Any], args: tuple[Any, ...]) -> Lazy:
    """The lazy value of `f(*args)`; some of the args are lazy, the rest must be immutable
    (their value is taken when the lazy value is expanded, at the end of the run)."""
    z = next(a._z for a in args if isinstance(a, Lazy))
    deps: dict[str, None] = {}
    parts: list[tuple[Callable[[dict[str, Any]], Any] | None, Any]] = []
    for a in args:
        if isinstance(a, Lazy):
            if a._z is not z:
                fallback(z)
            deps.update(dict.fromkeys(a.deps))
            parts.append((a.fn, None))
        elif _immutable(a):
            parts.append((None, a))
        else:
            fallback(z)
    result = _lazy(z, f, tuple(deps), parts)
    if f in _MAY_RAISE:
        z.may_raise.append(result)  # checked when the run ends, even if never written
    return result


def _lazy(
    z: Any,
    f: Callable[..., Any],
    deps: tuple[str, ...],
    parts: list[tuple[Callable[[dict[str, Any]], Any] | None, Any]],
) -> Lazy:
    if len(parts) == 2:
        (f0, c0), (f1, c1) = parts
        if f0 is not None and f1 is None:
            return Lazy(z, deps, lambda env: f(f0(env), c1))
        if f0 is None and f1 is not None:
            return Lazy(z, deps, lambda env: f(c0, f1(env)))

    def fn(env: dict[str, Any]) -> Any:
        return f(*[c if g is None else g(env) for g, c in parts])

    return Lazy(z, deps, fn)


#: Operations that raise on some ints (a zero divisor, a negative shift or power): a lazy
#: value made by one may raise in a state where the function itself would have raised.
_MAY_RAISE = frozenset(
    {
        operator.truediv,
        operator.floordiv,
        operator.mod,
        divmod,
        pow,
        operator.lshift,
        operator.rshift,
    }
)


class Lazy:
    """A value the function read but has not needed yet: `fn(env)` computes it from the
    values `env` of its dependencies `deps` (variables the path has not fixed)."""

    __slots__ = ("_z", "deps", "fn")
    __array_ufunc__ = None  # numpy refuses it (a TypeError), which explores eagerly

    def __init__(self, z: Any, deps: tuple[str, ...], fn: Callable[[dict[str, Any]], Any]) -> None:
        self._z, self.deps, self.fn = z, deps, fn

    def _force(self, *args: Any, **kwargs: Any) -> Any:
        name = self.deps[0]
        self._z.need = name
        raise NeedValue(name)

    # What an int, a float or a frozenset can do that needs the value itself. Anything else
    # raises (a TypeError or an AttributeError), and the function is explored eagerly.
    __bool__ = __int__ = __float__ = __complex__ = __index__ = __hash__ = _force
    __len__ = __iter__ = __contains__ = __format__ = __str__ = __repr__ = _force
    __array__ = __getattr__ = _force

    @property  # type: ignore[misc]
    def __class__(self) -> Any:  # type: ignore[override,misc]  # isinstance needs the value
        return self._force()

    def __round__(self, ndigits: Any = None) -> Lazy:
        return _apply(round, (self,) if ndigits is None else (self, ndigits))

    def __pow__(self, other: Any, mod: Any = None) -> Lazy:
        return _apply(pow, (self, other) if mod is None else (self, other, mod))


def _lift(f: Callable[..., Any], reflected: bool = False) -> Callable[..., Lazy]:
    if reflected:
        return lambda self, other: _apply(f, (other, self))
    return lambda self, *other: _apply(f, (self, *other))


_BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "matmul": operator.matmul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "divmod": divmod,
    "pow": pow,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
}
for _name, _f in _BINARY.items():
    if _name != "pow":  # __pow__ takes a modulus too
        setattr(Lazy, f"__{_name}__", _lift(_f))  # type: ignore[arg-type]
    setattr(Lazy, f"__r{_name}__", _lift(_f, reflected=True))  # type: ignore[arg-type]
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(Lazy, f"__{_name}__", _lift(getattr(operator, _name)))
for _name, _f in (
    ("neg", operator.neg),
    ("pos", operator.pos),
    ("abs", abs),
    ("invert", operator.invert),
    ("floor", math.floor),
    ("ceil", math.ceil),
    ("trunc", math.trunc),
):
    setattr(Lazy, f"__{_name}__", _lift(_f))


#: Builtins that see a lazy value itself, not its value: a function that may call them
#: (or whose helpers may) is explored eagerly.
_OPAQUE = frozenset({"type", "id", "hasattr"})


def may_defer(fn: Any) -> bool:
    """No code that `fn` may reach through its globals names an opaque builtin."""
    stack, seen = [fn], set()
    while stack:
        f = stack.pop()
        code = getattr(f, "__code__", None)
        if code is None or code in seen:
            continue
        seen.add(code)
        names: set[str] = set()
        codes = [code]
        while codes:
            c = codes.pop()
            names.update(c.co_names)
            codes.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        env = getattr(f, "__globals__", {})
        if any(name in _OPAQUE and name not in env for name in names):
            return False
        for cell in getattr(f, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                stack.append(cell.cell_contents)
        for name in names:
            obj = env.get(name)
            if isinstance(obj, types.ModuleType):
                stack.extend(getattr(obj, n, None) for n in names)
            elif callable(obj):
                stack.append(obj)
    return True
