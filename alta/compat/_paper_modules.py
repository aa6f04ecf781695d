"""The modules behind `alta.compat.paper`, and their installation in `sys.modules`.

The paper's programs import three modules: `framework.program_builder` (the builder, as
`pb`), `framework.program` (for `program.Program` in return annotations) and
`framework.mlp.simple_mlp` (for `simple_mlp.VarsWrapper`, the type of an MLP function's
argument). Each gets a module object here, under its own name, holding alta objects.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

from alta import lang
from alta.errors import AltaError
from alta.ir import symbolic

ROOT = "framework"
#: Every module name `alta.compat.paper` provides, parents first.
NAMES = (
    "framework",
    "framework.program",
    "framework.program_builder",
    "framework.mlp",
    "framework.mlp.simple_mlp",
)
_MARK = "__alta_compat_paper__"


@runtime_checkable
class VarsWrapper(Protocol):
    """What an MLP function is given: `z[name]` reads a variable, `z[name] = v` writes one.

    Both the interpreter and the compiler hand MLP functions an object of this shape."""

    def __getitem__(self, name: str, /) -> Any: ...

    def __setitem__(self, name: str, value: Any, /) -> None: ...


MLPFunc: TypeAlias = Callable[[VarsWrapper], None]


def builder_names() -> dict[str, Any]:
    """`framework.program_builder`: everything `alta.lang` exports, plus `RELATIVE_QK`."""
    names = {name: getattr(lang, name) for name in lang.__all__}
    names["RELATIVE_QK"] = symbolic.RELATIVE_QK
    return names


def program_names() -> dict[str, Any]:
    """`framework.program`: the types programs name in annotations and isinstance tests.

    The variable classes take the paper's field names as keywords (`range`, `values`,
    `default`, `input_init_fn`, `position_init_fn`); build variables with the builder."""
    return {
        "Program": symbolic.Program,
        "VarSpec": symbolic.Var,
        "CategoricalVarSpec": symbolic.CategoricalVar,
        "NumericalVarSpec": symbolic.NumericalVar,
        "SetVarSpec": symbolic.SetVar,
        "HaltSpec": symbolic.Halt,
        "VarValue": symbolic.Value,
    }


def simple_mlp_names() -> dict[str, Any]:
    """`framework.mlp.simple_mlp`: the type of an MLP function and of its argument."""
    return {"VarsWrapper": VarsWrapper, "MLPFunc": MLPFunc}


def install() -> dict[str, types.ModuleType]:
    """Put the modules in `sys.modules` (once); refuse if another `framework` is imported."""
    current = sys.modules.get(ROOT)
    if current is not None and getattr(current, _MARK, False):
        return {name: sys.modules[name] for name in NAMES if name in sys.modules}
    _check_free()
    modules = build()
    sys.modules.update(modules)
    if not any(isinstance(f, _Unmapped) for f in sys.meta_path):
        sys.meta_path.append(_Unmapped())
    return modules


def uninstall() -> None:
    """Remove the modules again (for tests); a real `framework` is left alone."""
    current = sys.modules.get(ROOT)
    if current is None or not getattr(current, _MARK, False):
        return
    for name in NAMES:
        sys.modules.pop(name, None)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Unmapped)]


def build() -> dict[str, types.ModuleType]:
    """Fresh module objects for `NAMES`, linked parent to child; nothing is installed."""
    doc = "alta.compat.paper: the paper's `{}`, resolved to alta."
    modules = {
        "framework": _module("framework", doc, {}, package=True),
        "framework.program": _module("framework.program", doc, program_names()),
        "framework.program_builder": _module("framework.program_builder", doc, builder_names()),
        "framework.mlp": _module("framework.mlp", doc, {}, package=True),
        "framework.mlp.simple_mlp": _module("framework.mlp.simple_mlp", doc, simple_mlp_names()),
    }
    for name, module in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    return modules


def _module(name: str, doc: str, names: dict[str, Any], package: bool = False) -> types.ModuleType:
    module = types.ModuleType(name, doc.format(name))
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=package)
    module.__package__ = name if package else name.rpartition(".")[0]
    if package:
        module.__path__ = []
    else:
        vars(module)["__all__"] = sorted(names)
    vars(module).update(names)
    setattr(module, _MARK, True)
    return module


def _check_free() -> None:
    """Raise if a module named `framework` (not ours) is already imported."""
    taken = [n for n in sys.modules if n == ROOT or n.startswith(ROOT + ".")]
    if taken:
        where = _location(getattr(sys.modules.get(taken[0]), "__spec__", None))
        raise AltaError(
            f"alta.compat.paper: a module named '{taken[0]}' is already imported{where}; "
            "alta.compat.paper will not replace it. Import alta.compat.paper before "
            "anything imports `framework`, or use `from alta import lang as pb` instead of "
            "`framework.program_builder`"
        )
    # A `framework` that is merely on sys.path (the paper's checkout, say) is shadowed:
    # asking for alta.compat.paper is asking for that.


def _location(spec: importlib.machinery.ModuleSpec | None) -> str:
    if spec is None:
        return ""
    places: Sequence[str] = list(spec.submodule_search_locations or [])
    if spec.origin and spec.origin != "namespace":
        places = [spec.origin]
    return f" from {', '.join(places)}" if places else ""


class _Unmapped:
    """A meta path finder that explains, for a `framework.*` module alta does not provide,
    what to use instead (rather than Python's bare "No module named ...")."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        root = sys.modules.get(ROOT)
        if not fullname.startswith(ROOT + ".") or fullname in NAMES:
            return None
        if root is None or not getattr(root, _MARK, False):
            return None
        raise ModuleNotFoundError(
            f"No module named '{fullname}': alta.compat.paper provides only "
            f"{', '.join(NAMES[1:])}. For the paper's interpreter, compiler and Transformer "
            "modules use alta.interpret(program, inputs, max_layers=...) and "
            "alta.compile(program, backend=...)",
            name=fullname,
        )
