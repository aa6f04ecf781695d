"""SCAN as an ALTA program: a shift-reduce parser, then a depth-first walk of the tree.

Layout (see `scan_task`): BOS, the words, EOS, then 48 BLANK output slots. Word position
p (1-9) has the address p - 1 (`addr`); every other position has the address NONE.

Memory per position (the parse tree lives at the word positions):
  sym    the position's grammar symbol: its word's category until a reduction rewrites it
         (U, T, R, OPP, AROUND, REP, JOIN; then V, S or C); BOT at BOS, END elsewhere.
  depth  its place on the parser's stack (0 = top), or OFF.
  kind   the tree node it holds: PRIM (a bare action word), XR/OPP/AROUND (`x R`,
         `x opposite R`, `x around R`, stored at x), TWICE, THRICE, AND, AFTER; with
         `dir` (the turn) and `act` (x's action, 0 for `turn`) it says what a V node emits.
  left, right, parent   tree pointers (addresses); count: visits of this node in the walk.
The control state `op` is the same at every position (each computes it from the same
head outputs). The stack's top symbols and addresses are read by heads keyed on `depth`;
the next input word is the position flagged `next`.

Parsing, two layers per parser action: DECIDE sets `op` from the top two stack symbols
and the lookahead (the grammar fixes the third wherever a reduction needs it: X below
OPP/AROUND, S below JOIN); the next layer applies it at every position, and sets `op`
back to DECIDE:
  SHIFT     the `next` position goes on the stack, `next` moves right, depths grow by 1;
  RED_XR    X R -> V: the node is stored at X (kind XR, dir of R), R leaves the stack;
  RED_MOD   X opposite/around R -> V: the same, with kind OPP/AROUND;
  RED_UV    U -> V (unless a direction or modifier follows); RED_VS  V -> S (unless
            twice/thrice follows);
  RED_REP   V twice/thrice -> S: the node at the twice/thrice word, child V;
  RED_JOIN  S and/after S -> C: the node at the and/after word, children both S;
  accept    S or C on BOS with EOS ahead: the root becomes the walk's current node.
Walking, one layer per step: heads read the current node (`is_cur`). A V node emits
one action per step (`count` indexes its action list) into the first unfilled output
slot (the blank whose left neighbour is `filled`: no output pointer) and returns to its parent with the last one; TWICE/THRICE visit their child 2/3
times, AND visits left then right, AFTER right then left; leaving the root halts
(`op == DONE` everywhere).

Layers: "walk" takes 8, "jump twice after walk" 28, the longest output (48 actions) 88;
over all 20,910 commands 47.4 on average. Compiled with the default pipeline: 283 rules,
MLP widths [24, 393] and d_model 122 (the paper's SCAN program: 70,792 rules, d_model 2,014).
"""

from __future__ import annotations

from alta import lang as pb
from alta.ir import symbolic
from alta.programs import case
from alta.programs import scan_task as task

# Grammar symbols (sym); END marks EOS and the output slots.
BOT, U, T, R, OPP, AROUND, REP, JOIN, V, S, C, END = range(12)
# Stack depths: 0 is the top; MAX_DEPTH entries at most (BOS S and X opposite R).
MAX_DEPTH = 6
OFF = MAX_DEPTH
# Node kinds.
K_NONE, K_PRIM, K_XR, K_OPP, K_AROUND, K_TWICE, K_THRICE, K_AND, K_AFTER = range(9)
V_KINDS = (K_PRIM, K_XR, K_OPP, K_AROUND)
# Visits of its child (TWICE, THRICE) or children (AND, AFTER) before a node returns.
CHILD_VISITS = {K_TWICE: 2, K_THRICE: 3, K_AND: 2, K_AFTER: 2}
# Addresses: word positions 1..9 are 0..8.
NONE_ADDR = task.MAX_WORDS
ADDRS = range(task.MAX_WORDS)
# Control state.
DECIDE, SHIFT, RED_XR, RED_MOD, RED_UV, RED_VS, RED_REP, RED_JOIN, WALK, DONE = range(10)
# Actions written to `out` (0 = none): 1-4 the action words, 5 LTURN, 6 RTURN.
ACTS = 5  # act: 0 (turn) or 1-4
MAX_COUNT = 8  # x around R with an action word: 8 emissions

