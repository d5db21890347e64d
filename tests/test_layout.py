"""The layout of vidbuild: no import cycle between its modules (imports for type checking and
imports inside functions count too) and no module over 400 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vidbuild"
MAX_LINES = 400


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``vidbuild.heygen.client`` for vidbuild/heygen/client/__init__.py, and so on."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The modules of ``known`` that a module's source imports anywhere in it: at the top, under
    ``if TYPE_CHECKING:``, inside functions. ``from a import b`` counts as importing ``a.b``
    where that is a module, else ``a``."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    yield f"{base}.{alias.name}"
                elif base in known:
                    yield base


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    found = modules(root)
    known = set(found)
    return {name: set(imported(ast.parse(path.read_text(encoding="utf-8")), name,
                               path.name == "__init__.py", known)) - {name}
            for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def cycle_name(component: list[str]) -> str:
    return " <-> ".join(component)


def test_no_import_cycle_between_modules() -> None:
    found = [cycle_name(c) for c in cycles(import_graph())]
    assert found == []


def test_no_module_is_over_400_lines() -> None:
    long = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: lines for name, lines in long.items()
            if lines > MAX_LINES} == {}


def write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_a_cycle_through_a_type_only_or_a_function_import_is_found(tmp_path: Path) -> None:
    package = write_package(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "b.py": "def f():\n    from pkg import c\n",
        "c.py": "from . import a\nimport pkg.d\n",
        "d.py": "from pkg.sub import thing\n",
        "sub/__init__.py": "from ..d import x\n",
    })
    graph = import_graph(package)
    assert graph["pkg.c"] == {"pkg.a", "pkg.d"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"], ["pkg.d", "pkg.sub"]]


@pytest.mark.parametrize("text", ["", "from pkg import a\n"])
def test_a_package_without_cycles_has_none(tmp_path: Path, text: str) -> None:
    package = write_package(tmp_path, {"__init__.py": "", "a.py": "", "b.py": text})
    assert cycles(import_graph(package)) == []
