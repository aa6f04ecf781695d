"""`PassContext`: where a pass records its statistics while it runs (`--pass-statistics`).

The pass manager gives each pass run a fresh context and makes it current for the run;
the pass, and any helper it calls, records into `context.current()` as it works:

    ctx = context.current()
    ctx.record("rules", len(module.rules), len(result.rules))   # 'rules 4428 -> 57'
    ctx.note("dropped 3 ill-typed write(s)")

So the numbers come from the work itself, not from comparing two modules afterwards,
and the pass contract stays `run(module)`: a pass that records nothing needs no change,
and a pass run by hand, outside a manager, records into a context nobody reads.
Instruments read the context of the pass that just ran in `after_pass`, while it is
still current.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import attrs

_ONE_VALUE = object()


@attrs.frozen
class PassContext:
    """The statistic lines of one pass run, in the order the pass recorded them."""

    pass_name: str = ""
    lines: list[str] = attrs.field(factory=list)

    def record(self, what: str, before: Any, after: Any = _ONE_VALUE) -> None:
        """A measure: `record("rules", 4428, 57)` is 'rules 4428 -> 57', and with one
        value, `record("d_model", 12)` is 'd_model 12'."""
        line = f"{what} {before}" if after is _ONE_VALUE else f"{what} {before} -> {after}"
        self.lines.append(line)

    def note(self, text: str) -> None:
        """A line in words, e.g. 'dropped 1 raising path(s)'."""
        self.lines.append(text)

    @contextlib.contextmanager
    def active(self) -> Iterator[PassContext]:
        """Make this the context `current()` returns, for the `with` block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)


_CURRENT: contextvars.ContextVar[PassContext | None] = contextvars.ContextVar(
    "alta_pass_context", default=None
)


def current() -> PassContext:
    """The context of the pass running now; outside a pass manager, a fresh one that
    nobody reads (so a pass called directly records harmlessly)."""
    ctx = _CURRENT.get()
    return ctx if ctx is not None else PassContext()
