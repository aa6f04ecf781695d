"""SCAN (Lake and Baroni, 2018), generated from its phrase-structure grammar, so the data
set needs no download and its sizes can be checked against the published ones.

The grammar, in the reading that gives the published sizes (34 V, 102 S, 20,910 commands):

    C -> S and S | S after S | S
    S -> V twice | V thrice | V
    V -> X opposite R | X around R | X R | U
    X -> U | turn
    R -> left | right
    U -> walk | run | jump | look

The paper writes `V -> D[1] opposite D[2] | D[1] around D[2] | D | U` with
`D -> U left | U right | turn left | turn right`. Read literally, that gives
100 + 100 + 10 + 4 = 214 V ("walk left opposite turn right"), which the released data does
not hold; what it means is the reading above, where a direction follows 'opposite' and
'around' once. Semantics (right is symmetric, with RTURN): `walk -> WALK`,
`turn left -> LTURN`, `walk left -> LTURN WALK`, `x opposite left -> LTURN LTURN x`,
`x around left -> (LTURN x) x4`, `s twice -> s s`, `s1 and s2 -> s1 s2`,
`s1 after s2 -> s2 s1`.

`commands()` lists every command sorted by its text, so the order does not depend on how
the grammar is enumerated. `interpret` parses a command independently of that generator;
the tests check the two agree on all 20,910.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import attrs

from alta.errors import InputError, UsageError

PRIMITIVES = ("walk", "run", "jump", "look")
DIRECTIONS = ("left", "right")
MODIFIERS = ("opposite", "around")
REPEATS = {"twice": 2, "thrice": 3}
CONJUNCTIONS = ("and", "after")
#: The 13 source words.
WORDS = (*PRIMITIVES, "turn", *DIRECTIONS, *MODIFIERS, *REPEATS, *CONJUNCTIONS)
#: The 6 target actions.
ACTIONS = ("WALK", "RUN", "JUMP", "LOOK", "LTURN", "RTURN")
_ACTION = {"walk": "WALK", "run": "RUN", "jump": "JUMP", "look": "LOOK"}
_TURN = {"left": "LTURN", "right": "RTURN"}

SplitName = Literal["length", "addprim_jump", "addprim_turn_left", "simple"]
SPLITS: tuple[SplitName, ...] = ("length", "addprim_jump", "addprim_turn_left", "simple")
#: The length split trains on outputs of at most this many actions (no output has 23).
LENGTH_CUTOFF = 22


class Command(NamedTuple):
    """One SCAN pair: the command's words joined by spaces, and its actions."""

    text: str
    actions: tuple[str, ...]


@attrs.frozen
class Split:
    """A named train/test split; `seed` only shapes the "simple" split."""

    name: str
    train: tuple[Command, ...]
    test: tuple[Command, ...]
    seed: int = 0


# --- generation -------------------------------------------------------------------------


def _v_actions(x: str, modifier: str | None, direction: str | None) -> tuple[str, ...]:
    act = () if x == "turn" else (_ACTION[x],)
    if direction is None:
        return act
    turn = (_TURN[direction],)
    if modifier is None:
        return turn + act
    if modifier == "opposite":
        return turn + turn + act
    return (turn + act) * 4


@functools.cache
def v_phrases() -> tuple[Command, ...]:
    """The 34 V phrases, in grammar order."""
    out = [Command(u, _v_actions(u, None, None)) for u in PRIMITIVES]
    for x in (*PRIMITIVES, "turn"):
        for r in DIRECTIONS:
            out.append(Command(f"{x} {r}", _v_actions(x, None, r)))
            out += [Command(f"{x} {m} {r}", _v_actions(x, m, r)) for m in MODIFIERS]
    return tuple(out)


@functools.cache
def s_phrases() -> tuple[Command, ...]:
    """The 102 S phrases (V, V twice, V thrice), in grammar order."""
    out = []
    for v in v_phrases():
        out.append(v)
        out += [Command(f"{v.text} {w}", v.actions * n) for w, n in REPEATS.items()]
    return tuple(out)


@functools.cache
def _all() -> tuple[Command, ...]:
    s = s_phrases()
    out = list(s)
    for a in s:
        for b in s:
            out.append(Command(f"{a.text} and {b.text}", a.actions + b.actions))
            out.append(Command(f"{a.text} after {b.text}", b.actions + a.actions))
    return tuple(sorted(out))


def commands() -> list[Command]:
    """All 20,910 SCAN commands with their actions, sorted by the command's text."""
    return list(_all())


# --- interpretation ---------------------------------------------------------------------


def interpret(command: str) -> tuple[str, ...]:
    """The actions of `command` (words split on whitespace); an `InputError` naming the
    first word the grammar does not allow there, and what it allows, for anything else."""
    words = command.split()
    actions, i, more = _s(command, words, 0)
    if i < len(words) and words[i] in CONJUNCTIONS:
        second, j, more = _s(command, words, i + 1)
        actions = actions + second if words[i] == "and" else second + actions
        i, more = j, [*more, "the end"]
    else:
        more = [*more, *CONJUNCTIONS, "the end"]
    if i < len(words):
        raise _error(command, words, i, more)
    return actions


