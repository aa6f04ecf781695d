"""The reference semantics (docs/semantics.md): the oracle every compiled model must match.

One core serves both interpreters: `state` (how a batch of states is held and
initialised), `attention`, `mlp` (the IR1 MLP step) and `loop` (halting). `symbolic` runs
IR1 programs; `sparse` runs IR2 modules.
"""

from alta.interp.loop import RunResult
from alta.interp.symbolic import interpret, run

__all__ = ["RunResult", "interpret", "run"]
