"""`alta experiment NAME [--seeds N] [--quick] [--out DIR] [--ray ADDRESS] [--workers N]`.

`alta.cli` hands the arguments after `experiment` to `main`; mistakes in them are
`UsageError`s, which the command line prints as one line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from alta.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"alta experiment: {message}")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="alta experiment",
        description="Run a learnability experiment; write JSON, a markdown table and plots.",
    )
    p.add_argument("name", nargs="?", help="the experiment (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--seeds", type=int, default=5, help="seeds per setting (default 5)")
    p.add_argument("--quick", action="store_true", help="the small version (minutes on a CPU)")
    p.add_argument("--out", default="experiment-results", help="output folder")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: CPUs)")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run on this Ray cluster ('local': start one)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from alta.learn import experiments

    args = parser().parse_args(argv)
    if args.list:
        for name in experiments.names():
            print(f"{name:12s} {experiments.get(name).claim}")
        return 0
    if args.name is None:
        raise UsageError("alta experiment: name an experiment, or pass --list")
    experiment = experiments.get(args.name)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    files = experiments.run(
        experiment.name,
        seeds=args.seeds,
        quick=args.quick,
        out=args.out,
        workers=args.workers,
        ray_address=args.ray,
    )
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0
