"""Imports point one way (docs/architecture.md): errors, inputs and the IRs, then the
interpreter and the authoring API, passes, backends, the compiler, the library and compat,
and the command line last. No module imports one of a later layer, and no import cycle
exists, counting imports inside functions; `TYPE_CHECKING` imports are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "alta"

#: Module name prefixes, by layer; the first match wins.
LAYERS = [
    ["alta.errors"],
    ["alta.data"],
    ["alta.inputs", "alta.progress", "alta.folders", "alta.ir"],
    ["alta.interp"],
    ["alta.lang"],
    ["alta.passes"],
    ["alta.backends"],
    # Pictures (alta/show/__init__.py): the drawing sits below the model, which offers
    # `model.show`; the package itself and its command line sit with the command line.
    ["alta.show.views", "alta.show.figures", "alta.show.page"],
    ["alta.model", "alta.compiler", "alta.saved"],
    ["alta.programs", "alta.compat"],
    ["alta.traces"],
    ["alta.learn"],
    ["alta.cli", "alta.demo", "alta.show", "alta"],
]

#: Lazy imports that close a cycle on purpose: an IR's `__str__` prints it with the
#: printer, which reads the IR's data classes.
ALLOWED_CYCLE_EDGES = {
    ("alta.ir.symbolic", "alta.ir.printer"),
    ("alta.ir.sparse", "alta.ir.printer"),
    ("alta.ir.dense", "alta.ir.printer"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"module {module} is in no layer")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str, modules: set[str]) -> set[str]:
    """What `tree` imports: a submodule where `from X import name` names one, else X."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("alta")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.startswith("alta"):
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in modules else base)
        found |= _imports(node, package, modules)
    return found


def _graph() -> nx.DiGraph:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph.add_node(name)
        for target in _imports(ast.parse(path.read_text()), package, set(modules)):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def test_every_module_has_a_layer() -> None:
    for module in _graph():
        _layer(module)


def test_imports_point_down_the_layers() -> None:
    graph = _graph()
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, b in graph.edges
        if _layer(b) > _layer(a)
    ]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    graph = _graph()
    graph.remove_edges_from(ALLOWED_CYCLE_EDGES)
    cycles = [" -> ".join(c) for c in nx.simple_cycles(graph)]
    assert not cycles, "\n".join(sorted(cycles)[:20])
