"""`fixpoint(a,b,...)`: run passes in order, round after round, until a round changes nothing.

    fixpoint(minimize-rules,prune-values)                 at most 10 rounds
    fixpoint{max-rounds=4}(minimize-rules,prune-values)

A round changes nothing when every pass in it returned the very object it was given (the
pass contract: a pass returns the same object when it changes nothing). The passes inside
must each take and return the same IR level. `max-rounds` counts every round, the last
(unchanged) one included; if the passes still change the module in round `max-rounds`,
that is a `PassError` naming them.

`fixpoint` is pipeline syntax, not a registered pass: the parser builds a `Fixpoint`, and
the pass manager runs its passes one by one, so instruments and the verifier see each run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs

from alta.errors import PassError
from alta.passes import base

NAME = "fixpoint"
DEFAULT_MAX_ROUNDS = 10


def _as_tuple(passes: Iterable[base.Pass]) -> tuple[base.Pass, ...]:
    return tuple(passes)


def _check_passes(instance: Any, attribute: Any, value: tuple[base.Pass, ...]) -> None:
    if not value:
        raise ValueError("fixpoint(...) needs at least one pass")
    for p in value:
        if not isinstance(p, base.Pass):
            raise TypeError(f"fixpoint(...) takes Pass instances, got {type(p).__name__} {p!r}")


def _check_rounds(instance: Any, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max-rounds must be an int of at least 1, got {value!r}")


@attrs.frozen
class Fixpoint(base.Pass):
    """Run `passes` in order, repeatedly, until a whole round changes nothing."""

    name: ClassVar[str] = NAME
    passes: tuple[base.Pass, ...] = attrs.field(converter=_as_tuple, validator=_check_passes)
    max_rounds: int = attrs.field(default=DEFAULT_MAX_ROUNDS, validator=_check_rounds)

    def spec(self) -> str:
        opts = "" if self.max_rounds == DEFAULT_MAX_ROUNDS else f"{{max-rounds={self.max_rounds}}}"
        return f"{NAME}{opts}({','.join(p.spec() for p in self.passes)})"

    def run(self, module: Any) -> Any:
        return self.iterate(module, lambda p, m: p.run(m))

    def iterate(self, module: Any, run_one: Callable[[base.Pass, Any], Any]) -> Any:
        """Run rounds with `run_one(pass, module) -> module` until one changes nothing."""
        for _ in range(self.max_rounds):
            changed = False
            for p in self.passes:
                result = run_one(p, module)
                changed |= result is not module
                module = result
            if not changed:
                return module
        names = ", ".join(p.name for p in self.passes)
        raise PassError(
            f"{self.spec()} did not converge: its passes ({names}) still changed the module "
            f"in round {self.max_rounds} of {self.max_rounds}; raise max-rounds, or find the "
            "pass that keeps changing it"
        )


def first_level(p: base.Pass) -> str:
    """The IR level `p` takes when nothing else says (a fixpoint: its first pass's)."""
    return first_level(p.passes[0]) if isinstance(p, Fixpoint) else p.input_level
