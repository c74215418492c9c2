"""Applicator-free schemas ("atoms"): one branch per allowed type, each compiled by the function of
:data:`TYPE_COMPILERS`, or the values of an ``enum``/``const``."""

from __future__ import annotations

from corral.compile.json_schema import arrays, literals, numbers, objects, strings
from corral.compile.json_schema.checks import validate_keywords
from corral.compile.json_schema.dnf import COMBINATORS
from corral.compile.json_schema.vocab import TYPES
from corral.errors import SchemaError

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


def node_types(b, node: dict, pointer: str) -> list[str]:
    """The types ``node`` allows, in :data:`~corral.compile.json_schema.vocab.TYPES` order for a missing ``type``
    (``integer`` dropped beside ``number``)."""
    if "type" not in node:
        return [t for t in TYPES if t != "integer"]
    t = node["type"]
    ts = [t] if isinstance(t, str) else t
    if (not isinstance(ts, list) or not ts or len(set(map(repr, ts))) != len(ts)
            or not all(isinstance(x, str) and x in TYPES for x in ts)):
        raise SchemaError(f"invalid type {t!r}", pointer=b.kp(node, pointer, "type"), keyword="type")
    if "number" in ts and "integer" in ts:
        ts = [x for x in ts if x != "integer"]
    return ts


def compile_atom(b, node: dict, pointer: str, name: str) -> None:
    """Rules ``name -> branch`` for an applicator-free schema: its ``enum``/``const`` values, or one branch per type."""
    types = node_types(b, node, pointer)
    if "enum" in node or "const" in node:
        literals.compile_enum(b, node, pointer, name, types)
        return
    validate_keywords(b, node, pointer)
    for t in types:
        b.rule(name, TYPE_COMPILERS[t](b, node, pointer))
