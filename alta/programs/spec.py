"""What a command line's PROGRAM names: a library program, or `module:attr` (a Program,
or a zero-argument function returning one). Shared by every `alta` command."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from alta.errors import UsageError
from alta.ir import symbolic


def load_program(spec: str) -> tuple[symbolic.Program, int | None]:
    """The program named by `spec`, and the layer budget its library entry gives (if any)."""
    if ":" not in spec:
        from alta import programs

        if spec not in programs.names():
            raise UsageError(
                f"'{spec}' is neither module:function nor a library program; library programs: "
                f"{', '.join(programs.names())}"
            )
        case = programs.get(spec)
        return case.build(), case.max_layers
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"program '{spec}' must look like module:function")
    module = import_module(module_name, f"program '{spec}'")
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UsageError(
                f"program '{spec}': module '{module_name}' has no attribute '{attr}'"
            ) from None
        target = getattr(target, part)
    program = target if isinstance(target, symbolic.Program) else _call(spec, target)
    return program, None


def import_module(module_name: str, what: str) -> Any:
    """Import a user module, from the current directory too (as `python -m` would)."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise UsageError(f"{what}: cannot import module '{module_name}' ({exc})") from None
        raise


def _call(spec: str, target: Any) -> symbolic.Program:
    if not callable(target):
        raise UsageError(
            f"program '{spec}' is {target!r} (a {type(target).__name__}), not a "
            "Program or a function returning one"
        )
    program = target()
    if not isinstance(program, symbolic.Program):
        raise UsageError(
            f"program '{spec}' returned a {type(program).__name__}, not an alta Program"
        )
    return program