def _s(command: str, words: list[str], i: int) -> tuple[tuple[str, ...], int, list[str]]:
    """Parse S at word `i`: its actions, the next index, and the words that could extend it."""
    actions, i, more = _v(command, words, i)
    if i < len(words) and words[i] in REPEATS:
        return actions * REPEATS[words[i]], i + 1, []
    return actions, i, [*more, *REPEATS]


def _v(command: str, words: list[str], i: int) -> tuple[tuple[str, ...], int, list[str]]:
    x = _word(command, words, i, (*PRIMITIVES, "turn"))
    modifier = None
    if x != "turn" and (i + 1 == len(words) or words[i + 1] not in (*MODIFIERS, *DIRECTIONS)):
        return _v_actions(x, None, None), i + 1, [*MODIFIERS, *DIRECTIONS]
    i += 1
    if i < len(words) and words[i] in MODIFIERS:
        modifier = words[i]
        i += 1
    expected = DIRECTIONS if modifier else (*MODIFIERS, *DIRECTIONS)
    direction = _word(command, words, i, expected)
    return _v_actions(x, modifier, direction), i + 1, []


def _word(command: str, words: list[str], i: int, expected: Sequence[str]) -> str:
    if i < len(words) and words[i] in expected:
        return words[i]
    raise _error(command, words, i, expected)


def _error(command: str, words: list[str], i: int, expected: Sequence[str]) -> InputError:
    if not words:
        where = "it is empty"
    elif i < len(words):
        where = f"word {i + 1} is '{words[i]}'"
    else:
        where = f"it ends after word {i} '{words[i - 1]}'"
    options = [w if w == "the end" else f"'{w}'" for w in expected]
    allowed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
    return InputError(
        f"{command!r} is not a SCAN command: {where}, but only {allowed} may come there"
    )


# --- splits -----------------------------------------------------------------------------


def _has(phrase: str) -> Callable[[Command], bool]:
    want = phrase.split()

    def test(c: Command) -> bool:
        words = c.text.split()
        found = any(words[k : k + len(want)] == want for k in range(len(words)))
        return found and c.text != phrase

    return test


_IN_TEST: dict[str, Callable[[Command], bool]] = {
    "length": lambda c: len(c.actions) > LENGTH_CUTOFF,
    "addprim_jump": _has("jump"),
    "addprim_turn_left": _has("turn left"),
}


def split(name: SplitName, seed: int = 0) -> Split:
    """A standard split of `commands()`, each side in command order.

    - length: train on outputs of at most 22 actions (16,990), test on 24 to 48 (3,920);
    - addprim_jump: train on "jump" alone and every command without it; test on the rest;
    - addprim_turn_left: the same for "turn left";
    - simple: a random 80/20 split drawn with `random.Random(seed)`.

    Unlike the released files, train holds each command once (no repeats of the primitive).
    """
    if name not in SPLITS:
        raise UsageError(f"unknown SCAN split {name!r}; the splits are {', '.join(SPLITS)}")
    pairs = _all()
    if name == "simple":
        chosen = set(random.Random(seed).sample(range(len(pairs)), k=len(pairs) // 5))
        in_test = [k in chosen for k in range(len(pairs))]
    else:
        in_test = [_IN_TEST[name](c) for c in pairs]
    train = tuple(c for c, t in zip(pairs, in_test, strict=True) if not t)
    test = tuple(c for c, t in zip(pairs, in_test, strict=True) if t)
    return Split(name=name, train=train, test=test, seed=seed)


# --- files ------------------------------------------------------------------------------


def write_jsonl(split: Split, out_dir: str | Path) -> dict[str, Any]:
    """Write `train.jsonl`, `test.jsonl` (one {"command", "actions"} object a line, both
    space-separated strings, as in the original files) and `manifest.json`; returns the
    manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for side, pairs in (("train", split.train), ("test", split.test)):
        with (out / f"{side}.jsonl").open("w", encoding="utf-8") as f:
            for c in pairs:
                f.write(json.dumps({"command": c.text, "actions": " ".join(c.actions)}) + "\n")
    manifest = {
        "dataset": "scan",
        "split": split.name,
        "seed": split.seed,
        "counts": {"train": len(split.train), "test": len(split.test)},
        "files": {"train": "train.jsonl", "test": "test.jsonl"},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_jsonl(path: str | Path) -> tuple[Command, ...]:
    """The pairs of a file `write_jsonl` wrote; an `InputError` names a bad line."""
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                out.append(Command(row["command"], tuple(row["actions"].split())))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(f"{path}:{lineno}: not a SCAN pair ({exc!r})") from None
    return tuple(out)
