"""Compatibility layers for programs written against other ALTA code.

`import alta.compat.paper` lets a program written for the paper's public code, which
imports `framework.program_builder`, `framework.program` and `framework.mlp.simple_mlp`,
run on alta unchanged. Importing this package itself changes nothing.
"""

from __future__ import annotations
