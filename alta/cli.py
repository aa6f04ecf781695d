"""The `alta` command line.

    alta opt PROGRAM [--pass-pipeline=TEXT] [--emit symbolic|sparse|dense] [flags...]
    alta opt FILE.alta [--pass-pipeline=TEXT] [...]
    alta opt --list-passes          (or: alta passes)
    alta programs                   the library's program names
    alta bench [ARGS...]            runs benchmarks/backends.py with ARGS

PROGRAM is `module:attr` (a symbolic Program, or a zero-argument callable returning one)
or the name of a library program (`alta programs`). FILE.alta is printed IR2 or IR3 (the
text `alta opt` prints, see alta.ir.parser); IR3 text needs its weights beside it, in
FILE.npz. The pipeline then starts at that level; without --pass-pipeline it is the part
of the default pipeline that starts there. The final IR goes to stdout; IR dumps,
statistics and timings go to stderr. An alta error prints its message and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from alta import passes
from alta.errors import AltaError
from alta.ir import symbolic
from alta.passes import instrument


class UsageError(AltaError):
    """The command line names something that does not exist."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `alta` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "bench":
        return _guard(lambda: bench(args[1:]))
    parser = _parser()
    ns = parser.parse_args(args)
    if ns.command is None:
        parser.print_help(sys.stderr)
        return 2
    return _guard(lambda: ns.func(ns))


def _guard(action: Any) -> int:
    try:
        return int(action() or 0)
    except AltaError as exc:
        print(f"alta: error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alta", description=__doc__.splitlines()[0])
    parser.set_defaults(command=None)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    opt = sub.add_parser("opt", help="run a pass pipeline on a program and print the IR")
    opt.set_defaults(command="opt", func=opt_command)
    opt.add_argument(
        "program",
        nargs="?",
        help="module:function, a library program name, or a FILE.alta of printed IR2/IR3",
    )
    opt.add_argument(
        "--pass-pipeline",
        default=None,
        metavar="TEXT",
        help=f"passes to run (default: {passes.DEFAULT_PIPELINE}; for a FILE.alta, the part "
        "of it that starts at the file's level)",
    )
    opt.add_argument(
        "--emit",
        choices=passes.LEVELS,
        help="stop after the last pass that produces this IR level, print it",
    )
    opt.add_argument(
        "--max-layers",
        type=int,
        metavar="N",
        help="sets the max-layers option of every pass that has one",
    )
    opt.add_argument(
        "--no-verify-each",
        dest="verify_each",
        action="store_false",
        help="do not run the verifier after every pass",
    )
    opt.add_argument("--list-passes", action="store_true", help="list the available passes")
    opt.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the passes it @registers can be named",
    )
    opt.add_argument("--print-ir-before", default="", metavar="PASS[,PASS]")
    opt.add_argument("--print-ir-after", default="", metavar="PASS[,PASS]")
    for flag in ("before-all", "after-all", "after-change", "after-failure"):
        opt.add_argument(f"--print-ir-{flag}", action="store_true")
    opt.add_argument("--time-passes", action="store_true", help="a timing table at the end")
    opt.add_argument("--pass-statistics", action="store_true", help="what each pass changed")

    lp = sub.add_parser("passes", help="list the available passes")
    lp.set_defaults(command="passes", func=lambda ns: print(passes.list_passes()))

    pr = sub.add_parser("programs", help="list the library's programs")
    pr.set_defaults(command="programs", func=programs_command)

    sub.add_parser("bench", help="run benchmarks/backends.py (arguments pass through)")
    return parser


def opt_command(ns: argparse.Namespace) -> int:
    for module_name in ns.load:
        _import(module_name, f"--load {module_name}")
    if ns.list_passes:
        print(passes.list_passes())
        return 0
    if not ns.program:
        raise UsageError(
            "alta opt needs a PROGRAM (module:function, a library name or a FILE.alta)"
        )
    program: Any
    if is_ir_file(ns.program):
        program, case_layers = load_ir(ns.program), None
    else:
        program, case_layers = load_program(ns.program)
    start_level = passes.level_of(program)
    text = ns.pass_pipeline
    if text is None:
        text = default_pipeline(start_level)
    pm = passes.PassManager.parse(
        text,
        start_level=start_level,
        verify_each=ns.verify_each,
        instrumentations=instrument.from_flags(
            print_ir_before=ns.print_ir_before,
            print_ir_after=ns.print_ir_after,
            print_ir_before_all=ns.print_ir_before_all,
            print_ir_after_all=ns.print_ir_after_all,
            print_ir_after_change=ns.print_ir_after_change,
            print_ir_after_failure=ns.print_ir_after_failure,
            time_passes=ns.time_passes,
            pass_statistics=ns.pass_statistics,
        ),
    )
    _check_print_names(pm, ns.print_ir_before, ns.print_ir_after)
    max_layers = ns.max_layers if ns.max_layers is not None else case_layers
    if max_layers is not None:
        pm = passes.PassManager(
            [_with_max_layers(p, max_layers) for p in pm.passes],
            verify_each=pm.verify_each,
            instrumentations=pm.instrumentations,
        )
    if ns.emit is not None:
        pm = pm.up_to(ns.emit, start_level=start_level)
    module = pm.run(program)
    sys.stdout.write(f"{module}\n")
    return 0


