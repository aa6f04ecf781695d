"""Instrumentation: hooks the pass manager calls around every pass (MLIR's hook names).

Built-ins map 1:1 onto CLI flags: `PrintIR` (--print-ir-before/after[-all], --print-ir-
after-change), `TimePasses` (--time-passes), `PassStatistics` (--pass-statistics: what
each pass recorded in its `PassContext`, alta/passes/context.py).
Everything is written to `stream`, by default stderr at the time of writing, so the
final IR on stdout stays separate from the dumps.

Use them from Python with `alta.compile(program, instrument=[TimePasses(), ...])` or
`PassManager.parse(text, instrumentations=[...])`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from alta.passes import base, context

if TYPE_CHECKING:
    from alta.passes.manager import PassManager


class Instrumentation:
    """Base class; override the hooks you need. One object may serve several runs."""

    stream: TextIO | None = None

    def run_begin(self, manager: PassManager, module: Any) -> None:
        """Before the first pass."""

    def before_pass(self, pass_: base.Pass, module: Any) -> None:
        """Just before `pass_` runs on `module`."""

    def after_pass(self, pass_: base.Pass, before: Any, after: Any) -> None:
        """After `pass_` returned `after` (`after is before` when nothing changed);
        `context.current()` is still the pass's context, with what it recorded."""

    def after_pass_failed(self, pass_: base.Pass, module: Any, error: BaseException) -> None:
        """After `pass_` raised, or its result failed verification."""

    def run_end(self, manager: PassManager, module: Any) -> None:
        """After the last pass, or after a failure (then `module` is the last good one)."""

    def write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(text if text.endswith("\n") else text + "\n")


def as_list(
    instrument: Instrumentation | Iterable[Instrumentation] | None,
) -> list[Instrumentation]:
    """Accept None, one instrumentation or an iterable of them."""
    if instrument is None:
        return []
    if isinstance(instrument, Instrumentation):
        return [instrument]
    items = list(instrument)
    for item in items:
        if not isinstance(item, Instrumentation):
            raise TypeError(f"expected an alta Instrumentation, got {type(item).__name__}")
    return items


def _names(names: str | Sequence[str]) -> frozenset[str]:
    if isinstance(names, str):
        names = names.split(",")
    return frozenset(n.strip() for n in names if n.strip())


