"""Noise fills exactly the dims of the variables that are None at the MLP input."""

from __future__ import annotations

import numpy as np
import pytest

import alta
from alta.traces import TraceError


def _undefined_dims(t: alta.traces.Trace) -> np.ndarray:
    """From the decoded assignments: the dims of every variable that is None there."""
    mask = np.zeros(t.vector_in.shape, dtype=bool)
    for i in range(len(t)):
        assignment = t.assignment_in(i)
        for slot in t.layout:
            if assignment[slot.var] is None:
                mask[i, slot.start : slot.stop] = True
    return mask


@pytest.mark.parametrize("name", ["parity_sequential_relative", "addition", "sort_unique"])
def test_noise_fills_only_undefined_dims_within_range(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    t = alta.trace(program, batch, model=model)
    undefined = _undefined_dims(t)
    assert undefined.any()  # head outputs are None somewhere (no match, sequence edge)
    np.testing.assert_array_equal(t.undefined_in(), undefined)
    noisy = t.vectors_in()
    assert (t.vector_in[undefined] == 0).all()
    np.testing.assert_array_equal(noisy[~undefined], t.vector_in[~undefined])
    assert (noisy[undefined] >= -10).all() and (noisy[undefined] <= 10).all()
    assert (noisy[undefined] != 0).all()
    narrow = t.vectors_in(noise=(2.0, 3.0))
    assert (narrow[undefined] >= 2).all() and (narrow[undefined] <= 3).all()


def test_noise_is_seeded(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    t = alta.trace(program, batch, model=model)
    np.testing.assert_array_equal(t.vectors_in(), t.vectors_in())
    np.testing.assert_array_equal(t.vectors_in(seed=5), t.vectors_in(seed=5))
    assert not np.array_equal(t.vectors_in(seed=5), t.vectors_in(seed=6))
    again = alta.trace(program, batch, model=model, seed=5)
    np.testing.assert_array_equal(again.vectors_in(), t.vectors_in(seed=5))


def test_no_noise_leaves_zeros(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("zeros_below")
    t = alta.trace(program, batch, model=model, noise=None)
    np.testing.assert_array_equal(t.vectors_in(), t.vector_in)
    np.testing.assert_array_equal(t.vectors_in(noise=None), t.vector_in)
    assert t.vectors_in() is not t.vector_in


@pytest.mark.parametrize("bad", [(1.0,), (3.0, 1.0), (0.0, float("inf")), "loud"])
def test_bad_noise_is_refused(bad: object, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, _ = compiled("parity_sequential_relative")
    with pytest.raises(TraceError, match="noise"):
        alta.trace(program, [2, 1], model=model, noise=bad)
