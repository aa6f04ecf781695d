"""IR2 and IR3 modules pickle and deep-copy: the copy prints the same text, its weights
are equal and stay read-only, and a compiled model built from the copy agrees."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import alta
from alta import programs
from alta.model import CompiledModel


@pytest.mark.parametrize("name", ["parity_sequential_relative", "sort_unique", "addition_rules"])
def test_modules_pickle_and_deepcopy(name: str) -> None:
    model = alta.compile(programs.get(name).build())
    for module in (model.ir, model.sparse_ir):
        for clone in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
            assert str(clone) == str(module)  # the text carries a digest of every weight
    sparse_clone = pickle.loads(pickle.dumps(model.sparse_ir))
    assert sparse_clone == model.sparse_ir and hash(sparse_clone) == hash(model.sparse_ir)
    clone = pickle.loads(pickle.dumps(model.ir))
    for key, arr in model.ir.weights.items():
        assert np.array_equal(clone.weights[key], arr) and not clone.weights[key].flags.writeable
    with pytest.raises(TypeError, match="immutable"):
        clone.weights["x"] = np.zeros(1)
    case = programs.get(name)
    rebuilt = alta.compile(case.build())
    inputs = case.generate(np.random.default_rng(0), 20)
    again = CompiledModel(ir=clone, backend="numpy", executor=_numpy(clone), stats={})
    assert again(inputs) == rebuilt(inputs)


def _numpy(module: object) -> object:
    from alta.backends import base

    return base.get("numpy").build(module)  # type: ignore[arg-type]