_WORD_SYM = {
    "walk": U, "run": U, "jump": U, "look": U, "turn": T, "left": R, "right": R,
    "opposite": OPP, "around": AROUND, "twice": REP, "thrice": REP, "and": JOIN, "after": JOIN,
}  # fmt: skip
_WORD_KIND = {
    "walk": K_PRIM, "run": K_PRIM, "jump": K_PRIM, "look": K_PRIM, "turn": K_PRIM,
    "twice": K_TWICE, "thrice": K_THRICE, "and": K_AND, "after": K_AFTER,
}  # fmt: skip
_WORDS = task.data.WORDS


def _word(token: int) -> str | None:
    return _WORDS[token] if token < len(_WORDS) else None


def _sym(token: int) -> int:
    word = _word(token)
    return BOT if token == task.BOS else _WORD_SYM[word] if word else END


def _parts() -> tuple[dict[str, symbolic.Var], dict[str, pb.AttentionHead]]:
    last_word = task.MAX_WORDS
    addr = pb.var(NONE_ADDR + 1, default=NONE_ADDR)
    variables: dict[str, symbolic.Var] = {
        "sym": pb.input_var(END + 1, init_fn=_sym),
        "depth": pb.input_var(OFF + 1, init_fn=lambda t: 0 if t == task.BOS else OFF),
        "next": pb.position_var(2, init_fn=lambda p: p == 1),
        "addr": pb.position_var(
            NONE_ADDR + 1, init_fn=lambda p: p - 1 if 1 <= p <= last_word else NONE_ADDR
        ),
        "kind": pb.input_var(9, init_fn=lambda t: _WORD_KIND.get(_word(t) or "", K_NONE)),
        "act": pb.input_var(ACTS, init_fn=lambda t: t + 1 if t < 4 else 0),
        "dir": pb.input_var(2, init_fn=lambda t: _word(t) == "right"),
        "left": addr,
        "right": addr,
        "parent": addr,
        "count": pb.var(MAX_COUNT, default=0),
        "is_cur": pb.var(2, default=0),
        "filled": pb.input_var(2, init_fn=lambda t: t != task.BLANK),
        "out": pb.var(7, default=0),
        "op": pb.var(DONE + 1, default=DECIDE),
        "one": pb.var(2, default=1),
        **{f"k{d}": pb.var(OFF + 1, default=d) for d in range(3)},
    }
    heads = {
        "top0": pb.qkv("k0", "depth", "sym"),
        "top1": pb.qkv("k1", "depth", "sym"),
        "top0_dir": pb.qkv("k0", "depth", "dir"),
        **{f"n{d}": pb.qkv(f"k{d}", "depth", "addr") for d in range(3)},
        "look": pb.qkv("one", "next", "sym"),
        "next_left": pb.v_relative("next", -1),
        "filled_left": pb.v_relative("filled", -1),
        **{
            f"cur_{name}": pb.qkv("one", "is_cur", name)
            for name in ("kind", "count", "act", "dir", "left", "right", "parent")
        },
    }
    return variables, heads


class _Rules:
    """Collects rules; every rule pins the old value of the variable it writes."""

    def __init__(self) -> None:
        self.rules: list[symbolic.Rule] = []

    def add(self, var: str, old: int, new: int, **atoms: int) -> None:
        if old == new:
            return
        lhs = {**atoms, var: old}
        self.rules.append(symbolic.Rule(tuple(sorted(lhs.items())), var, old, new))


# --------------------------------------------------------------------------- parsing


