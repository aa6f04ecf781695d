"""The IR2 (`alta.sparse`) half of `alta.ir.parser`; the grammar is in that module's docstring."""

from __future__ import annotations

from typing import Any

from alta.ir import sparse
from alta.ir.lexer import Parser, Token

_TYPES = {"cat": sparse.CATEGORICAL, "num": sparse.NUMERICAL, "set": sparse.SET}


class _SparseParser(Parser):
    def __init__(self, text: str, tokens: list[Token] | None) -> None:
        super().__init__(text, "alta.sparse", tokens)
        self.variables: dict[str, sparse.Variable] = {}

    # ------------------------------------------------------------------ values

    def value(self, kind: str) -> Any:
        """One value of a variable of `kind`: none, an int, a float or a set of ints."""
        tok = self.peek()
        if self.accept("none"):
            return None
        if self.at("{"):
            members = self.listing("{", "}", lambda: self.integer("a set member (an integer)"))
            if kind != sparse.SET:
                self.fail(f"a {kind} variable holds no sets", tok)
            return frozenset(members)
        number, _ = self.number("a value (a number, a set or none)")
        if kind == sparse.NUMERICAL:
            return float(number)
        if kind == sparse.SET:
            self.fail("a set variable holds sets, such as {0, 2}", tok)
        if not isinstance(number, int):
            self.fail(f"a {kind} variable holds integers", tok)
        return number

    def var_ref(self, what: str) -> tuple[sparse.Variable, Token]:
        name, tok = self.name("%", what)
        var = self.variables.get(name)
        if var is None:
            names = list(self.variables)
            known = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") or "none yet"
            self.fail(f"unknown variable '%{name}' (declared above: {known})", tok)
        return var, tok

    # ------------------------------------------------------------------ items

    def module(self) -> sparse.Module:
        self.word("alta.sparse")
        name, _ = self.name("@", "the module name")
        self.expect("{")
        self.key("input_range")
        input_range = self.integer("input_range")
        self.expect(",")
        self.key("position_range")
        position_range = self.int_or_none("position_range")
        heads: list[sparse.Head] = []
        rules: list[sparse.Rule] = []
        halt: sparse.Halt | None = None
        output: str | None = None
        clear: tuple[list[str], Token] | None = None
        codes: dict[str, int] = {}
        while not self.at("}"):
            tok = self.word("var", "head", "rule", "clear", "halt", "output", "encode")
            if tok.text == "var":
                self.variable()
            elif tok.text == "head":
                heads.append(self.head())
            elif tok.text == "rule":
                rules.append(self.rule(len(rules)))
            elif tok.text == "clear":
                names = [self.var_ref("a head output")[0].name]
                while self.accept(","):
                    names.append(self.var_ref("a head output")[0].name)
                clear = (names, tok)
            elif tok.text == "halt":
                var, _ = self.var_ref("the halt variable")
                self.expect("==")
                halt = sparse.Halt(var.name, self.integer("the halt value"))
            elif tok.text == "encode":
                var, at = self.var_ref("a coded variable")
                if var.name in codes:
                    self.fail(f"'%{var.name}' already has an 'encode' line", at)
                if self.word("binary", "value-only").text == "binary":
                    bits, at = self.number("the code's bits")
                    if not isinstance(bits, int) or bits < 2:
                        self.fail("a binary code has an integer number of bits, at least 2", at)
                    codes[var.name] = bits  # (0 is value-only)
                else:
                    codes[var.name] = 0
            else:
                output = self.var_ref("the output variable")[0].name
        close = self.expect("}")
        self.end()
        if output is None:
            self.fail("the module has no 'output %VAR' line", close)
        if clear is not None and clear[0] != [h.output for h in heads]:
            self.fail(
                "'clear' must list the head outputs in head order ("
                + ", ".join(f"%{h.output}" for h in heads)
                + "): they are cleared after every MLP",
                clear[1],
            )
        return sparse.Module(
            name=name,
            variables=self.variables,
            heads=tuple(heads),
            rules=tuple(rules),
            output=output,
            input_range=input_range,
            position_range=position_range,
            halt=halt,
            codes=codes,
        )

    def variable(self) -> None:
        name, tok = self.name("%", "a variable name")
        if name in self.variables:
            self.fail(f"variable '%{name}' is declared twice", tok)
        self.expect(":")
        type_tok = self.word(*_TYPES)
        kind = _TYPES[type_tok.text]
        size = 0
        if kind != sparse.NUMERICAL or self.at("<"):
            self.expect("<", f"after '{type_tok.text}' (its range, e.g. {type_tok.text}<4>)")
            size = self.integer("the variable's range")
            self.expect(">")
        values = tuple(self.listing("{", "}", lambda: self.value(kind)))
        nullable = self.accept("nullable") is not None
        self.expect("=", "before the variable's init")
        if self.accept("head"):
            init = sparse.Init("head", ())
        elif self.at("token", "position"):
            source = self.next().text
            init = sparse.Init(source, tuple(self.listing("[", "]", lambda: self.value(kind))))
        else:
            init = sparse.Init("const", (self.value(kind),))
        self.variables[name] = sparse.Variable(name, kind, values, init, nullable, size)

    def head(self) -> sparse.Head:
        output, _ = self.var_ref("the head's output variable")
        self.expect("=")
        self.word("attend")
        self.expect("(")
        roles = []
        for role in ("query", "key", "value"):
            if role != "query":
                self.expect(",")
            self.key(role)
            roles.append(self.var_ref(f"the head's {role}")[0].name)
        mask: frozenset[int] = frozenset()
        if self.accept(","):
            self.key("mask")
            mask = frozenset(self.listing("{", "}", lambda: self.integer("an offset")))
        self.expect(")")
        query, key, value = roles
        return sparse.Head(output.name, query, key, value, mask)

    def rule(self, index: int) -> sparse.Rule:
        if self.at("#"):
            self.next()
            number, tok = self.number("the rule's number")
            if number != index:
                self.fail(f"this is rule #{index} (rules are numbered from 0 in order)", tok)
        self.expect(":")
        atoms: list[sparse.Atom] = []
        equals: list[tuple[str, str]] = []
        if not self.accept("true"):
            while True:
                var, _ = self.var_ref("an atom's variable")
                if self.accept("=="):
                    equals.append((var.name, self.var_ref("the variable it equals")[0].name))
                else:
                    self.word("in")
                    values = self.listing("{", "}", lambda var=var: self.value(var.kind))
                    atoms.append(sparse.Atom(var.name, frozenset(values)))
                if not self.accept(","):
                    break
        self.expect("->")
        var, _ = self.var_ref("the variable the rule writes")
        self.expect(":=")
        new = self.value(var.kind)
        flag = False
        if self.accept("["):
            self.word("none-dont-care")
            self.expect("]")
            flag = True
        return sparse.Rule(tuple(atoms), var.name, new, flag, tuple(equals))


def parse_sparse(text: str, tokens: list[Token] | None = None) -> sparse.Module:
    """Parse `alta.sparse` text; the module is verified (`verify_sparse`) before it returns.
    `tokens` are the text's, when the caller has already split it."""
    from alta.ir.verify import verify_sparse

    return verify_sparse(_SparseParser(text, tokens).module())
