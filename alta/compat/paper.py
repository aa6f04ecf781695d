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

If a package named `framework` is already imported or importable (for example the paper's
own code on `sys.path`), the import raises `AltaError` instead of shadowing it.
"""

from __future__ import annotations

from alta.compat import _paper_modules

MODULES = _paper_modules.install()
