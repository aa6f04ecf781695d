"""SCAN from its grammar: the published sizes, the splits, hand-checked pairs, and the parser
agreeing with the generator on every command."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from alta.data import scan
from alta.errors import AltaError, InputError, UsageError

L, R = "LTURN", "RTURN"

#: Worked out by hand from the semantics, not from the code.
HAND_CHECKED = {
    "walk": ["WALK"],
    "turn left": [L],
    "walk left": [L, "WALK"],
    "turn opposite right": [R, R],
    "jump opposite left": [L, L, "JUMP"],
    "run around right": [R, "RUN"] * 4,
    "turn around left": [L] * 4,
    "turn right thrice": [R] * 3,
    "jump twice after walk": ["WALK", "JUMP", "JUMP"],
    "jump around left twice after walk": ["WALK"] + [L, "JUMP"] * 8,
    "look thrice and turn around left": ["LOOK"] * 3 + [L] * 4,
    "look right and turn opposite right twice": [R, "LOOK", R, R, R, R],
    "walk opposite right thrice after run left twice": [L, "RUN", L, "RUN"] + [R, R, "WALK"] * 3,
    "turn around right twice and jump": [R] * 8 + ["JUMP"],
}


def test_published_sizes() -> None:
    assert len(scan.v_phrases()) == 34
    assert len(scan.s_phrases()) == 102
    pairs = scan.commands()
    assert len(pairs) == 20_910
    assert len({c.text for c in pairs}) == 20_910
    assert [c.text for c in pairs] == sorted(c.text for c in pairs)
    assert max(len(c.text.split()) for c in pairs) == 9


def test_vocabularies() -> None:
    assert len(scan.WORDS) == 13
    words = {w for c in scan.commands() for w in c.text.split()}
    actions = {a for c in scan.commands() for a in c.actions}
    assert words == set(scan.WORDS)
    assert actions == set(scan.ACTIONS) == {"WALK", "RUN", "JUMP", "LOOK", "LTURN", "RTURN"}


def test_longest_output_is_48_actions() -> None:
    lengths = Counter(len(c.actions) for c in scan.commands())
    assert max(lengths) == 48
    # U around R thrice, joined by and/after: 8 x 8 x 2.
    longest = {c.text for c in scan.commands() if len(c.actions) == 48}
    assert len(longest) == 128
    assert "run around right thrice after jump around left thrice" in longest
    assert all(c.split()[1] == "around" and c.split()[3] == "thrice" for c in longest)


@pytest.mark.parametrize("command", sorted(HAND_CHECKED))
def test_hand_checked_pairs(command: str) -> None:
    expected = tuple(HAND_CHECKED[command])
    assert scan.interpret(command) == expected
    assert scan.Command(command, expected) in scan.commands()


def test_parser_agrees_with_generator_everywhere() -> None:
    bad = [c.text for c in scan.commands() if scan.interpret(c.text) != c.actions]
    assert not bad, bad[:5]


@pytest.mark.parametrize(
    ("command", "where"),
    [
        ("", "it is empty"),
        ("turn", "it ends after word 1 'turn'"),
        ("fly", "word 1 is 'fly'"),
        ("walk twice twice", "word 3 is 'twice'"),
        ("walk and", "it ends after word 2 'and'"),
        ("jump around", "it ends after word 2 'around'"),
        ("walk left right", "word 3 is 'right'"),
        ("walk and run and look", "word 4 is 'and'"),
        ("walk left opposite right", "word 3 is 'opposite'"),
        ("turn twice", "word 2 is 'twice'"),
    ],
)
def test_interpret_rejects_what_the_grammar_does_not_make(command: str, where: str) -> None:
    with pytest.raises(InputError, match="is not a SCAN command") as info:
        scan.interpret(command)
    assert where in str(info.value)
    assert "may come there" in str(info.value)


def test_length_split() -> None:
    s = scan.split("length")
    assert (len(s.train), len(s.test)) == (16_990, 3_920)
    assert not any(len(c.actions) == 23 for c in scan.commands())
    assert max(len(c.actions) for c in s.train) == 22
    assert (min(len(c.actions) for c in s.test), max(len(c.actions) for c in s.test)) == (24, 48)


def _check_partition(s: scan.Split) -> None:
    assert not set(s.train) & set(s.test)
    assert sorted(s.train + s.test) == scan.commands()


@pytest.mark.parametrize(
    ("name", "phrase", "test_size"),
    [("addprim_jump", "jump", 7_706), ("addprim_turn_left", "turn left", 1_208)],
)
def test_add_primitive_splits(name: scan.SplitName, phrase: str, test_size: int) -> None:
    s = scan.split(name)
    assert len(s.test) == test_size
    assert len(s.train) == 20_910 - test_size
    _check_partition(s)
    holding = [c.text for c in s.train if f" {phrase} " in f" {c.text} "]
    assert holding == [phrase]
    assert all(f" {phrase} " in f" {c.text} " for c in s.test)


def test_simple_split_is_seeded() -> None:
    s = scan.split("simple", seed=3)
    assert (len(s.train), len(s.test)) == (16_728, 4_182)
    _check_partition(s)
    assert scan.split("simple", seed=3) == s
    assert scan.split("simple", seed=4).test != s.test


def test_unknown_split_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown SCAN split 'mcd1'.*length"):
        scan.split("mcd1")  # type: ignore[arg-type]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    s = scan.split("addprim_turn_left")
    manifest = scan.write_jsonl(s, tmp_path / "out")
    assert manifest["counts"] == {"train": 19_702, "test": 1_208}
    assert scan.read_jsonl(tmp_path / "out" / "train.jsonl") == s.train
    assert scan.read_jsonl(tmp_path / "out" / "test.jsonl") == s.test
    first = (tmp_path / "out" / "test.jsonl").read_text().splitlines()[0]
    assert first == '{"command": "jump after turn left", "actions": "LTURN JUMP"}'


def test_read_jsonl_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"command": "walk", "actions": "WALK"}\n{"command": "walk"}\n')
    with pytest.raises(AltaError, match=r"bad.jsonl:2: not a SCAN pair"):
        scan.read_jsonl(path)
