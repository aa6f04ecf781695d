"""The small vocabularies every IR shares: a variable's kind and an IR's level.

Both are `StrEnum`s, so `Kind.SET == "set"` and `Level.SPARSE == "sparse"`: text (pass
declarations, printed IR, third-party passes written with plain strings) keeps working.
"""

from __future__ import annotations

import enum


class Kind(enum.StrEnum):
    """What a variable holds: an int in a range, a float, or a set of ints."""

    CATEGORICAL = "categorical"
    NUMERICAL = "numerical"
    SET = "set"


class Level(enum.StrEnum):
    """The IR a module is at, in pipeline order: IR1, IR2, IR3."""

    SYMBOLIC = "symbolic"
    SPARSE = "sparse"
    DENSE = "dense"
