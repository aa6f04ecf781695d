"""The `alta` command line.

    alta run PROGRAM --input "2 1 0 1" [--input ...] [--backend B] [--trace] [--max-layers N]
    alta compile PROGRAM -o model.alta [--backend B] [--pipeline P] [--max-layers N]
    alta export PROGRAM|model.alta -o model.onnx [--max-layers N] [--opset N]
    alta opt PROGRAM [--pass-pipeline=TEXT] [--emit symbolic|sparse|dense] [flags...]
    alta opt FILE.alta [--pass-pipeline=TEXT] [...]
    alta opt --list-passes          (or: alta passes)
    alta programs                   the library's program names
    alta trace PROGRAM --inputs FILE --out DIR    execution traces (`alta trace -h`)
    alta data scan --split NAME --out DIR         SCAN from its grammar, as JSONL
    alta show PROGRAM --input "2 1 0" --out DIR   pictures of one run, as HTML
    alta experiment NAME [--quick] [--seeds N]    learnability experiments (`--list`)
    alta bench [scan] [ARGS...]     backend throughput, or SCAN at scale (`alta bench -h`)
    alta --version

PROGRAM is `module:attr` or `path/to/file.py:attr` (a symbolic Program, or a zero-argument
callable returning one) or the name of a library program (`alta programs`); `run` and
`export` take a saved model (FILE.alta) too. FILE.alta is printed IR2 or IR3 (the text
`alta opt` prints, see alta.ir.parser) or a saved model (docs/saved-models.md); IR3 text
needs its weights beside it, in FILE.safetensors or FILE.npz. The pipeline then starts at that level; without --pass-pipeline it is the part
of the default pipeline that starts there. The final IR goes to stdout; IR dumps,
statistics and timings go to stderr. An alta error prints its message and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from alta import __version__, cli_commands, passes
from alta.cli_commands import default_pipeline, is_ir_file, load_ir
from alta.errors import AltaError, UsageError
from alta.passes import instrument
from alta.programs.spec import import_user, load_program


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `alta` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "bench":
        return _guard(lambda: bench(args[1:]))
    if args and args[0] == "experiment":
        from alta.learn import cli as learn_cli

        return _guard(lambda: learn_cli.main(args[1:]))
    if args and args[0] == "data":
        from alta.data import cli as data_cli

        return _guard(lambda: data_cli.main(args[1:]))
    if args and args[0] == "trace":
        from alta.traces import cli as trace_cli

        return _guard(lambda: trace_cli.main(args[1:]))
    if args and args[0] == "show":
        from alta.show import cli as show_cli

        return _guard(lambda: show_cli.main(args[1:]))
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
    except BrokenPipeError:  # `alta run ... | head`: the reader has gone, so stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alta", description=__doc__.splitlines()[0])
    parser.set_defaults(command=None)
    parser.add_argument("--version", action="version", version=f"alta {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    cli_commands.add_commands(sub)

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
        metavar="MODULE|FILE.py",
        help="import MODULE (or the file FILE.py) first, so the passes it @registers can be named",
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

    sub.add_parser("experiment", help="learnability experiments (`alta experiment --list`)")
    sub.add_parser("data", help="offline data sets as JSONL (`alta data scan -h`)")
    sub.add_parser("trace", help="trace a file of inputs into sharded .npz (`alta trace -h`)")
    sub.add_parser("show", help="an HTML page of pictures of one input's run (`alta show -h`)")
    sub.add_parser("bench", help="backend throughput; `alta bench scan`: SCAN at full scale")
    return parser


def opt_command(ns: argparse.Namespace) -> int:
    for module_name in ns.load:
        import_user(module_name, f"--load {module_name}")
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
        pm = pm.with_max_layers(max_layers) or pm
    if ns.emit is not None:
        pm = pm.up_to(ns.emit, start_level=start_level)
    module = pm.run(program)
    sys.stdout.write(f"{module}\n")
    return 0


def _check_print_names(pm: passes.PassManager, *lists: str) -> None:
    in_pipeline = _pass_names(pm.passes)
    asked = {n.strip() for names in lists for n in names.split(",") if n.strip()}
    missing = sorted(asked - in_pipeline)
    if missing:
        raise UsageError(
            f"--print-ir-before/--print-ir-after name {', '.join(missing)}, which the pipeline "
            f"'{pm}' does not run"
        )


def _pass_names(pipeline: Sequence[Any]) -> set[str]:
    """The names of the passes a pipeline runs, those inside fixpoint(...) too."""
    names: set[str] = set()
    for p in pipeline:
        names.add(p.name)
        if isinstance(p, passes.Fixpoint):
            names |= _pass_names(p.passes)
    return names


def programs_command(ns: argparse.Namespace) -> int:
    from alta import programs

    for name in programs.names():
        print(f"{name:36} {programs.get(name).description}")
    return 0


def bench(args: list[str]) -> int:
    """Run a benchmark suite of alta.bench with `args`."""
    from alta import bench as suite

    try:
        return suite.main(args)
    except SystemExit as exc:  # argparse's --help and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
