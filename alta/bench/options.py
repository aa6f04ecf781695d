"""Command-line value types and checks the benchmark suites share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

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
    """`--out`, made now, before any work, so that a folder that cannot be written fails
    at once rather than after the benchmark has run."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--out {out}: exists and is not a folder; name a folder") from None
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot make the results folder ({exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the results folder is not writable")
    return out
