"""Tokens and the recursive-descent base shared by the IR2 and IR3 text parsers
(`alta.ir.parse_sparse`, `alta.ir.parse_dense`); the grammar is in `alta.ir.parser`."""

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


def as_arrays(weights: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Weights as float64 arrays, in the mapping's order (e.g. an `np.load`ed npz file)."""
    return {str(name): np.asarray(weights[name], dtype=np.float64) for name in weights}