def _decisions() -> list[tuple[int, dict[str, int]]]:
    """(op, atoms over top0/top1/look) for every parser state a SCAN command reaches."""
    out: list[tuple[int, dict[str, int]]] = []
    for top in (BOT, T, OPP, AROUND, JOIN):
        out.append((SHIFT, {"top0": top}))
    for look in (R, OPP, AROUND):
        out.append((SHIFT, {"top0": U, "look": look}))
    for look in (REP, JOIN, END):
        out.append((RED_UV, {"top0": U, "look": look}))
    for x in (U, T):
        out.append((RED_XR, {"top0": R, "top1": x}))
    for mod in (OPP, AROUND):
        out.append((RED_MOD, {"top0": R, "top1": mod}))
    out.append((SHIFT, {"top0": V, "look": REP}))
    for look in (JOIN, END):
        out.append((RED_VS, {"top0": V, "look": look}))
    out.append((RED_REP, {"top0": REP}))
    out.append((RED_JOIN, {"top0": S, "top1": JOIN}))
    out.append((SHIFT, {"top0": S, "top1": BOT, "look": JOIN}))
    return out


def _parse_rules(rules: _Rules) -> None:
    for op, atoms in _decisions():
        rules.add("op", DECIDE, op, **atoms)
    # Accept: the root (on BOS, EOS ahead) becomes the current node and the walk starts.
    for top in (S, C):
        accept = {"top0": top, "top1": BOT, "look": END}
        rules.add("op", DECIDE, WALK, **accept)
        rules.add("is_cur", 0, 1, op=DECIDE, depth=0, **accept)
    for op in range(SHIFT, WALK):
        rules.add("op", op, DECIDE)
    _shift(rules)
    _reduce_x(rules, RED_XR, 1)
    _reduce_x(rules, RED_MOD, 2)
    rules.add("sym", U, V, op=RED_UV, depth=0)
    rules.add("sym", V, S, op=RED_VS, depth=0)
    _reduce_rep(rules)
    _reduce_join(rules)


def _pop(rules: _Rules, op: int, popped: int, gone: tuple[int, ...]) -> None:
    """The positions at `gone` depths leave the stack; those below move up by `popped`."""
    for d in gone:
        rules.add("depth", d, OFF, op=op)
    for d in range(popped + 1, OFF):
        rules.add("depth", d, d - popped, op=op)


def _shift(rules: _Rules) -> None:
    for d in range(OFF - 1):
        rules.add("depth", d, d + 1, op=SHIFT)
    rules.add("depth", OFF, 0, op=SHIFT, next=1)
    rules.add("next", 1, 0, op=SHIFT)
    rules.add("next", 0, 1, op=SHIFT, next_left=1)


def _reduce_x(rules: _Rules, op: int, at: int) -> None:
    """X R -> V (at = 1) or X OPP/AROUND R -> V (at = 2): the node is stored at X."""
    _pop(rules, op, at, tuple(range(at)))
    rules.add("depth", at, 0, op=op)
    for x in (U, T):
        rules.add("sym", x, V, op=op, depth=at)
    rules.add("dir", 0, 1, op=op, depth=at, top0_dir=1)
    if op == RED_XR:
        rules.add("kind", K_PRIM, K_XR, op=op, depth=at)
    else:
        for mod, kind in ((OPP, K_OPP), (AROUND, K_AROUND)):
            rules.add("kind", K_PRIM, kind, op=op, depth=at, top1=mod)


def _reduce_rep(rules: _Rules) -> None:
    """V twice/thrice -> S: the node at the twice/thrice word, its child the V node."""
    _pop(rules, RED_REP, 1, (1,))
    rules.add("sym", REP, S, op=RED_REP, depth=0)
    for a in ADDRS:
        rules.add("left", NONE_ADDR, a, op=RED_REP, depth=0, n1=a)
        rules.add("parent", NONE_ADDR, a, op=RED_REP, depth=1, n0=a)


def _reduce_join(rules: _Rules) -> None:
    """S and/after S -> C: the node at the and/after word, children the two S nodes."""
    _pop(rules, RED_JOIN, 2, (0, 2))
    rules.add("depth", 1, 0, op=RED_JOIN)
    rules.add("sym", JOIN, C, op=RED_JOIN, depth=1)
    for a in ADDRS:
        rules.add("left", NONE_ADDR, a, op=RED_JOIN, depth=1, n2=a)
        rules.add("right", NONE_ADDR, a, op=RED_JOIN, depth=1, n0=a)
        for d in (0, 2):
            rules.add("parent", NONE_ADDR, a, op=RED_JOIN, depth=d, n1=a)


