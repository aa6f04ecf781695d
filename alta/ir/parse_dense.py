"""The IR3 (`alta.dense`) half of `alta.ir.parser`; the grammar is in that module's docstring.

The text names every weight and states its shape; the arrays come separately, and the
parser checks that they are all there, have the stated shapes, and that none is left over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alta.errors import VerifyError
from alta.ir import dense, sparse
from alta.ir.lexer import Parser, Token, as_arrays
from alta.ir.printer import HEAD_ROLES

_KINDS = (sparse.CATEGORICAL, sparse.NUMERICAL, sparse.SET)
_ACTS = (dense.CLIPPED_RELU, dense.LINEAR)


class _DenseParser(Parser):
    def __init__(self, text: str, weights: Mapping[str, Any], tokens: list[Token] | None) -> None:
        super().__init__(text, "alta.dense", tokens)
        self.given = as_arrays(weights)
        self.used: dict[str, tuple[tuple[int, ...], Token]] = {}

    def weight(self) -> str:
        """`@name : f64[d, ...]`; checks the given array against the stated shape."""
        name, tok = self.name("@", "a weight")
        self.expect(":", "after the weight's name (then its type, e.g. f64[3,4])")
        dtype = self.word(what="the weight's type")
        if dtype.text != "f64":
            self.fail(f"weights are f64 in IR3, not {dtype.text}", dtype)
        shape = tuple(self.listing("[", "]", lambda: self.integer("a dimension")))
        seen = self.used.get(name)
        if seen is not None and seen[0] != shape:
            self.fail(f"weight '@{name}' was f64[{_dims(seen[0])}] above", tok)
        self.used.setdefault(name, (shape, tok))
        if name not in self.given:
            self.fail(f"weight '@{name}' is not among the weights given ({len(self.given)})", tok)
        got = self.given[name].shape
        if got != shape:
            self.fail(
                f"weight '@{name}' is f64[{_dims(got)}] in the weights given, not "
                f"f64[{_dims(shape)}]",
                tok,
            )
        return name

    def slot(self, start: int) -> dense.Slot:
        var, _ = self.name("%", "the slot's variable")
        self.expect(":")
        kind = self.word(*_KINDS).text
        binary = self.accept(dense.BINARY) is not None
        range_tok = self.expect("[")
        first = self.integer("the slot's first dim")
        self.expect(":")
        stop = self.integer("the slot's end dim")
        self.expect("]")
        values = tuple(self.listing("{", "}", self.slot_value))
        if first != start:
            self.fail(f"the slot starts at dim {first}, but the previous one ends at {start}")
        if binary:
            bits = stop - first
            if any(not isinstance(v, int) or not 0 <= v < 1 << bits for v in values):
                self.fail(f"a binary slot of {bits} bits holds only the ints 0..{(1 << bits) - 1}")
            return dense.Slot(var, kind, first, values, dense.BINARY, bits)
        if stop - first != len(values):
            self.fail(
                f"[{first}:{stop}] is {stop - first} dims wide, but lists {len(values)} values",
                range_tok,
            )
        return dense.Slot(var, kind, first, values)

    def slot_value(self) -> Any:
        if self.peek().kind == "word":
            return self.next().text
        return self.integer("a slot value (an integer or a word)")

    def head(self) -> dense.Head:
        name, _ = self.name("%", "the head's name")
        self.expect("{")
        self.key("offsets")
        offsets = None
        if not self.accept("all"):
            offsets = tuple(self.listing("[", "]", lambda: self.integer("an offset")))
        self.expect(",")
        self.key("null_logit")
        null_logit, _ = self.number("the null logit")
        self.expect("}")
        roles = self.roles(HEAD_ROLES, f"head %{name}")
        return dense.Head(name=name, offsets=offsets, null_logit=null_logit, **roles)

    def roles(
        self, names: tuple[str, ...], owner: str, optional: tuple[str, ...] = ()
    ) -> dict[str, str]:
        """`{ role = WEIGHT ... }`: each of `names` once (but `optional` ones), in any order."""
        self.expect("{")
        roles: dict[str, str] = {}
        while not self.at("}"):
            tok = self.word(*names)
            if tok.text in roles:
                self.fail(f"{owner} gives '{tok.text}' twice", tok)
            self.expect("=")
            roles[tok.text] = self.weight()
        close = self.next()
        missing = [n for n in names if n not in roles and n not in optional]
        if missing:
            self.fail(f"{owner} lacks {', '.join(missing)}", close)
        return roles

    def module(self) -> dense.Module:
        self.word("alta.dense")
        name, _ = self.name("@", "the module name")
        self.expect("{")
        self.key("d_model")
        d_model = self.integer("d_model")
        self.expect(",")
        self.key("input_range")
        input_range = self.integer("input_range")
        self.expect(",")
        self.key("position_range")
        position_range = self.int_or_none("position_range")
        layout: list[dense.Slot] = []
        while self.accept("slot"):
            layout.append(self.slot(layout[-1].stop if layout else 0))
        self.word("embed")
        embed_roles = self.roles(("tokens", "positions"), "embed", optional=("positions",))
        loop = self.loop()
        self.word("readout")
        var, tok = self.name("%", "the readout variable")
        slots = [s for s in layout if s.var == var]
        if not slots:
            self.fail(f"no slot holds '%{var}'", tok)
        if self.accept("weights"):
            self.expect("{")
            while not self.at("}"):
                self.weight()
            self.next()
        self.expect("}")
        self.end()
        extra = [n for n in self.given if n not in self.used]
        if extra:
            shown = ", ".join(f"@{n}" for n in extra[:5]) + (", ..." if len(extra) > 5 else "")
            raise VerifyError(
                f"alta.dense text @{name}: the weights given hold {len(extra)} that the text "
                f"does not name: {shown}"
            )
        return dense.Module(
            name=name,
            d_model=d_model,
            layout=tuple(layout),
            weights={n: w for n, w in self.given.items()},
            embed=dense.Embed(embed_roles["tokens"], embed_roles.get("positions")),
            loop=loop,
            readout=dense.Readout(slots[0]),
            input_range=input_range,
            position_range=position_range,
        )

    def loop(self) -> dense.Loop:
        self.word("loop")
        self.expect("{")
        self.key("max_layers")
        max_layers = self.int_or_none("max_layers")
        self.expect(",")
        self.key("halt")
        halt = None
        if not self.accept("none"):
            self.word("dim")
            halt = dense.HaltTest(self.integer("the halt dim"))
        self.expect("}")
        self.expect("{")
        stages: list[tuple[dense.Head, ...]] = []
        while self.at("stage"):
            self.next()
            number, tok = self.number("the stage's number")
            if number != len(stages):
                self.fail(f"this is stage {len(stages)} (stages are numbered from 0 in order)", tok)
            self.expect("{")
            heads = []
            while self.accept("head"):
                heads.append(self.head())
            self.expect("}")
            stages.append(tuple(heads))
        self.word("mlp")
        self.expect("{")
        layers: list[dense.MLPLayer] = []
        while self.accept("layer"):
            act = self.word(*_ACTS).text
            skips = tuple(f"skip{k}" for k in range(len(layers)))
            roles = self.roles(("w", "b", *skips), f"mlp layer {len(layers)}", optional=skips)
            read = tuple((int(r[4:]), roles[r]) for r in roles if r.startswith("skip"))
            layers.append(dense.MLPLayer(roles["w"], roles["b"], act, read))
        self.expect("}")
        self.expect("}")
        return dense.Loop(
            attention=dense.Attention(tuple(stages)),
            mlp=dense.MLP(tuple(layers)),
            halt=halt,
            max_layers=max_layers,
        )


def _dims(shape: tuple[int, ...]) -> str:
    return ",".join(map(str, shape))


def parse_dense(
    text: str, weights: Mapping[str, Any] | None, tokens: list[Token] | None = None
) -> dense.Module:
    """Parse `alta.dense` text with its weights; verified (`verify_dense`) before it returns.
    `tokens` are the text's, when the caller has already split it."""
    from alta.ir.verify import verify_dense

    if weights is None:
        raise VerifyError(
            "alta.dense text names its weights but does not hold them; pass them as "
            "parse(text, weights) (a mapping from name to array, e.g. np.load('model.npz'))"
        )
    return verify_dense(_DenseParser(text, weights, tokens).module())
