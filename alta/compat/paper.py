"""`import alta.compat.paper`: the paper's module names, resolved to alta.

After this import, a program written for the paper's public code runs on alta with no
change at all:

    import alta.compat.paper  # noqa: F401
    from framework import program
    from framework import program_builder as pb
    from framework.mlp import simple_mlp

    def ffn(z: simple_mlp.VarsWrapper) -> None: ...
    def build() -> program.Program:
        return pb.program_spec(...)

`framework.program_builder` re-exports `alta.lang` (same objects); `framework.program` and
`framework.mlp.simple_mlp` hold the names programs use in annotations, aliased to alta's
types. Only these modules exist: the paper's interpreter, compiler and trace modules have
no counterpart here (use `alta.interpret` and `alta.compile`).

If another module named `framework` is already imported, the import raises `AltaError`
rather than replace it. One that is only on `sys.path` (the paper's own checkout, when you
run its example files from there) is shadowed: its `framework` is what this replaces.
"""

from __future__ import annotations

from alta.compat import _paper_modules

MODULES = _paper_modules.install()
