"""Every ```python block of README.md, CONTRIBUTING.md and docs/*.md runs as written.

The blocks of one page run in order in one fresh interpreter (a reader's session: a
later block may use what an earlier one defined), from a scratch directory, with the
repository root importable (`docs.examples...`). Skipped, each for a stated reason:

- a block on the line after `<!-- not-run -->` (deliberately not runnable);
- a block included from a file (`<!-- example: PATH -->`): tests/passes/test_pass_manager.py
  checks it equals PATH and runs it, and a later block imports PATH;
- a block that needs the paper's checkout (`from examples import ...`).

A page that continues another page's example gets that context from `CONTEXT` below.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NOT_RUN = "<!-- not-run -->"
PAPER = ("from examples import", "import examples")

#: What a page assumes from the README's example (it says "the program" and "a batch").
CONTEXT = {
    "docs/saved-models.md": (
        "import alta\n"
        "from alta import programs\n"
        "program = programs.get('parity_sequential_relative').build()\n"
        "batch = [[2, 1, 0, 1], [2, 1, 1]]\n"
    ),
}


def _blocks(page: Path) -> list[tuple[str, str | None]]:
    """(code, why it is skipped or None) for each python block of `page`."""
    text = page.read_text()
    out = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        code = match.group(1)
        why = None
        if before == NOT_RUN:
            why = "marked not-run"
        elif before.startswith("<!-- example:"):
            why = "included file, run by tests/passes/test_pass_manager.py"
        elif any(p in code for p in PAPER):
            why = "needs the paper's checkout"
        out.append((code, why))
    return out


def _pages() -> list[Path]:
    return [p for p in PAGES if any(why is None for _, why in _blocks(p))]


def test_some_pages_have_snippets() -> None:
    assert {p.name for p in _pages()} >= {"README.md", "CONTRIBUTING.md", "onnx.md"}


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    name = str(page.relative_to(ROOT))
    code = CONTEXT.get(name, "") + "\n".join(c for c, why in _blocks(page) if why is None)
    needs = {"torch": 'backend="torch"', "jax": 'backend="jax"', "onnxruntime": "onnx"}
    for module, marker in needs.items():
        if marker in code:
            pytest.importorskip(module)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.setdefault("OMP_NUM_THREADS", "1")
    result = subprocess.run(
        [sys.executable, "-"],
        input=code,
        text=True,
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, f"{name}: its python blocks fail:\n{result.stderr[-3000:]}"