# --------------------------------------------------------------------------- walking


def emissions(kind: int, direction: int, act: int) -> list[int]:
    """The actions (`out` values) a V node emits, in order."""
    turn, action = [5 + direction], [act] if act else []
    if kind == K_PRIM:
        return action
    if kind == K_XR:
        return turn + action
    if kind == K_OPP:
        return turn + turn + action
    return (turn + action) * 4


def _steps() -> list[tuple[str, dict[str, int]]]:
    """(move, atoms over the current node's kind/count/act) for every walk step.

    move: "stay" (emit, count + 1), "return" (to the parent, emitting if a V node),
    "left" or "right" (to that child, count + 1).
    """
    out: list[tuple[str, dict[str, int]]] = []
    for kind in V_KINDS:
        for act in range(1 if kind == K_PRIM else 0, ACTS):
            n = len(emissions(kind, 0, act))
            for c in range(n):
                atoms = {"kind": kind, "count": c, "act": act}
                out.append(("return" if c == n - 1 else "stay", atoms))
    for kind, visits in CHILD_VISITS.items():
        for c in range(visits):
            second = c == 1
            move = {K_AND: "right" if second else "left", K_AFTER: "left" if second else "right"}
            out.append((move.get(kind, "left"), {"kind": kind, "count": c}))
        out.append(("return", {"kind": kind, "count": visits}))
    return out


def _walk_rules(rules: _Rules) -> None:
    for move, node in _steps():
        cur = {f"cur_{k}": v for k, v in node.items()}
        count = node["count"]
        # At the current node: count the visit, or reset the count on leaving.
        here = {"op": WALK, "is_cur": 1, **node}
        rules.add("count", count, 0 if move == "return" else count + 1, **here)
        if move != "stay":
            rules.add("is_cur", 1, 0, **here)
        # Elsewhere: the target of the move becomes current; leaving the root halts.
        if move != "stay":
            pointer = {"left": "cur_left", "right": "cur_right", "return": "cur_parent"}[move]
            for a in ADDRS:
                rules.add("is_cur", 0, 1, op=WALK, addr=a, **{pointer: a}, **cur)
        if move == "return":
            rules.add("op", WALK, DONE, cur_parent=NONE_ADDR, **cur)
        # A V node writes its action into the first unfilled output slot.
        if node["kind"] in V_KINDS:
            _emit(rules, node, cur)


def _emit(rules: _Rules, node: dict[str, int], cur: dict[str, int]) -> None:
    slot = {"op": WALK, "filled": 0, "filled_left": 1}
    rules.add("filled", 0, 1, **{**slot, **cur})
    for direction in range(2):
        action = emissions(node["kind"], direction, node["act"])[node["count"]]
        rules.add("out", 0, action, cur_dir=direction, **{**slot, **cur})


def _rules(
    variables: dict[str, symbolic.Var], heads: dict[str, pb.AttentionHead]
) -> list[symbolic.Rule]:
    del variables, heads
    rules = _Rules()
    _parse_rules(rules)
    _walk_rules(rules)
    return rules.rules


def build() -> symbolic.Program:
    """The SCAN program; halts on `op == DONE`. Output: `out` (see `scan_task`)."""
    variables, heads = _parts()
    return pb.program_spec_from_rules(
        variables,
        heads,
        _rules(variables, heads),
        output_name="out",
        input_range=task.VOCAB,
        position_range=task.POSITIONS,
        halt=pb.halt_spec("op", DONE),
        name="scan",
    )


#: The task (see `alta.programs.case.Task`).
TASK = case.Task(
    generate=task.generate,
    reference=task.reference,
    decode=task.decode,
    edge_inputs=task.edge_inputs(),
)

#: The library cases this module registers (collected by `alta.programs`).
CASES = [
    TASK.case(
        "scan",
        build,
        description="SCAN: shift-reduce parse into a tree, then a depth-first walk; halts",
    )
]
