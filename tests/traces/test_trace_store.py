"""Traces made batch by batch equal one batch's (no duplicated records, the paper's
bug), and sharded `.npz` files round-trip them exactly with bounded shards."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import alta
from alta import traces
from alta.traces import Trace, TraceError


def assert_same(a: Trace, b: Trace) -> None:
    assert len(a) == len(b) and a.inputs == b.inputs and a.first_sequence == b.first_sequence
    for name in ("sequence", "layer", "position", "vector_in", "vector_out"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in a.variables:
        np.testing.assert_array_equal(a.values_in[name], b.values_in[name])
        np.testing.assert_array_equal(a.values_out[name], b.values_out[name])


@pytest.mark.parametrize("name", ["parity_sequential_relative", "zeros_below"])
def test_batches_traced_apart_equal_one_batch(name: str, compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    whole = alta.trace(program, batch, model=model)
    k = len(batch) // 3
    first = alta.trace(program, batch[:k], model=model)
    again = alta.trace(program, batch[:k], model=model)
    assert_same(first, again)  # nothing carried over from the call before
    second = alta.trace(program, batch[k:], model=model, first_sequence=k)
    assert_same(traces.concat([first, second]), whole)
    assert len(first) + len(second) == len(whole)


def test_take_pieces_concat_back(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    t = alta.trace(program, batch, model=model)
    cuts = [0, 5, 6, 37, len(t) // 2, len(t)]
    pieces = [t.take(a, b) for a, b in itertools.pairwise(cuts)]
    assert_same(traces.concat(pieces), t)
    for piece in pieces:  # each piece carries the inputs of its sequences
        for s in set(piece.sequence.tolist()):
            assert piece.inputs[s - piece.first_sequence] == tuple(batch[s])


@pytest.mark.parametrize("name", ["parity_sequential_relative", "zeros_below", "sort_unique"])
def test_write_then_read_round_trips(name: str, compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled(name)
    whole = alta.trace(program, batch, model=model)
    out = tmp_path / "traces"
    size = max(1, len(whole) // 7)
    manifest = traces.write(
        program, iter(batch), out, model=model, batch_size=3, shard_records=size, seed=4
    )
    shards = list(traces.read(out))
    assert len(shards) == len(manifest["shards"]) >= 7
    assert all(len(s) <= size for s in shards)
    assert sum(len(s) for s in shards) == manifest["records"] == len(whole)
    assert manifest["sequences"] == len(batch) and manifest["d_model"] == model.ir.d_model
    assert_same(traces.concat(shards), whole)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert [s["var"] for s in on_disk["layout"]] == [s.var for s in model.ir.layout]
    assert on_disk["noise"] == [-10.0, 10.0]
    # shards draw different noise, reproducibly
    assert shards[0].seed != shards[1].seed
    np.testing.assert_array_equal(shards[0].vectors_in(), next(traces.read(out)).vectors_in())
    # the IR2 rules travel in the manifest
    fired = traces.fired_rules(traces.concat(shards))
    assert fired == traces.fired_rules(whole)


def test_writing_over_traces_needs_overwrite(compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    traces.write(program, batch, tmp_path, model=model)
    with pytest.raises(TraceError, match="overwrite"):
        traces.write(program, batch, tmp_path, model=model)
    manifest = traces.write(program, batch[:2], tmp_path, model=model, overwrite=True)
    assert len(list(tmp_path.glob("traces-*.npz"))) == len(manifest["shards"])


def test_reading_a_directory_without_traces_fails(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="manifest"):
        list(traces.read(tmp_path))


def test_a_bad_token_names_its_sequence(compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program, model, _ = compiled("parity_sequential_relative")
    stream = [[2, 1], [2, 0], [2, 1], [2, 7]]
    with pytest.raises(alta.AltaError, match="from 2: sequence 1"):
        traces.write(program, stream, tmp_path, model=model, batch_size=2)


@pytest.mark.parametrize("damage", ["garbage", "missing", "no array"])
def test_a_damaged_shard_is_a_trace_error_naming_it(compiled, tmp_path: Path, damage: str) -> None:  # type: ignore[no-untyped-def]
    """numpy's ValueError and a FileNotFoundError once came out of `read` bare."""
    program, model, batch = compiled("parity_sequential_relative")
    traces.write(program, batch, tmp_path, model=model)
    shard = tmp_path / "traces-00000.npz"
    if damage == "garbage":
        shard.write_bytes(b"garbage")
    elif damage == "missing":
        shard.unlink()
    else:
        np.savez(shard, sequence=np.zeros(1))
    with pytest.raises(TraceError, match=r"traces-00000\.npz"):
        list(traces.read(tmp_path))


def test_a_manifest_missing_fields_is_a_trace_error(compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    traces.write(program, batch, tmp_path, model=model)
    path = tmp_path / "manifest.json"
    manifest = json.loads(path.read_text())
    for damage in ({"layout": None}, {"program": None}, {"sparse_ir": 5}):
        ((key, value),) = damage.items()
        edited = {k: v for k, v in manifest.items() if k != key}
        if value is not None:
            edited[key] = value
        path.write_text(json.dumps(edited))
        with pytest.raises(TraceError, match=r"manifest\.json: a damaged manifest"):
            list(traces.read(tmp_path))
    path.write_text("[1, 2]")
    with pytest.raises(TraceError, match="not an alta-traces"):
        list(traces.read(tmp_path))


def test_an_out_dir_that_cannot_be_made_is_a_trace_error(compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(TraceError, match="cannot make the trace directory"):
        traces.write(program, batch, a_file / "sub", model=model)
    with pytest.raises(TraceError, match="empty"):
        traces.write(program, batch, "", model=model)


def test_record_out_of_range_says_so(compiled) -> None:  # type: ignore[no-untyped-def]
    program, model, batch = compiled("parity_sequential_relative")
    t = alta.trace(program, batch[:1], model=model)
    with pytest.raises(IndexError, match=rf"record 99 of a trace of {len(t)} records"):
        t.record(99)