def default_pipeline(level: str) -> str:
    """The part of the default pipeline that starts at IR `level` (from its first pass that
    takes that level)."""
    from alta.passes import pipeline

    default = passes.parse(passes.DEFAULT_PIPELINE, "symbolic")
    before = ["symbolic", *pipeline.levels_along(default, "symbolic")]
    start = before.index(level) if level in before[:-1] else len(default)
    return passes.print_pipeline(default[start:])


def is_ir_file(spec: str) -> bool:
    """Whether PROGRAM names a file of printed IR (by its `.alta` suffix)."""
    return spec.endswith(".alta")


def load_ir(spec: str) -> Any:
    """Parse the IR2 or IR3 text in file `spec`; IR3 takes its weights from the .npz beside it."""
    from alta.ir import parser

    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"IR file '{spec}' does not exist")
    text = path.read_text(encoding="utf-8")
    if parser.header_level(text) != "dense":
        return parser.parse(text)
    weights_path = path.with_suffix(".npz")
    if not weights_path.is_file():
        raise UsageError(
            f"'{spec}' holds alta.dense (IR3), whose weights are not part of the text; put "
            f"them beside it as '{weights_path}' (np.savez(path, **module.weights))"
        )
    import numpy as np

    try:
        with np.load(weights_path, allow_pickle=False) as npz:
            weights = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the weights '{weights_path}': {exc}") from None
    return parser.parse(text, weights)


def _with_max_layers(p: passes.Pass, max_layers: int) -> passes.Pass:
    if "max_layers" not in attrs.fields_dict(type(p)):
        return p
    return attrs.evolve(p, **{"max_layers": max_layers})


def _check_print_names(pm: passes.PassManager, *lists: str) -> None:
    in_pipeline = {p.name for p in pm.passes}
    asked = {n.strip() for names in lists for n in names.split(",") if n.strip()}
    missing = sorted(asked - in_pipeline)
    if missing:
        raise UsageError(
            f"--print-ir-before/--print-ir-after name {', '.join(missing)}, which the pipeline "
            f"'{pm}' does not run"
        )


def programs_command(ns: argparse.Namespace) -> int:
    from alta import programs

    for name in programs.names():
        print(f"{name:36} {programs.get(name).description}")
    return 0


def load_program(spec: str) -> tuple[symbolic.Program, int | None]:
    """The program named by `spec`, and the layer budget its library entry gives (if any)."""
    if ":" not in spec:
        from alta import programs

        if spec not in programs.names():
            raise UsageError(
                f"'{spec}' is neither module:function nor a library program; library programs: "
                f"{', '.join(programs.names())}"
            )
        case = programs.get(spec)
        return case.build(), case.max_layers
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"program '{spec}' must look like module:function")
    module = _import(module_name, f"program '{spec}'")
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UsageError(
                f"program '{spec}': module '{module_name}' has no attribute '{attr}'"
            ) from None
        target = getattr(target, part)
    program = target if isinstance(target, symbolic.Program) else _call(spec, target)
    return program, None


def _import(module_name: str, what: str) -> Any:
    """Import a user module, from the current directory too (as `python -m` would)."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise UsageError(f"{what}: cannot import module '{module_name}' ({exc})") from None
        raise


def _call(spec: str, target: Any) -> symbolic.Program:
    if not callable(target):
        raise UsageError(
            f"program '{spec}' is {target!r} (a {type(target).__name__}), not a "
            "Program or a function returning one"
        )
    program = target()
    if not isinstance(program, symbolic.Program):
        raise UsageError(
            f"program '{spec}' returned a {type(program).__name__}, not an alta Program"
        )
    return program


def bench_candidates() -> list[Path]:
    """Where `alta bench` looks for its script: the current directory, then the checkout."""
    roots = dict.fromkeys([Path.cwd(), Path(__file__).resolve().parent.parent])
    return [root / "benchmarks" / "backends.py" for root in roots]


def bench(args: list[str]) -> int:
    """Run benchmarks/backends.py (from the current directory or the source checkout)."""
    candidates = bench_candidates()
    script = next((p for p in candidates if p.is_file()), None)
    if script is None:
        raise UsageError(
            "alta bench runs benchmarks/backends.py, which is not there (looked in "
            + " and ".join(str(p.parent) for p in candidates)
            + "); run it from a source checkout"
        )
    saved = sys.argv
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
