"""Command-line value types and checks the benchmark suites share."""

from __future__ import annotations

import argparse
from pathlib import Path

from alta import folders
from alta.errors import UsageError


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1 (a negative count would slice or crash)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def results_folder(out: Path) -> Path:
    """`--out`, made now, before any work (`alta.folders`)."""
    why = folders.unwritable(out)
    if why:
        raise UsageError(f"--out {out}: the results folder {why}; name a writable folder")
    return out
