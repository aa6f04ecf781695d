"""`alta show PROGRAM --input "2 1 0 1" --out DIR`: a page of pictures of one input's run.

PROGRAM is what `alta run` takes: a library program, `module:function`, a file path with
`:function`, or a FILE.alta (a saved model or printed IR2). A symbolic program is compiled
and its interpreter's values are shown beside the model's; a saved model is shown alone.
"""

from __future__ import annotations

import argparse

from alta import cli_commands
from alta.errors import UsageError
from alta.ir import symbolic
from alta.show import page, views


def main(argv: list[str]) -> int:
    """Run the command; user errors raise `AltaError`s (the `alta` command prints them)."""
    ns = _parser().parse_args(argv)
    if len(ns.input) > 1:
        raise UsageError(
            f"alta show draws one input's run, but --input is given {len(ns.input)} times; "
            "run it once per input, each with its own --out"
        )
    tokens = cli_commands.parse_input(ns.input[0])
    target = cli_commands.resolve(ns.program, ns.backend)
    model = cli_commands.compiled(target, ns.backend, max_layers=ns.max_layers)
    program = target.program if isinstance(target.program, symbolic.Program) else None
    v = views.view(model, tokens, program, ns.max_layers)
    path = page.write(v, ns.out)
    bad = len(v.mismatches())
    check = "" if v.interpreted is None else f"; {bad} value(s) differ from the interpreter"
    print(f"wrote {path} ({v.layers} layers of '{v.name}'{check})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alta show", description=__doc__.splitlines()[0])
    parser.add_argument("program", help="a library program, module:function or a FILE.alta")
    parser.add_argument(
        "--input", required=True, action="append", metavar="TOKENS", help='one, e.g. "2 1 0 1"'
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="where index.html goes")
    parser.add_argument("--backend", default="numpy", help="compile with it (default: numpy)")
    parser.add_argument("--max-layers", type=int, metavar="N", help="run at most N layers")
    return parser
