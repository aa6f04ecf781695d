"""Read printed IR2 and IR3 back: `parse(text, weights=None)` -> `sparse.Module` / `dense.Module`.

The header picks the level: `alta.sparse @name {` or `alta.dense @name {`. IR1
(`alta.symbolic`) holds Python functions and is printed only. IR3 weights are not text:
pass them as `weights` (name -> array); their shapes must match the text. Every parsed
module goes through its level's verifier. `str(parse(text)) == text` for printed text.

Lexical rules (both levels): `//` starts a comment to the end of the line; whitespace and
line breaks are free; `%name` is a variable (or head), `@name` a module or weight, either
bare (letters, digits, `_ . $`) or a JSON string (`%"my var"`); numbers are ints or
floats as Python's repr writes them (`1e-05`, `inf`, `nan`); `none` is no value; a set
is `{1, 3}` (`{}` is empty).

IR2 (`alta.sparse`)::

    alta.sparse @NAME {
      input_range = INT, position_range = INT|none
      var %V : cat<RANGE>|num|set<RANGE> {VALUE, ...} [nullable] = INIT
          INIT: head | VALUE (a constant) | token[VALUE, ...] | position[VALUE, ...]
      head %OUT = attend(query=%Q, key=%K, value=%V[, mask={INT, ...}])
      rule [#N] : TEST, ... | true -> %V := VALUE [none-dont-care]
          TEST: %V in {VALUE, ...} | %V == %W (two categorical variables hold one value)
      clear %OUT, ...            (optional; the head outputs, in order)
      halt %V == INT             (optional)
      output %V
      encode %V binary INT | value-only   (optional, any number; docs/encodings.md)
    }

IR3 (`alta.dense`), a fixed record (see `alta.ir.dense`)::

    alta.dense @NAME {
      d_model = INT, input_range = INT, position_range = INT|none
      slot %V : categorical|numerical|set [START:STOP] {VALUE-OR-WORD, ...}
      embed { tokens = WEIGHT [positions = WEIGHT] }
      loop {max_layers = INT|none, halt = dim INT|none} {
        stage 0 {
          head %H {offsets = all|[INT, ...], null_logit = FLOAT} {
            wq = WEIGHT  bq = WEIGHT  wk = WEIGHT  bk = WEIGHT  wv = WEIGHT  bv = WEIGHT
            wo = WEIGHT
          }
          ...
        }
        stage 1 { ... }
        mlp { layer clipped_relu|linear { w = WEIGHT  b = WEIGHT } ... }
      }
      readout %V
      weights { WEIGHT ... }     (optional: weights nothing above refers to)
    }
    WEIGHT: @NAME : f64[DIM, ...]   (the printer adds `// nnz=N sha=DIGEST`, a comment)

Errors are `VerifyError`s that name the line and column and quote the line with a caret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alta.ir import dense, sparse
from alta.ir.lexer import Token, error, tokenize
from alta.ir.parse_dense import parse_dense as _parse_ir3
from alta.ir.parse_sparse import parse_sparse as _parse_ir2

_HEADER = re.compile(r"(?:\s|//[^\n]*)*alta\.(symbolic|sparse|dense)\b")


def header_level(text: str) -> str | None:
    """The level the text's header names (`alta.sparse @...` -> "sparse"), or None."""
    m = _HEADER.match(text)
    return m.group(1) if m else None


def parse(text: str, weights: Mapping[str, Any] | None = None) -> Any:
    """Parse printed IR2 or IR3 (by its header) into a verified module."""
    tokens = tokenize(text, "alta IR")
    head = tokens[0]
    if head.kind == "word" and head.text == "alta.sparse":
        return parse_sparse(text, tokens)
    if head.kind == "word" and head.text == "alta.dense":
        return parse_dense(text, weights, tokens)
    if head.kind == "word" and head.text == "alta.symbolic":
        what = "alta.symbolic (IR1) text cannot be parsed: it stands for Python functions"
    else:
        what = f"expected 'alta.sparse' or 'alta.dense', got {head.describe()}"
    raise error(text, "alta IR", head.line, head.column, what)


def parse_sparse(text: str, tokens: list[Token] | None = None) -> sparse.Module:
    """Parse `alta.sparse` text (see `alta.ir.parse_sparse`)."""
    return _parse_ir2(text, tokens)


def parse_dense(
    text: str, weights: Mapping[str, Any] | None, tokens: list[Token] | None = None
) -> dense.Module:
    """Parse `alta.dense` text with its weights (see `alta.ir.parse_dense`)."""
    return _parse_ir3(text, weights, tokens)
