"""What a run accepts as input, checked once for the interpreter and every compiled model.

Accepted: one sequence (a list, tuple, range, 1-d array or iterator of ints) or a batch (a
list, tuple, 2-d array or iterator of such sequences). Tokens are Python or numpy ints;
bools, floats, strings, None and nested lists are refused with an `InputError` that names
the sequence and position. See docs/semantics.md, "Inputs".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from alta.errors import InputError

#: Without max_layers, a run stops here; a halting program that has not halted by then is
#: an error (docs/semantics.md, "Halting").
DEFAULT_MAX_LAYERS = 10_000

#: The most layers a run may be asked for: backends count layers in int64.
MAX_LAYERS_LIMIT = 2**63 - 1


def as_batch(inputs: Any) -> tuple[bool, list[list[Any]]]:
    """(single, batch): whether `inputs` is one sequence, and the sequences as lists."""
    if inputs is None:
        raise InputError("inputs is None; pass a list of ints or a list of lists of ints")
    if isinstance(inputs, str | bytes):
        raise InputError(
            f"inputs is a string {inputs!r}; pass a list of ints such as {_example(inputs)}"
        )
    if isinstance(inputs, np.ndarray):
        if inputs.ndim not in (1, 2):
            raise InputError(f"inputs is a {inputs.ndim}-d array; pass a 1-d or 2-d one")
        if inputs.ndim == 1:
            return True, [inputs.tolist()]
        return False, [row.tolist() for row in inputs]
    if isinstance(inputs, Iterator):
        inputs = list(inputs)
    if not isinstance(inputs, Iterable) or isinstance(inputs, dict | set | frozenset):
        raise InputError(
            f"inputs is a {type(inputs).__name__}; pass a list of ints or a list of lists"
        )
    items = list(inputs)
    if items and set(map(type, items)) == {list}:  # the usual batch, without a check per item
        return False, list(map(list, items))
    if not items or not _is_sequence(items[0]):
        return True, [items]
    batch = []
    for b, seq in enumerate(items):
        if isinstance(seq, str | bytes):
            raise InputError(f"sequence {b} is a string {seq!r}; pass a list of ints")
        if not _is_sequence(seq):
            raise InputError(
                f"sequence {b}: {seq!r} is not a sequence, but sequence 0 is; a batch is a "
                "list of lists of ints"
            )
        batch.append(seq.tolist() if isinstance(seq, np.ndarray) else list(seq))
    return False, batch


def _is_sequence(item: Any) -> bool:
    if isinstance(item, str | bytes):
        return True  # refused by `as_batch` with its sequence number
    if isinstance(item, np.ndarray):
        return item.ndim >= 1
    return isinstance(item, list | tuple | range | Iterator)


def _example(text: Any) -> str:
    digits = [c for c in str(text) if c.isdigit()][:4]
    return "[" + ", ".join(digits) + "]" if digits else "[0, 1]"


def pad(
    batch: list[list[Any]], input_range: int, position_range: int | None, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check every token and length; return tokens [B, N] (int64, 0-padded) and lengths [B]."""
    lengths = np.zeros(len(batch), dtype=np.int64)
    for b, seq in enumerate(batch):
        lengths[b] = len(seq)
        if position_range is not None and len(seq) > position_range:
            raise InputError(
                f"sequence {b} has length {len(seq)} but {name} has position_range "
                f"{position_range}; shorten it or raise position_range"
            )
        for i, token in enumerate(seq):
            if isinstance(token, bool | np.bool_) or not isinstance(token, int | np.integer):
                raise InputError(
                    f"sequence {b}, position {i}: token {token!r} "
                    f"({type(token).__name__}) is not an int"
                )
            if not 0 <= token < input_range:
                raise InputError(
                    f"sequence {b}, position {i}: token {token} is outside input_range "
                    f"{input_range} of {name}"
                )
    tokens = np.zeros((len(batch), int(lengths.max(initial=0))), dtype=np.int64)
    for b, seq in enumerate(batch):
        tokens[b, : len(seq)] = seq
    return tokens, lengths


def check_max_layers(max_layers: Any) -> int | None:
    """`max_layers` as an int in [0, MAX_LAYERS_LIMIT], or None; an `InputError` for
    anything else."""
    if max_layers is None:
        return None
    if isinstance(max_layers, bool | np.bool_) or not isinstance(max_layers, int | np.integer):
        raise InputError(f"max_layers must be an int >= 0 or None, got {max_layers!r}")
    if max_layers < 0:
        raise InputError(f"max_layers must be >= 0, got {max_layers}")
    if max_layers > MAX_LAYERS_LIMIT:
        raise InputError(
            f"max_layers must be at most 2**63 - 1 (layers are counted in int64), got {max_layers}"
        )
    return int(max_layers)
