"""Execution traces: what the MLP of a program saw and wrote, per layer and position.

    t = alta.trace(program, inputs, max_layers=None)   # a Trace (alta.traces.trace)
    t.vector_in, t.vector_out                           # the compiled model's residuals
    t.vectors_in()                                      # with undefined dims as noise
    alta.traces.rules_fired(t)                          # which IR2 rules fired where
    alta.traces.write(program, stream, "out/")          # sharded .npz, bounded memory
    for shard in alta.traces.read("out/"): ...

Trace supervision (training a Transformer's MLP from these pairs) builds on this.
"""

from __future__ import annotations

from alta.errors import TraceError
from alta.traces.extract import trace
from alta.traces.noise import fill as fill_noise
from alta.traces.rules import fired_rules, rules_fired
from alta.traces.store import read, read_manifest, write
from alta.traces.trace import Record, Trace, concat

__all__ = [
    "Record",
    "Trace",
    "TraceError",
    "concat",
    "fill_noise",
    "fired_rules",
    "read",
    "read_manifest",
    "rules_fired",
    "trace",
    "write",
]
