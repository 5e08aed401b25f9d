"""The house: every module imports on its own, and imports point one way (issue 12).

Layers, from the bottom: the library (store, records, resources, hooks, the Coordinator...), the MCP
server, the CLI's command modules, and `gitcoord.cli` with `__main__` on top. A module imports only
its own layer or a lower one, lazily inside a function too; at import time (module level, outside
`if TYPE_CHECKING:`) no two modules may import each other, however long the way round.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest

import gitcoord

PACKAGE = Path(gitcoord.__file__).resolve().parent
# The longest matching prefix decides; every other module of the package is the library (0).
LAYERS = {
    "gitcoord.mcp": 1,
    "gitcoord.commands": 2,
    "gitcoord.cli": 3,
    "gitcoord.console": 3,
    "gitcoord.warm": 4,
    "gitcoord.__main__": 4,  # the launcher's entry: the console script's twin
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _layer(module: str) -> int:
    found = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(found, key=len)] if found else 0


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The package's modules an import statement loads (a `from X import name` loads X.name if it is one)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    yield base
    for alias in node.names:
        if f"{base}.{alias.name}" in MODULES:
            yield f"{base}.{alias.name}"


def _imports(module: str) -> Iterator[tuple[str, bool, int]]:
    """(target, at import time, line) for every import of the package's modules in `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))

    def walk(node: ast.AST, eager: bool) -> Iterator[tuple[str, bool, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(module, child):
                    if target == "gitcoord" or target.startswith("gitcoord."):
                        yield target, eager, child.lineno
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from walk(ast.Module(body=child.body, type_ignores=[]), False)
                yield from walk(ast.Module(body=child.orelse, type_ignores=[]), eager)
            else:
                yield from walk(child, eager)

    yield from walk(tree, True)


def _eager_graph() -> dict[str, set[str]]:
    """What importing each module imports at once: its targets and their packages, not its own packages."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module in MODULES:
        own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        for target, eager, _ in _imports(module):
            if not eager:
                continue
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                step = ".".join(parts[:i])
                if step in MODULES and step not in own and step != module:
                    graph[module].add(step)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_the_package() -> None:
    """Guards the guard: the walk finds the modules and the imports it judges."""
    assert {"gitcoord.cli", "gitcoord.store", "gitcoord.hooks.lean", "gitcoord.commands"} <= set(MODULES)
    assert "gitcoord.errors" in _eager_graph()["gitcoord"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _layer("gitcoord.commands.claims") == 2 and _layer("gitcoord.store") == 0


def test_no_import_cycle() -> None:
    cycles = _cycles(_eager_graph())
    assert not cycles, "modules that import each other at import time: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_imports_point_down() -> None:
    """The library never reaches up into the MCP server or the CLI, nor commands into `gitcoord.cli`."""
    upward = [
        f"{module}:{line} imports {target}"
        for module in MODULES
        for target, _, line in _imports(module)
        if _layer(target) > _layer(module)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


@pytest.mark.parametrize("module", [m for m in MODULES if not m.endswith("__main__")])
def test_module_imports_alone(module: str) -> None:
    """Imported first, in a fresh interpreter, each module loads (no half-initialised partner)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"import {module} failed:\n{done.stderr}"


def _commands(command: click.Command, path: str = "gitcoord") -> Iterator[tuple[str, Callable[..., Any]]]:
    assert command.callback is not None
    yield path, command.callback
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, f"{path} {name}")


def test_every_command_is_a_module_level_function() -> None:
    """No command is a closure built inside a `register()`: each is importable from its area's module."""
    from gitcoord.cli import cli

    found = dict(_commands(cli))
    assert len(found) > 40
    nested = [
        f"{path}: {callback.__module__}.{callback.__qualname__}"
        for path, callback in found.items()
        if "<locals>" in callback.__qualname__
    ]
    assert not nested, "commands defined inside functions:\n" + "\n".join(nested)
    outside = [
        path
        for path, callback in found.items()
        if path != "gitcoord" and not callback.__module__.startswith("gitcoord.commands.")
    ]
    assert not outside, f"commands outside gitcoord/commands/: {outside}"
