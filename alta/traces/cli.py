"""`alta trace PROGRAM --inputs FILE --out DIR`: trace a file of inputs into shards.

FILE holds one input sequence per line, tokens as space-separated ints; blank lines and
lines starting with `#` are skipped. PROGRAM is a library program name (`alta programs`)
or `module:attr` (a Program, or a zero-argument callable returning one). The file is read
lazily, so it may be larger than memory; a bad token stops the run with an error naming
the file, the line and the token.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from alta.errors import InputError
from alta.ir import symbolic
from alta.programs.spec import load_program
from alta.traces import noise as noise_mod
from alta.traces import store


def main(argv: list[str]) -> int:
    """Run the command; user errors raise `AltaError`s (the `alta` command prints them)."""
    ns = _parser().parse_args(argv)
    program, max_layers = load_program(ns.program)
    if ns.max_layers is not None:
        max_layers = ns.max_layers
    path = Path(ns.inputs)
    if not path.is_file():
        raise InputError(f"{path}: no such input file")
    noise = None if ns.no_noise else tuple(ns.noise or noise_mod.DEFAULT)
    manifest = store.write(
        program,
        read_inputs(path, program),
        ns.out,
        max_layers=max_layers,
        batch_size=ns.batch_size,
        shard_records=ns.shard_records,
        noise=noise,
        seed=ns.seed,
        overwrite=ns.overwrite,
    )
    print(
        f"traced {manifest['sequences']} sequences of '{program.name}': "
        f"{manifest['records']} records in {len(manifest['shards'])} shards in {ns.out}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alta trace", description=__doc__.splitlines()[0])
    parser.add_argument("program", help="a library program name, or module:attr")
    parser.add_argument("--inputs", required=True, metavar="FILE", help="one sequence a line")
    parser.add_argument("--out", required=True, metavar="DIR", help="where shards go")
    parser.add_argument("--max-layers", type=int, metavar="N")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--noise", nargs=2, type=float, metavar=("LO", "HI"), help="default: -10 10")
    group.add_argument("--no-noise", action="store_true", help="undefined inputs stay zero")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256, metavar="B")
    parser.add_argument("--shard-records", type=int, default=1 << 18, metavar="R")
    parser.add_argument("--overwrite", action="store_true", help="replace traces in DIR")
    return parser


def read_inputs(path: Path, program: symbolic.Program) -> Iterator[list[int]]:
    """The sequences of `path`, checked against the program's input and position ranges."""
    limit = program.position_range
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            seq = [_token(path, lineno, k, word, program) for k, word in enumerate(text.split())]
            if limit is not None and len(seq) > limit:
                raise InputError(
                    f"{path}:{lineno}: {len(seq)} tokens, but program '{program.name}' has "
                    f"position_range {limit}"
                )
            yield seq


def _token(path: Path, lineno: int, k: int, word: str, program: symbolic.Program) -> int:
    where = f"{path}:{lineno}: token {k + 1} {word!r}"
    try:
        value = int(word)
    except ValueError:
        raise InputError(f"{where} is not an integer") from None
    if not 0 <= value < program.input_range:
        raise InputError(
            f"{where} is outside input_range {program.input_range} of program '{program.name}'"
        )
    return value
