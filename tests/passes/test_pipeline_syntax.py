"""Pipeline text: every malformed pipeline is a PipelineError with a caret at the fault,
options whose type text cannot write are refused at parse time, and printing then parsing
gives the same passes back, whatever characters the values hold."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs
import cli_program
import pytest
from hypothesis import given
from hypothesis import strategies as st

import alta
from alta import passes
from alta.errors import PipelineError
from alta.passes import base, option_types
from alta.passes.minimize_rules import MinimizeRulesPass


def _ints(x: Any) -> tuple[int, ...]:
    return tuple(x)


def _groups(x: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(g) for g in x)


@attrs.frozen
class ValuesPass(passes.Pass):
    """One option of every kind that pipeline text can write."""

    name: ClassVar[str] = "test-syntax-values"
    level: ClassVar[str] = "sparse"
    text: str = "x"
    maybe: str | None = None
    count: int = 0
    ratio: float = 0.5
    flag: bool = False
    mode: Literal["fast", "slow tier"] = "fast"
    path: Path | None = None
    ints: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    groups: tuple[tuple[int, ...], ...] = attrs.field(default=(), converter=_groups)
    members: frozenset[int] = frozenset()
    pair: tuple[int, float] = (0, 0.0)
    number_or_text: int | str = 0

    def run(self, module: Any) -> Any:
        return module


@attrs.frozen
class PythonOnlyPass(passes.Pass):
    """Options that only Python can set."""

    name: ClassVar[str] = "test-syntax-python-only"
    level: ClassVar[str] = "sparse"
    fn: Callable[[int], int] | None = None
    table: dict[str, int] = attrs.field(factory=dict)
    anything: Any = None
    deep: tuple[tuple[tuple[int, ...], ...], ...] = ()
    either: int | Callable[[int], int] = 0

    def run(self, module: Any) -> Any:
        return module


@pytest.fixture(autouse=True)
def _test_passes() -> Iterator[None]:
    """The test passes exist for one test at a time; the registry is left as it was."""
    with passes.registered(ValuesPass, PythonOnlyPass):
        yield


def _fault(text: str) -> tuple[str, int]:
    """The message of the PipelineError `text` raises, and the column of its caret."""
    with pytest.raises(PipelineError) as info:
        passes.parse(text)
    message = str(info.value)
    *_, quoted, marks = message.split("\n")
    assert quoted == "  " + text, message
    assert marks.count("^") == 1, message
    return message, marks.index("^") - 2


# --------------------------------------------------------------------------- syntax

SYNTAX_ERRORS = [
    # (pipeline, column of the caret, part of the message)
    ("rename-var{old=r,new=remainder}", 16, "options are separated by spaces, not commas"),
    ("rename-var{old=r,new=remainder}", 16, "did you mean 'old=r new=remainder'?"),
    ("rename-var{old=r,new=remainder}", 16, 'must be quoted: old="r,new=remainder"'),
    ("dce,test-syntax-values{text=a=b}", 29, "contains '=': options are separated by spaces"),
    ("test-syntax-values{count=1,flag=true}", 26, "did you mean 'count=1 flag=true'?"),
    ("test-syntax-values{count=1 , flag=true}", 27, "separated by spaces, not ','"),
    ("test-syntax-values{count=1,dce", 26, "options of 'test-syntax-values' are never closed"),
    ("test-syntax-values{count=1", 26, "missing '}' to close the options"),
    ("test-syntax-values{text=a{b}", 25, "contains '{': quote the whole value"),
    ("test-syntax-values{text=a'b'}", 25, "contains a quote: quote the whole value"),
    ('test-syntax-values{text="a"count=1}', 27, "expected a space or '}' after the quoted"),
    ("test-syntax-values{text='open}", 24, "opens a ' quote that is never closed"),
    ('test-syntax-values{text="a\\"}', 24, 'opens a " quote that is never closed'),
    ("test-syntax-values{count=1}}", 27, "expected ',' between passes"),
    ("test-syntax-values{count}", 24, "expected '=' after option 'count'"),
    ("test-syntax-values{count=}", 25, "expected a value after 'count='"),
    ("test-syntax-values{count= 1}", 25, "expected a value after 'count='"),
    ("test-syntax-values{=1}", 19, "expected an option name or '}'"),
    ("dce,,canonicalize", 4, "expected a pass name before ','"),
    (",dce", 0, "expected a pass name before ','"),
    ("dce,", 4, "expected a pass name"),
    ("dce canonicalize", 4, "expected ',' between passes or '{'"),
    ("dce!", 3, "expected ',' between passes"),
]


@pytest.mark.parametrize(("text", "column", "message"), SYNTAX_ERRORS)
def test_syntax_errors_have_a_caret_at_the_fault(text: str, column: int, message: str) -> None:
    got, at = _fault(text)
    assert got.startswith("pipeline syntax error: ")
    assert message in got
    assert at == column


def test_the_comma_example_is_no_longer_one_value() -> None:
    """`{a=x,b=y}` used to read as a="x,b=y"; quoted, it still is one value."""
    with pytest.raises(PipelineError, match="must be quoted"):
        passes.parse("test-syntax-values{text=x,maybe=y}")
    (p,) = passes.parse('test-syntax-values{text="x,maybe=y"}')
    assert p == ValuesPass(text="x,maybe=y")
    (q,) = passes.parse("test-syntax-values{text=x maybe=y}")
    assert q == ValuesPass(text="x", maybe="y")


def test_newlines_and_tabs_are_whitespace_and_keep_the_caret_aligned() -> None:
    text = "dce,\n\ttest-syntax-values{count=1,flag=true}"
    with pytest.raises(PipelineError) as info:
        passes.parse(text)
    *_, quoted, marks = str(info.value).split("\n")
    assert quoted == "  dce,  test-syntax-values{count=1,flag=true}"
    assert marks.index("^") - 2 == text.index(",flag")
    assert passes.parse("dce,\n\tcanonicalize\n") == passes.parse("dce,canonicalize")


# --------------------------------------------------------------------------- resolution


RESOLUTION_ERRORS = [
    ("dce,test-syntax-values{count=three}", 29, "option 'count': expected int, got 'three'"),
    ("test-syntax-values{mode=medium}", 24, "expected one of fast|slow tier"),
    ("test-syntax-values{ints=1,2}", 25, "contains ','"),
    ("test-syntax-values{ints='1,2'}", 24, "expected int items separated by spaces"),
    ("test-syntax-values{pair='1 2 3'}", 24, "expected 2 items separated by spaces"),
    ("test-syntax-values{count=1 count=2}", 27, "option 'count' is given twice"),
    ("test-syntax-values{cont=1}", 19, "did you mean 'count'?"),
    ("dce{x=1}", 4, "pass 'dce' takes no options, got 'x'"),
    ("dce,minimise-rules", 4, "(did you mean 'minimize-rules'?)"),
    ("test-syntax-values,lower-symbolic-to-sparse", 19, "expects alta.symbolic but receives"),
]


@pytest.mark.parametrize(("text", "column", "message"), RESOLUTION_ERRORS)
def test_resolution_errors_have_a_caret_too(text: str, column: int, message: str) -> None:
    got, at = _fault(text)
    assert message in got
    assert at == column


def test_unknown_passes_get_a_caret_each() -> None:
    text = "dce,nope,canonicalize,zilch"
    with pytest.raises(PipelineError) as info:
        passes.parse(text)
    marks = str(info.value).split("\n")[-1]
    assert [i - 2 for i, c in enumerate(marks) if c == "^"] == [4, 22]


@pytest.mark.parametrize(
    ("option", "annotation"),
    [
        ("fn=abs", "Callable[[int], int] | None"),
        ("table=a", "dict[str, int]"),
        ("anything=1", "Any"),
        ("deep=1", "tuple[tuple[tuple[int, ...], ...], ...]"),
    ],
)
def test_options_text_cannot_write_are_refused_at_parse_time(option: str, annotation: str) -> None:
    text = f"test-syntax-python-only{{{option}}}"
    message, at = _fault(text)
    key = option.split("=")[0]
    assert f"option '{key}' has type {annotation}, which pipeline text cannot express" in message
    assert f"it can only be set from Python: PythonOnlyPass({key}=...)" in message
    assert at == text.index("=") + 1


def test_a_union_with_a_python_only_member_names_it() -> None:
    message, _ = _fault("test-syntax-python-only{either=abs}")
    assert "expected int (a Callable[[int], int] only from Python: PythonOnlyPass(" in message
    (p,) = passes.parse("test-syntax-python-only{either=3 fn=none}")
    assert p == PythonOnlyPass(either=3, fn=None)


def test_every_builtin_option_can_be_written_in_text() -> None:
    """No built-in pass has an option that only Python can set, and every default prints
    as text that reads back as itself."""
    for name in base.BUILTIN:
        cls = passes.lookup(name)
        assert cls is not None
        for opt in base.options(cls):
            assert option_types._writable(opt.type, 0) or all(
                option_types._writable(a, 0)
                for a in option_types._alternatives(opt.type)
                if a is not type(None)
            ), (name, opt)
            if opt.has_default:
                text = base.format_value(opt.default)
                quoted = text.startswith('"')
                raw = text[1:-1] if quoted else text
                assert option_types.convert(raw, opt.type, name, quoted) == opt.default


#: Where the docs write pipelines that are meant to parse (the error examples are not).
DOCUMENTED = [
    ("docs/pipelines.md", "", "## Errors"),
    ("CONTRIBUTING.md", "## Writing a pass", "What the pass manager does for you"),
]


def _documented_pipelines(names: set[str]) -> list[str]:
    """Code spans and code-block lines that start with one of `names` and set an option."""
    root = Path(__file__).resolve().parents[2]
    found = []
    for name, start, stop in DOCUMENTED:
        text = (root / name).read_text()
        text = text[text.index(start) : text.index(stop)]
        spans = re.findall(r"`([^`\n]+)`", text)
        spans += [
            line
            for block in re.findall(r"```\n(.*?)```", text, re.S)
            for line in block.splitlines()
        ]
        found += [s for s in spans if "=" in s and _first_name(s) in names]
    return found


def _first_name(text: str) -> str:
    match = re.match(r"([a-z][\w-]*)[{(,]", text)
    return match.group(1) if match else ""


def test_every_documented_option_is_written_in_pipeline_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pipeline with options in docs/pipelines.md and CONTRIBUTING.md's "Writing a
    pass" parses, and reads back as itself."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
    example = importlib.import_module("docs.examples.custom_pass").DropNoopRulesPass
    texts = _documented_pipelines({*passes.available(), example.name, "fixpoint"})
    assert "drop-noop-rules{var=done}" in texts and len(texts) >= 7, texts
    with passes.registered(example):
        for text in texts:
            parsed = passes.parse(text)
            assert passes.parse(passes.print_pipeline(parsed)) == parsed, text
    written = {
        (name, key)
        for text in texts
        for name, options in re.findall(r"([\w.-]+)\{([^}]*)\}", text)
        for key in re.findall(r"([\w-]+)=", options)
    }
    assert ("lower-sparse-to-dense", "max-layers") in written
    assert {("minimize-rules", o) for o in ("dataset", "inputs", "max-layers")} <= written


# --------------------------------------------------------------------------- minimize-rules


def test_minimize_rules_inputs_are_written_in_text(tmp_path: Path) -> None:
    inputs = [[2, 0, 0, 0], [2, 0]]
    (p,) = passes.parse('minimize-rules{inputs="2 0 0 0;2 0"}')
    assert p == MinimizeRulesPass(inputs=inputs)
    assert passes.parse("minimize-rules{inputs=2;2}") == [MinimizeRulesPass(inputs=[[2], [2]])]
    assert passes.parse("minimize-rules{inputs=none}") == [MinimizeRulesPass()]
    assert passes.print_pipeline([p]) == 'minimize-rules{inputs="2 0 0 0;2 0"}'
    lower = "lower-symbolic-to-sparse,canonicalize,minimize-rules,"
    from_text = passes.run_pipeline(cli_program.build(), lower + passes.print_pipeline([p]))
    from_python = passes.PassManager([*passes.parse(lower.rstrip(",")), p]).stages(
        cli_program.build()
    )
    assert from_text[-1] == from_python[-1]
    assert len(from_text[-1].rules) < len(from_text[-2].rules)
    data = tmp_path / "my data, v=1.json"  # a path that needs quotes
    data.write_text(json.dumps(inputs))
    (q,) = passes.parse(passes.print_pipeline([MinimizeRulesPass(dataset=str(data))]))
    assert q.dataset == str(data)
    model = alta.compile(cli_program.build(), pipeline=f"{lower}{p.spec()},lower-sparse-to-dense")
    assert model(inputs) == alta.interpret(cli_program.build(), inputs)


@pytest.mark.parametrize(
    "text",
    ["minimize-rules{inputs=a}", "minimize-rules{inputs='2,1'}", "minimize-rules{dataset}"],
)
def test_minimize_rules_bad_inputs_fail_before_anything_runs(text: str) -> None:
    with pytest.raises(PipelineError):
        passes.PassManager.parse(text)


# --------------------------------------------------------------------------- round trip

_TEXT = st.text(
    st.one_of(
        st.sampled_from(list(" \t\n,={}'\"\\;:-_.xX0éø")),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=12,
)
_INTS = st.lists(st.integers(-(10**6), 10**6), max_size=5)


@given(
    text=_TEXT,
    maybe=st.none() | _TEXT,
    count=st.integers(),
    ratio=st.floats(allow_nan=False),
    flag=st.booleans(),
    mode=st.sampled_from(["fast", "slow tier"]),
    path=st.none() | st.sampled_from(["data.json", "my dir/a,b=c.json", "x{y}"]),
    ints=_INTS,
    groups=st.lists(_INTS, max_size=4),
    members=st.frozensets(st.integers(0, 99), max_size=5),
    pair=st.tuples(st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
    number_or_text=st.integers() | _TEXT,
)
def test_print_then_parse_round_trips(**values: Any) -> None:
    if values["path"] is not None:
        values["path"] = Path(values["path"])
    p = ValuesPass(**values)
    ps = [*passes.parse("dce"), p, *passes.parse("canonicalize")]
    text = passes.print_pipeline(ps)
    assert passes.parse(text) == ps, text
    assert passes.print_pipeline(passes.parse(text)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a b", '"a b"'),
        ("r,new=remainder", '"r,new=remainder"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("none", '"none"'),
        ("true", '"true"'),
        ("12", '"12"'),
        ("", '""'),
        ("plain", "plain"),
        (None, "none"),
        ((2, 1, 0), '"2 1 0"'),
        (((2, 1), (2,)), '"2 1;2"'),
        (((2, 1), ()), '"2 1;;"'),
        (((),), ";"),
        ((), '""'),
        (frozenset({3, 1}), '"1 3"'),
    ],
)
def test_format_value(value: Any, text: str) -> None:
    assert base.format_value(value) == text


def test_empty_groups_round_trip() -> None:
    for groups in [(), ((),), ((), ()), ((1,), ()), ((), (1,))]:
        p = ValuesPass(groups=groups)
        assert passes.parse(p.spec()) == [p], p.spec()


def test_quoted_values_are_strings_where_the_option_takes_one() -> None:
    (p,) = passes.parse('test-syntax-values{number_or_text=\'12\' maybe="none" count="3"}')
    assert p == ValuesPass(number_or_text="12", maybe="none", count=3)
    (q,) = passes.parse("test-syntax-values{number_or_text=12 maybe=none}")
    assert q == ValuesPass(number_or_text=12, maybe=None)
