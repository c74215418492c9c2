"""The ``corral`` package has no import cycles and no pure re-export shims.

Dependency graph
    One node per module under ``src/corral`` (a package is its ``__init__.py``). Every ``import`` statement that
    names a ``corral`` module is an edge, wherever it is written: at module level, inside a function or class, or
    under ``if TYPE_CHECKING:`` (a deferred import is still a dependency, it only hides the cycle until run time).

    * ``import corral.a.b`` is an edge to ``corral.a.b`` (a package resolves to its ``__init__.py``);
    * ``from corral.a import b`` is an edge to the module ``corral.a.b`` when that module exists, else to
      ``corral.a``; relative imports are resolved against the importing module first.

    The implicit import of the parent packages (``import corral.a.b`` also runs ``corral/__init__.py``) is not an
    edge: ``corral/__init__.py`` is the public facade and re-exports from everywhere.

    Every strongly connected component with more than one module, and every module that imports itself, is a cycle.

Re-export shims
    A module whose body (after its docstring) holds only imports and an ``__all__`` assignment adds nothing but a
    second name for code that lives elsewhere. Allowed exceptions, both ``__init__.py`` files:

    * ``corral/__init__.py``, the public API;
    * a package ``__init__.py`` that imports only from its own package's modules (it defines that package's
      public surface).
"""

import ast
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "corral"


def _module_name(path):
    """Dotted module name of a source file under ``ROOT``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _extension_name(path):
    """Dotted name of a compiled extension (``_engine.c`` or ``_engine.cpython-311-x86_64-linux-gnu.so``)."""
    stem = path.name.split(".")[0]
    return ".".join(path.relative_to(ROOT).parent.parts + (stem,))


def _modules():
    """``{dotted name: (path, is_package)}`` for every module of the package; compiled extensions have no path."""
    found = {}
    for suffix in ("*.c", *("*" + s for s in EXTENSION_SUFFIXES)):
        for path in (ROOT / PACKAGE).rglob(suffix):
            if suffix != "*.c" or "PyInit_" in path.read_text(encoding="utf-8", errors="replace"):
                found[_extension_name(path)] = (None, False)
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        found[_module_name(path)] = (path, path.name == "__init__.py")
    return found


def _resolve_relative(node, name, is_package):
    """Absolute module named by a ``from .x import y`` node written in module ``name``."""
    base = name.split(".") if is_package else name.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node, name, is_package, modules):
    """The ``corral`` modules an ``Import``/``ImportFrom`` node depends on."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    source = _resolve_relative(node, name, is_package) if node.level else node.module
    if source is None or not (source == PACKAGE or source.startswith(PACKAGE + ".")):
        return []
    out = []
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in modules:
            out.append(sub)
        elif source in modules:
            out.append(source)
    return out


def _graph(modules):
    """``{module: set of modules it imports}`` over every import statement, at any depth."""
    graph = {}
    for name, (path, is_package) in modules.items():
        graph[name] = edges = set()
        if path is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_targets(node, name, is_package, modules))
    return graph


def _strongly_connected(graph):
    """Tarjan's algorithm: the strongly connected components of ``graph``, each a sorted list."""
    index, low, stack, components = {}, {}, [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            cut = stack.index(node)
            components.append(sorted(stack[cut:]))
            del stack[cut:]

    for root in sorted(graph):
        if root not in index:
            visit(root)
    return components


def find_cycles():
    """Every import cycle of the package, each a sorted list of module names."""
    graph = _graph(_modules())
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    cycles += [[name] for name, edges in graph.items() if name in edges]
    return sorted(cycles)


def _is_shim(tree):
    """Whether a module body is only imports and ``__all__`` (with at least one import)."""
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    has_import = False
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            has_import = True
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                return False
        else:
            return False
    return has_import


def _own_package_only(name, tree, modules):
    """Whether every import of package ``name``'s ``__init__`` comes from one of its own submodules."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if not all(alias.name.startswith(name + ".") for alias in node.names):
                return False
        elif isinstance(node, ast.ImportFrom):
            source = _resolve_relative(node, name, True) if node.level else node.module
            if not (source or "").startswith(name + "."):
                return False
    return True


def find_shims():
    """Modules that are pure re-export shims and are not an allowed package ``__init__``."""
    modules = _modules()
    shims = []
    for name, (path, is_package) in modules.items():
        if path is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if not _is_shim(tree) or name == PACKAGE:
            continue
        if is_package and _own_package_only(name, tree, modules):
            continue
        shims.append(name)
    return shims


def test_scanner_itself():
    """The checks themselves: a deferred import inside a function is an edge, cycles and shims are found."""
    tree = ast.parse("def f():\n    from corral.automata import dfa\n")
    modules = _modules()
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    edges = {t for n in nodes for t in _targets(n, "corral.x", False, modules)}
    assert edges == {"corral.automata.dfa"}
    assert _strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"], ["c"]]
    assert _is_shim(ast.parse('"""Doc."""\nfrom corral.a import b\n__all__ = ["b"]\n'))
    assert not _is_shim(ast.parse("from corral.a import b\n\ndef f():\n    return b\n"))


def test_no_import_cycles():
    """No two ``corral`` modules depend on each other, directly or through others."""
    cycles = find_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_reexport_shims():
    """No module exists only to re-export names defined elsewhere (see the module docstring for exceptions)."""
    shims = find_shims()
    assert not shims, f"pure re-export shims: {shims}"


if __name__ == "__main__":
    for cycle in find_cycles():
        print(" <-> ".join(cycle))
    print("shims:", find_shims())
    pytest.main([__file__])