class PrintIR(Instrumentation):
    """Print the IR around passes, under an MLIR-style `// -----// IR Dump ...` banner."""

    def __init__(
        self,
        before: str | Sequence[str] = (),
        after: str | Sequence[str] = (),
        *,
        before_all: bool = False,
        after_all: bool = False,
        after_change: bool = False,
        after_failure: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.before, self.after = _names(before), _names(after)
        self.before_all, self.after_all = before_all, after_all
        self.after_change, self.after_failure = after_change, after_failure
        self.stream = stream

    def run_begin(self, manager: PassManager, module: Any) -> None:
        # "After all" shows every stage, so the input too (unless before-all will show it).
        if self.after_all and not self.before_all:
            self._dump("IR Dump Input", module)

    def before_pass(self, pass_: base.Pass, module: Any) -> None:
        if self.before_all or pass_.name in self.before:
            self._dump(f"IR Dump Before {pass_.spec()}", module)

    def after_pass(self, pass_: base.Pass, before: Any, after: Any) -> None:
        changed = after is not before
        if self.after_all or pass_.name in self.after or (self.after_change and changed):
            note = "" if changed else " (unchanged)"
            self._dump(f"IR Dump After {pass_.spec()}{note}", after)

    def after_pass_failed(self, pass_: base.Pass, module: Any, error: BaseException) -> None:
        if self.after_failure:
            self._dump(f"IR Dump After {pass_.spec()} Failed", module)

    def _dump(self, title: str, module: Any) -> None:
        self.write(f"// -----// {title} //----- //\n{module}")


class TimePasses(Instrumentation):
    """Wall time per pass; a table at the end (`seconds`, `share`, `pass`)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.timings: list[tuple[str, float]] = []
        self.total = 0.0
        self._start = self._pass_start = 0.0
        self._running = False

    def run_begin(self, manager: PassManager, module: Any) -> None:
        self.timings, self._start = [], time.perf_counter()

    def before_pass(self, pass_: base.Pass, module: Any) -> None:
        self._pass_start, self._running = time.perf_counter(), True

    def after_pass(self, pass_: base.Pass, before: Any, after: Any) -> None:
        self.timings.append((pass_.spec(), time.perf_counter() - self._pass_start))
        self._running = False

    def after_pass_failed(self, pass_: base.Pass, module: Any, error: BaseException) -> None:
        if self._running:  # else it ran, and its result failed verification
            self.timings.append(
                (pass_.spec() + " (failed)", time.perf_counter() - self._pass_start)
            )
        self._running = False

    def run_end(self, manager: PassManager, module: Any) -> None:
        self.total = time.perf_counter() - self._start
        self.write(self.report())

    def report(self) -> str:
        rows = [*self.timings, ("(verifiers and overhead)", self.total - self._passes())]
        total = self.total or 1.0
        lines = [
            "===- pass execution timing report -===",
            f"  {'wall (s)':>10}  {'share':>6}  pass",
        ]
        for name, seconds in rows:
            lines.append(f"  {seconds:10.4f}  {100 * seconds / total:5.1f}%  {name}")
        lines.append(f"  {self.total:10.4f}  100.0%  total")
        return "\n".join(lines)

    def _passes(self) -> float:
        return sum(seconds for _, seconds in self.timings)


class PassStatistics(Instrumentation):
    """The lines each pass recorded in its `PassContext` ("minimize-rules: rules 4428 -> 57").

    A pass that records nothing gets the generic rules / variables / d_model comparison.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.lines: list[str] = []

    def run_begin(self, manager: PassManager, module: Any) -> None:
        self.lines = []

    def after_pass(self, pass_: base.Pass, before: Any, after: Any) -> None:
        recorded = [*context.current().lines, *_overridden(pass_, before, after)]
        stats = recorded or base.generic_statistics(before, after)
        self.lines += [f"{pass_.name}: {line}" for line in stats]

    def run_end(self, manager: PassManager, module: Any) -> None:
        self.write("\n".join(["===- pass statistics -===", *self.lines]))


def _overridden(pass_: base.Pass, before: Any, after: Any) -> list[str]:
    """The lines of a pass that still computes them in `statistics` (the older way)."""
    if type(pass_).statistics is base.Pass.statistics:
        return []
    return pass_.statistics(before, after)


def from_flags(
    *,
    print_ir_before: str | Sequence[str] = (),
    print_ir_after: str | Sequence[str] = (),
    print_ir_before_all: bool = False,
    print_ir_after_all: bool = False,
    print_ir_after_change: bool = False,
    print_ir_after_failure: bool = False,
    time_passes: bool = False,
    pass_statistics: bool = False,
    stream: TextIO | None = None,
) -> list[Instrumentation]:
    """The instrumentations the CLI flags of the same names ask for."""
    result: list[Instrumentation] = []
    wants_ir = (
        print_ir_before
        or print_ir_after
        or print_ir_before_all
        or print_ir_after_all
        or print_ir_after_change
        or print_ir_after_failure
    )
    if wants_ir:
        result.append(
            PrintIR(
                print_ir_before,
                print_ir_after,
                before_all=print_ir_before_all,
                after_all=print_ir_after_all,
                after_change=print_ir_after_change,
                after_failure=print_ir_after_failure,
                stream=stream,
            )
        )
    if pass_statistics:
        result.append(PassStatistics(stream))
    if time_passes:
        result.append(TimePasses(stream))
    return result


def list_passes() -> str:
    """Every available pass: name, levels, first docstring line, and its options."""
    lines = []
    for name in base.available():
        try:
            cls = base.lookup(name)
        except Exception as exc:  # a broken plugin must not hide the others
            lines.append(f"{name}  (cannot load: {exc})")
            continue
        assert cls is not None
        levels = (
            cls.input_level
            if cls.input_level == cls.output_level
            else f"{cls.input_level} -> {cls.output_level}"
        )
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"{name}  [{levels}]  {doc[0] if doc else ''}".rstrip())
        for opt in base.options(cls):
            default = base.format_value(opt.default) if opt.has_default else "(required)"
            typ = opt.type.__name__ if isinstance(opt.type, type) else str(opt.type)
            help_ = f"  {opt.help}" if opt.help else ""
            lines.append(f"    {opt.spelling}: {typ} = {default}{help_}")
    return "\n".join(lines)
