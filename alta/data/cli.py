"""`alta data scan --split NAME --out DIR [--seed S]`: write a SCAN split as JSONL.

DIR gets `train.jsonl` and `test.jsonl` (one {"command": ..., "actions": ...} object a line)
and `manifest.json`; files already there are replaced. The data comes from the grammar in
`alta.data.scan`, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from alta.data import scan
from alta.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """Raises `UsageError` where argparse would exit, so `alta` reports it like any error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def main(argv: Sequence[str]) -> int:
    """Run the command; user errors raise `UsageError` (the `alta` command prints them)."""
    ns = _parser().parse_args(list(argv))
    if ns.dataset is None:
        raise UsageError("alta data needs a data set: alta data scan --split NAME --out DIR")
    out = Path(ns.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    split = scan.split(ns.split, seed=ns.seed)
    try:
        scan.write_jsonl(split, out)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write the split ({exc.strerror})") from None
    print(
        f"wrote SCAN split '{split.name}': {len(split.train)} train and "
        f"{len(split.test)} test pairs in {out}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alta data", description=__doc__.splitlines()[0])
    parser.set_defaults(dataset=None)
    sub = parser.add_subparsers(title="data sets", metavar="DATASET")
    p = sub.add_parser("scan", help="SCAN from its grammar, as train/test JSONL")
    p.set_defaults(dataset="scan")
    p.add_argument("--split", required=True, choices=scan.SPLITS, help="which standard split")
    p.add_argument("--out", required=True, metavar="DIR", help="where the files go")
    p.add_argument("--seed", type=int, default=0, help="shapes the 'simple' split (default 0)")
    return parser
