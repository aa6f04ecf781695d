"""What a command line's PROGRAM names: a library program, `module:attr` or
`path/to/file.py:attr` (a Program, or a zero-argument function returning one). Shared by
every `alta` command."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from alta.errors import AltaError, UsageError
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
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise UsageError(
            f"program '{spec}' must look like module:function or path/to/file.py:function"
        )
    module = import_user(module_name, f"program '{spec}'")
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UsageError(
                f"program '{spec}': module '{module_name}' has no attribute '{attr}'"
            ) from None
        target = getattr(target, part)
    program = target if isinstance(target, symbolic.Program) else _call(spec, target)
    return program, None


def import_user(name: str, what: str) -> Any:
    """Import the user's module or file (path/to/file.py), as `name` says."""
    return import_file(name, what) if is_path(name) else import_module(name, what)


def import_module(module_name: str, what: str) -> Any:
    """Import a user module, from the current directory too (as `python -m` would)."""
    if module_name.startswith("."):
        raise UsageError(
            f"{what}: '{module_name}' is a relative module name; name a module "
            "(package.module) or a file (path/to/file.py)"
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise UsageError(f"{what}: cannot import module '{module_name}' ({exc})") from None
        raise _failed(what, f"importing module '{module_name}'", exc) from exc
    except AltaError:
        raise
    except Exception as exc:
        raise _failed(what, f"importing module '{module_name}'", exc) from exc


def is_path(module_name: str) -> bool:
    """Whether the part before the colon names a file rather than a module."""
    return module_name.endswith(".py") or "/" in module_name or os.sep in module_name


def import_file(file_name: str, what: str) -> Any:
    """Import a Python file by its path, under a name of its own (as `runpy` would)."""
    path = Path(file_name)
    if not path.is_file():
        raise UsageError(f"{what}: file '{file_name}' does not exist")
    name = f"_alta_program_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise UsageError(f"{what}: '{file_name}' is not a Python file")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # so that dataclasses and pickle can find it
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise UsageError(f"{what}: '{file_name}' is not valid Python: {exc}") from None
    except AltaError:
        del sys.modules[name]
        raise
    except Exception as exc:
        del sys.modules[name]
        raise _failed(what, f"importing '{file_name}'", exc) from exc
    return module


def _failed(what: str, doing: str, exc: Exception) -> UsageError:
    """The user's own code raised: one line naming the code and the exception (the
    traceback stays on the error's __cause__)."""
    return UsageError(f"{what}: {doing} raised {type(exc).__name__}: {exc}")


def _call(spec: str, target: Any) -> symbolic.Program:
    if not callable(target):
        raise UsageError(
            f"program '{spec}' is {target!r} (a {type(target).__name__}), not a "
            "Program or a function returning one"
        )
    try:
        inspect.signature(target).bind()
    except TypeError:
        raise UsageError(
            f"program '{spec}' takes arguments; name a function that takes none"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): just call it
        pass
    try:
        program = target()
    except AltaError:
        raise
    except Exception as exc:
        raise _failed(f"program '{spec}'", "calling it", exc) from exc
    if not isinstance(program, symbolic.Program):
        raise UsageError(
            f"program '{spec}' returned a {type(program).__name__}, not an alta Program"
        )
    return program
