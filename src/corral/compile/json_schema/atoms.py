"""Applicator-free schemas ("atoms"): one branch per allowed type, each compiled by the function of
:data:`TYPE_COMPILERS`, or the values of an ``enum``/``const``."""

from __future__ import annotations

from corral.compile.json_schema import arrays, literals, numbers, objects, strings
from corral.compile.json_schema.checks import node_types, validate_keywords
from corral.compile.json_schema.dnf import COMBINATORS

__all__ = ["TYPE_COMPILERS", "is_atom", "node_types", "compile_atom"]

#: ``type`` -> ``compile(b, node, pointer) -> symbol`` for the instances of that type that ``node`` allows.
TYPE_COMPILERS = {
    "null": literals.compile_null,
    "boolean": literals.compile_boolean,
    "object": objects.compile_object,
    "array": arrays.compile_array,
    "number": numbers.compile_number,
    "integer": numbers.compile_integer,
    "string": strings.compile_string,
}


def is_atom(node) -> bool:
    """Whether ``node`` has no applicator keyword (it compiles directly, type by type)."""
    return isinstance(node, dict) and not any(k in COMBINATORS for k in node)


def compile_atom(b, node: dict, pointer: str, name: str) -> None:
    """Rules ``name -> branch`` for an applicator-free schema: its ``enum``/``const`` values, or one branch per type."""
    types = node_types(b, node, pointer)
    if "enum" in node or "const" in node:
        literals.compile_enum(b, node, pointer, name, types)
        return
    validate_keywords(b, node, pointer)
    for t in types:
        b.rule(name, TYPE_COMPILERS[t](b, node, pointer))
