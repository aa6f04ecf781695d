"""A SUBLEQ machine as an ALTA program (three layers per instruction).

Position p holds memory cell p (`mem`, a value v stored as the token v + 16); the input
is the 16-cell memory image, so position_range is 16 and inputs have exactly 16 tokens.
The machine state (`pc`, `step`, `addr_a`, `jump`) is replicated at every position:
heads broadcast whatever every position needs, and every position computes the same
update. Semantics (halting, wrap-around, reading c after the write) are those of
`subleq_machine.simulate`.

  FETCH  heads `a`, `b` read mem[pc], mem[pc+1] (key `position`, and `pos_m1` = p - 1
         mod 16, so that the one query `pc` addresses three cells). If either is not an
         address the machine halts; else `addr_a` := a everywhere and `at_b` := (p == b).
  EXEC   heads `mem_a` (query `addr_a`) and `mem_b` (the cell whose `at_b` is set) read
         the operands; every position sets `jump` := wrap(mem_b - mem_a) <= 0, and the
         position with `at_b` writes its own mem := wrap(mem - mem_a).
  JUMP   head `c` (key `pos_m2`) reads mem[pc+2] after the write; pc := c if jump else
         pc + 3, or the machine halts if that is not a valid PC (0..13).

Every head is defined wherever the MLP reads it: pc, pc + 1, pc + 2 and addr_a are
always valid cells, and exactly one position holds `at_b` after the first FETCH (EXEC,
the only step that reads `mem_b`, comes after it).

`build(rules=True)` writes the MLP with MLPBuilder (3,457 rules, each write conditioned
only on what it depends on); the Python function version computes the same thing and
lowers to about 3,000 rules (about 1,200 after the default pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from alta import lang as pb
from alta.ir import symbolic
from alta.programs import case
from alta.programs import subleq_machine as sm

FETCH, EXEC, JUMP, HALT = 0, 1, 2, 3

T = TypeVar("T")


def _parts() -> tuple[dict[str, symbolic.Var], dict[str, pb.AttentionHead]]:
    cells = sm.CELLS
    variables: dict[str, symbolic.Var] = {
        "mem": pb.input_var(sm.VALUES),
        "position": pb.position_var(cells),
        "pos_m1": pb.position_var(cells, init_fn=lambda p: (p - 1) % cells),
        "pos_m2": pb.position_var(cells, init_fn=lambda p: (p - 2) % cells),
        "pc": pb.var(cells, default=0),
        "step": pb.var(4, default=FETCH),
        "addr_a": pb.var(cells, default=0),
        "at_b": pb.var(2, default=0),
        "jump": pb.var(2, default=0),
        "one": pb.var(2, default=1),
    }
    heads = {
        "a": pb.qkv("pc", "position", "mem"),
        "b": pb.qkv("pc", "pos_m1", "mem"),
        "c": pb.qkv("pc", "pos_m2", "mem"),
        "mem_a": pb.qkv("addr_a", "position", "mem"),
        "mem_b": pb.qkv("one", "at_b", "mem"),
    }
    return variables, heads


# --------------------------------------------------------------------------- function MLP


def _run_stage(step: Any, stages: tuple[Callable[[T], None], ...], arg: T) -> None:
    """Run the stage of `step`: `stages` are those of FETCH, EXEC and JUMP (HALT has none).
    Compares `step` in that order, as an if/elif chain would, so that a lazy `step` of the
    rule lowering is explored the same way."""
    for value, stage in zip((FETCH, EXEC, JUMP), stages, strict=True):
        if step == value:
            stage(arg)
            return


def _ffn(z: Any) -> None:
    _run_stage(z["step"], (_fetch, _execute, _branch), z)


def _fetch(z: Any) -> None:
    a, b = sm.decode(z["a"]), sm.decode(z["b"])
    if sm.is_address(a):
        z["addr_a"] = a
    if sm.is_address(b):
        z["at_b"] = int(z["position"] == b)
    z["step"] = EXEC if sm.is_address(a) and sm.is_address(b) else HALT


def _execute(z: Any) -> None:
    """At the `at_b` position `mem_b` is the cell's own `mem`; using it (not `mem`) keeps
    the paths of rule lowering at mem_a x mem_b x at_b rather than one more factor of 33."""
    result = sm.wrap(sm.decode(z["mem_b"]) - sm.decode(z["mem_a"]))
    z["jump"] = int(result <= 0)
    if z["at_b"] == 1:
        z["mem"] = sm.encode(result)
    z["step"] = JUMP


def _branch(z: Any) -> None:
    target = sm.decode(z["c"]) if z["jump"] == 1 else z["pc"] + 3
    if sm.is_pc(target):
        z["pc"] = target
        z["step"] = FETCH
    else:
        z["step"] = HALT


# --------------------------------------------------------------------------- rules MLP


def _rules(
    variables: dict[str, symbolic.Var], heads: dict[str, pb.AttentionHead]
) -> list[symbolic.Rule]:
    """The same MLP, each write conditioned only on what it depends on."""
    mlp = pb.MLPBuilder(variables, heads)
    for step in mlp.get("step"):
        _run_stage(step, (_fetch_rules, _execute_rules, _branch_rules), mlp)
    return mlp.rules


def _fetch_rules(mlp: pb.MLPBuilder) -> None:
    for a in mlp.get("a"):
        if not sm.is_address(sm.decode(a)):
            mlp.set("step", HALT)
            continue
        mlp.set("addr_a", sm.decode(a))
        for b in mlp.get("b"):
            mlp.set("step", EXEC if sm.is_address(sm.decode(b)) else HALT)
    for b in mlp.get("b"):
        if sm.is_address(sm.decode(b)):
            for position in mlp.get("position"):
                mlp.set("at_b", int(position == sm.decode(b)))


def _execute_rules(mlp: pb.MLPBuilder) -> None:
    mlp.set("step", JUMP)
    for mem_a, mem_b in mlp.get("mem_a", "mem_b"):
        mlp.set("jump", int(sm.wrap(sm.decode(mem_b) - sm.decode(mem_a)) <= 0))
    for at_b, mem_a, mem in mlp.get("at_b", "mem_a", "mem"):
        if at_b == 1:
            mlp.set("mem", sm.encode(sm.wrap(sm.decode(mem) - sm.decode(mem_a))))


def _branch_rules(mlp: pb.MLPBuilder) -> None:
    for jump in mlp.get("jump"):
        if jump == 1:
            for c in mlp.get("c"):
                _goto(mlp, sm.decode(c))
        else:
            for pc in mlp.get("pc"):
                _goto(mlp, pc + 3)


def _goto(mlp: pb.MLPBuilder, target: int) -> None:
    if sm.is_pc(target):
        mlp.set("pc", target)
        mlp.set("step", FETCH)
    else:
        mlp.set("step", HALT)


#: The MLP, written twice (see `alta.programs.case.TwinMLP`).
MLP = case.TwinMLP("subleq", _ffn, _rules)


def build(*, rules: bool = False) -> symbolic.Program:
    """The SUBLEQ program; halts on `step == HALT`. Output: `mem` (tokens v + 16)."""
    halt = pb.halt_spec("step", HALT)
    cells, values = sm.CELLS, sm.VALUES
    return MLP.program(
        _parts(), rules, output_name="mem", input_range=values, position_range=cells, halt=halt
    )


#: The task, from the plain-Python machine of `subleq_machine`.
TASK = case.Task(
    generate=sm.generate,
    reference=sm.reference,
    decode=sm.decode_memory,
    edge_inputs=sm.edge_inputs(),
)

#: The library cases this module registers (collected by `alta.programs`).
CASES = TASK.twins(
    "subleq",
    build,
    layers=sm.layers,
    description="16-cell SUBLEQ machine; 3 layers per instruction; halts",
)
