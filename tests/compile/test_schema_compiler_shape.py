"""The shape of the JSON Schema compiler (issue 13): small modules and functions, no mixins, documented public names,
and keyword tables that route every keyword the compiler supports.

The compiler is a :class:`~corral.compile.json_schema.builder.Builder` passed to plain functions registered in
tables (python-jsonschema's keyword -> function shape); these checks keep it that way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from corral.compile.json_schema import atoms, checks, logic, merge
from corral.compile.json_schema.vocab import MAX_OF, MIN_OF, SUPPORTED, TYPES

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "corral" / "compile" / "json_schema"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 90  # counting decorators and the docstring


def _modules():
    return sorted(PACKAGE.glob("*.py"))


def _tree(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_module_is_small(path):
    """No module of the compiler is over MAX_MODULE_LINES lines."""
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_functions_are_small(path):
    """No function of the compiler is over MAX_FUNCTION_LINES lines, docstring included."""
    long = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                long.append(f"{node.name}: {node.end_lineno - start + 1} lines")
    assert not long, long


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_mixins(path):
    """No class inherits from several bases or from a ``...Mixin`` (state lives in the Builder, passed explicitly)."""
    bad = [node.name for node in ast.walk(_tree(path)) if isinstance(node, ast.ClassDef) and (
        len(node.bases) > 1 or any("Mixin" in ast.unparse(base) for base in node.bases) or "Mixin" in node.name)]
    assert not bad, bad


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_public_names_have_docstrings(path):
    """Every module, public class and public top-level function (and public method) has a docstring."""
    tree = _tree(path)
    missing = [] if ast.get_docstring(tree) else ["<module>"]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if not ast.get_docstring(node):
                missing.append(node.name)
            if isinstance(node, ast.ClassDef):
                missing += [f"{node.name}.{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)
                            and not m.name.startswith("_") and not ast.get_docstring(m)]
    assert not missing, missing


def test_every_type_has_a_compiler():
    """``TYPE_COMPILERS`` has one function per JSON Schema type."""
    assert set(atoms.TYPE_COMPILERS) == set(TYPES)


def test_keyword_tables_name_known_keywords():
    """The keyword tables only name supported keywords (or the compiler's internal ones, which are tuples)."""
    for table in (logic.EXPANDERS, logic.NEGATORS, merge.MERGERS, dict(checks.KEYWORD_CHECKS)):
        unknown = [k for k in table if isinstance(k, str) and k not in SUPPORTED]
        assert not unknown, unknown


def test_every_bound_merges_to_the_tightest_value():
    """Every lower and upper bound keyword has the bound merger, and an ``allOf`` keeps the tightest value."""
    assert all(merge.MERGERS[k] is merge.MERGERS["minimum"] for k in MAX_OF + MIN_OF)
    merged = {"allOf": [{"type": "integer", "minimum": 1, "maximum": 5}, {"minimum": 3, "maximum": 9}]}
    assert _integers({"type": "integer", "minimum": 3, "maximum": 5}) == _integers(merged) == {3, 4, 5}


def _integers(schema) -> set[int]:
    """The integers from -20 to 20 whose text the schema's grammar accepts."""
    from corral.compile.json_schema import schema_to_grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary

    vocab = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
    cg = CompiledGrammar(schema_to_grammar(schema), vocab)
    return {n for n in range(-20, 21) if cg.accepts(str(n).encode())}
