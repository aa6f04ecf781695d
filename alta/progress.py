"""Progress bars for long compiler work, on stderr, only where someone watches them.

    with progress.task("exploring paths", delay=1.0) as bar:
        for item in work:
            bar.advance()

A bar appears only when `rich` is installed, stderr is a terminal and `ALTA_PROGRESS` is
not `0`, and only once the work has run for `delay` seconds: quick work and piped or
captured output (tests, CI, `2> log`) stay silent. Everywhere else `task` hands out a
no-op, so callers never check. This module imports nothing of alta's but the standard
library, so any layer may use it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any


def enabled() -> bool:
    """Whether bars may show: rich importable, stderr a terminal, not switched off."""
    if os.environ.get("ALTA_PROGRESS", "1") == "0":
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is None or not isatty():
        return False
    try:
        import rich.progress  # noqa: F401
    except ImportError:
        return False
    return True


class Bar:
    """What `task` yields: `advance(n)` counts work done; quiet until `delay` has passed."""

    def __init__(self, description: str, total: int | None, delay: float, live: bool) -> None:
        self.description, self.total, self.delay, self.live = description, total, delay, live
        self.done = 0
        self._start = time.monotonic()
        self._next = self._start
        self._rich: Any = None
        self._id: Any = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.live:
            return
        now = time.monotonic()
        if now < self._next:  # the clock is cheap; rich's update, per item, is not
            return
        self._next = now + 0.1
        if self._rich is None:
            if now - self._start < self.delay:
                return
            self._show()
        self._rich.update(self._id, completed=self.done)

    def _show(self) -> None:
        import rich.console
        import rich.progress

        columns = [
            rich.progress.TextColumn("{task.description}"),
            rich.progress.BarColumn(),
            rich.progress.MofNCompleteColumn()
            if self.total is not None
            else rich.progress.TextColumn("{task.completed}"),
            rich.progress.TimeElapsedColumn(),
        ]
        console = rich.console.Console(file=sys.stderr)
        self._rich = rich.progress.Progress(*columns, console=console, transient=True)
        self._rich.start()
        self._id = self._rich.add_task(self.description, total=self.total, completed=self.done)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None


@contextlib.contextmanager
def task(description: str, total: int | None = None, delay: float = 1.0) -> Iterator[Bar]:
    """A bar for one piece of work of `total` steps (None: unknown, a counter shows)."""
    bar = Bar(description, total, delay, enabled())
    try:
        yield bar
    finally:
        bar.close()
