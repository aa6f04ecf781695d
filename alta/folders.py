"""Results folders, made before the work that fills them: a folder that cannot be
written should fail at once, not after a benchmark or hours of training have run."""

from __future__ import annotations

import os
from pathlib import Path


def unwritable(out: Path) -> str | None:
    """Make the folder `out` (and its parents); None when it is a writable folder, else
    why it is not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "exists and is not a folder"
    except OSError as exc:
        return f"cannot be made ({exc})"
    if not os.access(out, os.W_OK | os.X_OK):
        return "is not writable"
    return None
