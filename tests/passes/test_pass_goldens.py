"""One text golden per pass, FileCheck style: tests/passes/goldens/PASS.alta for each pass.

A golden file holds, in order:

    // RUN: alta opt %s --pass-pipeline=PASS     (the command; %s is the file itself)
    // ...comments saying what the golden shows...
    alta.sparse @name { ... }                    (the input IR, printed IR2)
    // CHECK: alta.sparse @name {                (the expected output, every line of it:
    // CHECK-NEXT:   input_range = ...             CHECK for the first, CHECK-NEXT after)

The RUN line is run through `alta.cli.main` (the parser skips `//` comments, so the file is
its own input). A pass whose input is IR1 (`lower-symbolic-to-sparse`) names a library
program instead of `%s`, since IR1 has no text to parse. The output must equal the CHECK
lines exactly (unlike FileCheck, which matches substrings); a mismatch shows a unified diff.

After a deliberate change to a pass or to the printer, regenerate the CHECK lines:

    ALTA_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/passes/test_pass_goldens.py

which rewrites each file's CHECK lines (the RUN line, comments and input stay as written)
and prints a unified diff of every file it changed. To add a golden for a new pass, write
the RUN line and the input, then regenerate. Review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
import shlex
from pathlib import Path

import pytest

from alta import cli, passes

GOLDENS = Path(__file__).resolve().parent / "goldens"
ROOT = GOLDENS.parents[2]
UPDATE = os.environ.get("ALTA_UPDATE_GOLDENS") == "1"
RUN, CHECK, NEXT, EMPTY = "// RUN:", "// CHECK:", "// CHECK-NEXT:", "// CHECK-EMPTY:"


def _alta_passes() -> list[str]:
    """The passes alta itself defines (tests and plugins may register others)."""
    names = []
    for name in passes.available():
        cls = passes.lookup(name)
        if cls is not None and cls.__module__.split(".")[0] == "alta":
            names.append(name)
    return names


def _files() -> list[Path]:
    return sorted(GOLDENS.glob("*.alta"))


def _run_line(text: str, path: Path) -> list[str]:
    runs = [line[len(RUN) :] for line in text.splitlines() if line.startswith(RUN)]
    assert len(runs) == 1, f"{path.name}: needs exactly one '{RUN}' line"
    argv = [str(path) if arg == "%s" else arg for arg in shlex.split(runs[0])]
    assert argv[:2] == ["alta", "opt"], f"{path.name}: the RUN line must run 'alta opt'"
    return argv[1:]


def _expected(text: str) -> list[str] | None:
    """The output the CHECK lines spell out, or None when the file has none yet."""
    lines = []
    for line in text.splitlines():
        for prefix in (CHECK, NEXT, EMPTY):
            if line.startswith(prefix):
                payload = line[len(prefix) :]
                lines.append(payload[1:] if payload.startswith(" ") else payload)
                break
    return lines or None


def _with_checks(text: str, output: list[str]) -> str:
    """`text` with its CHECK lines (always the file's tail) replaced by `output`'s."""
    lines = text.splitlines()
    first = next(
        (i for i, line in enumerate(lines) if line.startswith((CHECK, NEXT, EMPTY))),
        len(lines),
    )
    head = lines[:first]
    while head and not head[-1].strip():
        head.pop()
    checks = [
        EMPTY if not line else f"{CHECK if i == 0 else NEXT} {line}"
        for i, line in enumerate(output)
    ]
    return "\n".join([*head, "", *checks]) + "\n"


def _output(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    monkeypatch.chdir(ROOT)
    argv = _run_line(path.read_text(), path)
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, f"{path.name}: {shlex.join(['alta', *argv])} exited {code}:\n{err}"
    return out.splitlines()


def test_every_pass_has_a_golden() -> None:
    have = {p.stem for p in _files()}
    missing = [name for name in _alta_passes() if name not in have]
    assert not missing, f"no golden in tests/passes/goldens/ for: {', '.join(missing)}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_golden(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text()
    argv = _run_line(text, path)
    pipeline = next((a.split("=", 1)[1] for a in argv if a.startswith("--pass-pipeline=")), "")
    assert path.stem in [p.name for p in passes.parse(pipeline)], (
        f"{path.name}: its RUN line's --pass-pipeline=... must run the pass '{path.stem}'"
    )
    output = _output(path, capsys, monkeypatch)
    expected = _expected(text)
    if UPDATE:
        new = _with_checks(text, output)
        if new != text:
            path.write_text(new)
            diff = difflib.unified_diff(
                text.splitlines(), new.splitlines(), f"a/{path.name}", f"b/{path.name}", lineterm=""
            )
            with capsys.disabled():
                print(f"\nALTA_UPDATE_GOLDENS: rewrote tests/passes/goldens/{path.name}")
                print("\n".join(diff))
        return
    assert expected is not None, (
        f"{path.name} has no CHECK lines; write them with ALTA_UPDATE_GOLDENS=1 (see the "
        "docstring of tests/passes/test_pass_goldens.py)"
    )
    if output != expected:
        diff = "\n".join(difflib.unified_diff(expected, output, "expected", "got", lineterm=""))
        pytest.fail(
            f"{path.name}: the output differs from the CHECK lines. If the change is meant, "
            f"regenerate with ALTA_UPDATE_GOLDENS=1 (see tests/passes/test_pass_goldens.py).\n{diff}"
        )


def test_check_lines_round_trip() -> None:
    text = "// RUN: alta opt %s\nalta.sparse @x {\n}\n"
    output = ["alta.sparse @y {", "  a", "", "}"]
    written = _with_checks(text, output)
    assert written.endswith(
        "\n// CHECK: alta.sparse @y {\n// CHECK-NEXT:   a\n// CHECK-EMPTY:\n// CHECK-NEXT: }\n"
    )
    assert _expected(written) == output
    assert _with_checks(written, ["z"]) == text + "\n// CHECK: z\n"
