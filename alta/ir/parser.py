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
      rule [#N] : %V in {VALUE, ...}, ... | true -> %V := VALUE [none-dont-care]
      clear %OUT, ...            (optional; the head outputs, in order)
      halt %V == INT             (optional)
      output %V
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

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, NoReturn

import numpy as np

from alta.errors import VerifyError

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+|//[^\n]*)
   |(?P<newline>\n)
   |(?P<number>-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+|inf\b|nan\b))
   |(?P<name>[%@](?:[A-Za-z0-9_.$]+|"(?:[^"\\\n]|\\.)*"))
   |(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*)
   |(?P<punct>:=|->|==|[{}\[\]()<>,=:\#])
    """,
    re.VERBOSE,
)


class Token(NamedTuple):
    kind: str  # number | name | word | punct | end
    text: str
    offset: int
    line: int
    column: int  # 1-based

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f"'{self.text}'"


def error(text: str, where: str, line: int, column: int, what: str) -> VerifyError:
    """A message naming the line and column, quoting the line with a caret under the column."""
    lines = text.splitlines()
    quoted = lines[line - 1] if 0 < line <= len(lines) else ""
    shown = quoted.expandtabs(1)
    caret = " " * (column - 1) + "^"
    return VerifyError(
        f"{where} text, line {line}, column {column}: {what}\n    {shown}\n    {caret}"
    )


def tokenize(text: str, where: str) -> list[Token]:
    tokens, pos, line, line_start = [], 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise error(
                text, where, line, pos - line_start + 1, f"unexpected character {text[pos]!r}"
            )
        kind = m.lastgroup or ""
        if kind == "newline":
            line, line_start = line + 1, m.end()
        elif kind != "space":
            tokens.append(Token(kind, m.group(), pos, line, pos - line_start + 1))
        pos = m.end()
    tokens.append(Token("end", "", pos, line, pos - line_start + 1))
    return tokens


class Parser:
    """A cursor over the tokens, with the helpers both grammars share."""

    def __init__(self, text: str, where: str, tokens: list[Token] | None = None) -> None:
        self.text, self.where = text, where
        self.tokens = tokenize(text, where) if tokens is None else tokens
        self.i = 0

    # ------------------------------------------------------------------ cursor

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def fail(self, what: str, tok: Token | None = None) -> NoReturn:
        tok = tok or self.peek()
        raise error(self.text, self.where, tok.line, tok.column, what)

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind in ("word", "punct") and tok.text in texts

    def accept(self, text: str) -> Token | None:
        return self.next() if self.at(text) else None

    def expect(self, text: str, context: str = "") -> Token:
        if not self.at(text):
            where = f" {context}" if context else ""
            self.fail(f"expected '{text}'{where}, got {self.peek().describe()}")
        return self.next()

    def word(self, *choices: str, what: str = "a keyword") -> Token:
        tok = self.peek()
        if tok.kind != "word" or (choices and tok.text not in choices):
            want = " or ".join(f"'{c}'" for c in choices) if choices else what
            self.fail(f"expected {want}, got {tok.describe()}")
        return self.next()

    def name(self, sigil: str, what: str) -> tuple[str, Token]:
        tok = self.peek()
        if tok.kind != "name" or tok.text[0] != sigil:
            self.fail(f"expected {what} ({sigil}name), got {tok.describe()}")
        self.next()
        body = tok.text[1:]
        if body.startswith('"'):
            try:
                body = json.loads(body)
            except ValueError:
                self.fail(f"bad quoted name {tok.text}", tok)
        return body, tok

    def number(self, what: str = "a number") -> tuple[int | float, Token]:
        tok = self.peek()
        if tok.kind != "number":
            self.fail(f"expected {what}, got {tok.describe()}")
        self.next()
        text = tok.text
        if any(c in text for c in ".eEn"):  # a float (inf and nan included)
            return float(text), tok
        return int(text), tok

    def integer(self, what: str = "an integer") -> int:
        value, tok = self.number(what)
        if not isinstance(value, int):
            self.fail(f"expected {what}, got {tok.describe()}", tok)
        return value

    def int_or_none(self, what: str) -> int | None:
        return None if self.accept("none") else self.integer(what)

    def key(self, key: str) -> None:
        """`key =`"""
        self.word(key)
        self.expect("=", f"after '{key}'")

    def listing(self, open_: str, close: str, item: Any) -> list[Any]:
        """`open_ item, item, ... close` (possibly empty)."""
        self.expect(open_)
        items: list[Any] = []
        if self.accept(close):
            return items
        while True:
            items.append(item())
            if self.accept(close):
                return items
            if not self.at(","):
                self.fail(f"expected ',' or '{close}', got {self.peek().describe()}")
            self.next()

    def end(self) -> None:
        if self.peek().kind != "end":
            self.fail(
                f"expected the end of the text after the module, got {self.peek().describe()}"
            )


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


def parse_sparse(text: str, tokens: list[Token] | None = None) -> Any:
    """Parse `alta.sparse` text (see `alta.ir.parse_sparse`)."""
    from alta.ir.parse_sparse import parse_sparse as parse_ir2

    return parse_ir2(text, tokens)


def parse_dense(
    text: str, weights: Mapping[str, Any] | None, tokens: list[Token] | None = None
) -> Any:
    """Parse `alta.dense` text with its weights (see `alta.ir.parse_dense`)."""
    from alta.ir.parse_dense import parse_dense as parse_ir3

    return parse_ir3(text, weights, tokens)


def as_arrays(weights: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Weights as float64 arrays, in the mapping's order (e.g. an `np.load`ed npz file)."""
    return {str(name): np.asarray(weights[name], dtype=np.float64) for name in weights}
