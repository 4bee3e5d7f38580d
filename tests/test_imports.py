"""Imports point one way (see ARCHITECTURE.md): each file imports only its own layer and the layers below, with no
cycle between files or folders, no rlhydra import inside a function, and no algorithm importing another."""
from __future__ import annotations

import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "rlhydra")

# Bottom to top. A path ending in "/" is a folder (everything under it); a file not listed fails the test.
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("config", ("version.py", "config/", "conf/")),
    ("data", ("data/",)),
    ("connectors", ("connectors/",)),
    ("models and buffers", ("models/", "buffers/")),
    ("env and loggers", ("env/", "loggers/")),
    ("runtime", ("core/",)),
    ("algorithms", ("algorithms/",)),
    ("command line and package face", ("cli.py", "__main__.py", "sweep_summary.py", "plot.py", "__init__.py",
                                        "multirun.py", "optuna_study.py", "benchmark.py",
                                        "benchmark_record.py")),
]


def _modules() -> Dict[str, str]:
    """Dotted module name -> path relative to rlhydra/, for every .py file of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py") and "__pycache__" not in folder:
                rel = os.path.relpath(os.path.join(folder, name), PACKAGE).replace(os.sep, "/")
                dotted = "rlhydra." + rel[:-3].replace("/", ".")
                found[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = rel
    return found


MODULES = _modules()


def _layer(rel: str) -> int:
    for index, (_, entries) in enumerate(LAYERS):
        if any(rel.startswith(e) if e.endswith("/") else rel == e for e in entries):
            return index
    raise AssertionError(f"rlhydra/{rel} is in no layer: add it to LAYERS in tests/test_imports.py (and ARCHITECTURE.md)")


def _unit(rel: str) -> str:
    """The folder a file belongs to for the folder-level checks (an algorithm is its own folder)."""
    parts = rel.split("/")
    if parts[0] == "algorithms" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0] if len(parts) > 1 else rel


def _imports(module: str, rel: str, source: str) -> List[Tuple[str, int, bool]]:
    """(imported rlhydra module, line, inside a function or class) for each rlhydra import of a file."""
    tree = ast.parse(source, filename=rel)
    package = module if rel.endswith("__init__.py") else module.rpartition(".")[0]
    found: List[Tuple[str, int, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, inner) for a in child.names if a.name.split(".")[0] == "rlhydra")
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base.split(".")[0] == "rlhydra":
                    for alias in child.names:  # `from pkg import submodule` imports the submodule
                        name = f"{base}.{alias.name}"
                        found.append((name if name in MODULES else base, child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return found


def _read(rel: str) -> str:
    with open(os.path.join(PACKAGE, rel), encoding="utf-8") as f:
        return f.read()


GRAPH = {m: _imports(m, rel, _read(rel)) for m, rel in MODULES.items()}


def _cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_every_file_is_in_a_layer() -> None:
    for rel in MODULES.values():
        _layer(rel)


def test_nothing_imports_upward() -> None:
    upward = []
    for module, imports in GRAPH.items():
        rel = MODULES[module]
        for target, line, _ in imports:
            if target not in MODULES:
                upward.append(f"rlhydra/{rel}:{line} imports {target}, which does not exist")
            elif _layer(MODULES[target]) > _layer(rel):
                upward.append(f"rlhydra/{rel}:{line} ({LAYERS[_layer(rel)][0]}) imports {target} "
                              f"({LAYERS[_layer(MODULES[target])][0]}), a higher layer")
    assert not upward, "\n".join(upward)


def test_no_rlhydra_import_inside_a_function() -> None:
    hidden = [f"rlhydra/{MODULES[m]}:{line} imports {target} inside a function or class"
              for m, imports in GRAPH.items() for target, line, nested in imports if nested]
    assert not hidden, "\n".join(hidden) + "\nImport at the top of the file (optional third-party packages excepted)."


def test_no_import_cycle_between_files() -> None:
    edges = {m: {t for t, _, _ in imports if t in MODULES and t != m} for m, imports in GRAPH.items()}
    assert not _cycles(edges)


def test_no_import_cycle_between_folders() -> None:
    edges: Dict[str, Set[str]] = {}
    for module, imports in GRAPH.items():
        unit = _unit(MODULES[module])
        targets = {_unit(MODULES[t]) for t, _, _ in imports if t in MODULES} - {unit}
        edges.setdefault(unit, set()).update(targets)
    assert not _cycles(edges)


def test_no_algorithm_imports_another() -> None:
    crossing = [f"rlhydra/{MODULES[m]}:{line} imports {target}"
                for m, imports in GRAPH.items() for target, line, _ in imports
                if target in MODULES and _unit(MODULES[m]).startswith("algorithms/")
                and _unit(MODULES[target]).startswith("algorithms/") and _unit(MODULES[m]) != _unit(MODULES[target])]
    assert not crossing, "\n".join(crossing) + "\nShared pieces live outside rlhydra/algorithms/ (core/, models/)."


@pytest.mark.parametrize("source, problem", [
    ("from rlhydra.core.algorithm import Algorithm\n", "a higher layer"),
    ("def f():\n    from rlhydra.data import columns\n", "inside a function"),
])
def test_the_checks_see_a_planted_violation(source: str, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above fail on a config file that imports the runtime, or imports inside a function."""
    planted = "rlhydra.config.planted"
    monkeypatch.setitem(MODULES, planted, "config/planted.py")
    monkeypatch.setitem(GRAPH, planted, _imports(planted, "config/planted.py", source))
    check = test_nothing_imports_upward if problem == "a higher layer" else test_no_rlhydra_import_inside_a_function
    with pytest.raises(AssertionError, match=problem):
        check()
