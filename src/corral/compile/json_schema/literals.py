"""Literal values for the JSON Schema compiler: ``type: null``, ``type: boolean`` and ``enum``/``const``."""

from __future__ import annotations

import json
import re

from corral.budget import checkpoint
from corral.compile.json_schema import layout
from corral.compile.json_schema.oracle import instance_valid
from corral.compile.json_schema.vocab import NOT_ENUM, dump, is_annotation, type_of
from corral.errors import SchemaError

__all__ = ["compile_null", "compile_boolean", "compile_enum", "number_spellings"]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integral(v) -> bool:
    """Whether the number ``v`` has an integral value (ints of any size included)."""
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def number_spellings(v) -> list[str]:
    """The canonical texts (``json.dumps``) of the JSON numbers equal to ``v`` for jsonschema: ``v``'s own, and for
    an integral value both the integer and the float spelling when each is exactly equal (``1``, ``1.0``; ``0``,
    ``0.0``, ``-0.0``; ``1e+16``)."""
    out = [json.dumps(v)]
    if _integral(v):
        out.append(json.dumps(int(v)))
        try:
            if float(v) == v:
                out.append(json.dumps(float(v)))
        except OverflowError:
            pass
        if v == 0:  # 0, 0.0 and -0.0 are equal (-0.0's own spellings above miss 0.0)
            out += ["0.0", "-0.0"]
    return list(dict.fromkeys(out))


def excluded(node, value) -> bool:
    """Whether ``value`` is one of the values a negated ``enum``/``const`` of ``node`` excludes."""
    d = json.dumps(value)
    return any(json.dumps(v) == d for v in node.get(NOT_ENUM, ()) if type_of(v) == type_of(value))


def compile_null(b, node, pointer) -> str:
    """``null``, unless excluded."""
    return b.lit("null") if not excluded(node, None) else b.never()


def compile_boolean(b, node, pointer) -> str:
    """``true`` and ``false``, unless excluded."""
    n = b.nt("bool")
    for v in (True, False):
        if not excluded(node, v):
            b.rule(n, b.lit(json.dumps(v)))
    b.rule(n, b.never())
    return n


def compile_enum(b, node, pointer, name, types) -> None:
    """Rules ``name -> value`` for the ``enum``/``const`` values of ``types`` that satisfy the other keywords."""
    lists = []
    if "enum" in node:
        if not isinstance(node["enum"], list):
            raise SchemaError("enum must be an array", pointer=b.kp(node, pointer, "enum"), keyword="enum")
        lists.append([(v, dump(v, b.kp(node, pointer, "enum", i), "enum")) for i, v in enumerate(node["enum"])])
    if "const" in node:
        lists.append([(node["const"], dump(node["const"], b.kp(node, pointer, "const"), "const"))])
    allowed = set(types) | ({"integer"} if "number" in types else set())
    keep = [(v, d) for v, d in lists[0] if all(d in {e for _, e in other} for other in lists[1:])]
    keep = [(v, d) for v, d in keep if type_of(v) in allowed or (
        b.options.integral_floats and "integer" in allowed and _is_number(v) and _integral(v))]
    rest = {k: v for k, v in node.items() if k not in ("type", "enum", "const") and not is_annotation(k)}
    if rest:
        keep = [(v, d) for v, d in keep if instance_valid(b, rest, pointer, v, node)]
    kw = "enum" if "enum" in node else "const"
    if not keep:
        raise SchemaError(f"no {kw} value satisfies the other keywords", pointer=b.kp(node, pointer, kw), keyword=kw,
                          kind="unsatisfiable")
    # only integer literals are integers here (draft-04, or integral_floats off): 2.0 == 2 is spelled "2"
    ints_only = "integer" in allowed and "number" not in types and not b.options.float_integers
    for v, d in dict((d, (v, d)) for v, d in keep).values():
        checkpoint("enum")
        if ints_only and _is_number(v):
            b.rule(name, b.lit(json.dumps(int(v))))
        elif _spelled_apart(b, v):
            b.rule(name, _literal_symbol(b, v, b.kp(node, pointer, kw)))
        else:
            b.rule(name, *layout.value_symbols(b, v))


def _spelled_apart(b, v) -> bool:
    """Whether the options make ``v`` more than its compact literal: an object of two or more keys with
    ``property_order="any"``, or an integral number with ``integral_floats``."""
    if isinstance(v, dict):
        return (b.options.any_order and len(v) > 1) or any(_spelled_apart(b, x) for x in v.values())
    if isinstance(v, list):
        return any(_spelled_apart(b, x) for x in v)
    return b.options.integral_floats and _is_number(v) and _integral(v)


def _literal_symbol(b, v, pointer: str) -> str:
    """A symbol for every spelling of the value ``v`` that the options allow (numbers: :func:`number_spellings`;
    objects: their keys in any order)."""
    if not isinstance(v, (dict, list)):
        return b.term("|".join(re.escape(x) for x in number_spellings(v)))
    children = [{"const": x} for x in (v.values() if isinstance(v, dict) else v)]
    if isinstance(v, dict):
        node = {"type": "object", "properties": dict(zip(v, children)), "required": list(v),
                "additionalProperties": False}
    else:
        node = {"type": "array", "prefixItems": children, "items": False, "minItems": len(v)}
    for d in [node] + children:  # synthetic: memoised by identity, not by pointer (shared by all the values)
        b.origin[id(d)] = {}
        b.keep.append(d)
    return b.schema(node, pointer)
