"""Keyword vocabulary and small helpers shared by the JSON Schema compiler modules."""

from __future__ import annotations

import difflib
import json

from corral.errors import SchemaError

__all__ = ["ANNOTATIONS", "KNOWN", "SUPPORTED", "TYPES", "NUMBER", "MAX_COUNT", "MAX_NUMBER_BOUND", "is_annotation",
           "ptr", "esc", "type_of", "dump", "NOT_ENUM", "NOT_PATTERN", "PATTERNS", "NON_INTEGER", "INTERNAL",
           "BY_TYPE", "MAX_OF", "MIN_OF", "NOT_MULTIPLE", "SOME_KEY", "NOT_FORMAT", "METADATA", "EXTENSIONS", "TAKES",
           "is_extension", "suggest_keyword", "type_set"]

ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$schema", "$id", "$comment",
                         "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "$anchor",
                         "contentEncoding", "contentMediaType", "contentSchema", "id"})
# Every keyword that has a meaning for validation or reference resolution in drafts 4 to 2020-12. A keyword outside
# this set is unknown, and unknown keywords are annotations (JSON Schema 2020-12 core, section 6.5): they never change
# which instances are valid, so ignoring them is exact (e.g. "x-kubernetes-*", "self", "_format", "links").
KNOWN = frozenset({
    "$ref", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$vocabulary", "type", "enum",
    "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
    "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
    "required", "dependentRequired", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "prefixItems", "items", "additionalItems", "contains", "properties", "patternProperties", "additionalProperties",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "format", "dependencies", "divisibleBy", "extends",
    "disallow",
}) | ANNOTATIONS

# Annotations whose misspelling changes nothing (neither validity nor reference resolution): never suggested as the
# intended spelling of an unknown keyword ("example" is not flagged as a typo of "examples").
METADATA = frozenset({"title", "description", "examples", "default", "$comment", "deprecated", "readOnly",
                      "writeOnly", "contentEncoding", "contentMediaType", "contentSchema"})
# Unknown keywords that are extensions by convention, not typos: OpenAPI's "discriminator" (which pydantic emits
# beside the oneOf of a discriminated union) and every "x-" keyword.
EXTENSIONS = frozenset({"discriminator"})
_SCHEMA = frozenset({"object", "boolean"})
_NUM = frozenset({"integer", "number"})
# The JSON types of the values each known keyword takes (any value for the others): an unknown keyword is only taken
# for a misspelling of one whose value it could be ("form": [...] is not a misspelt "format").
TAKES = {
    **dict.fromkeys(("not", "if", "then", "else", "additionalProperties", "contains", "propertyNames",
                     "additionalItems", "unevaluatedItems", "unevaluatedProperties"), _SCHEMA),
    "items": _SCHEMA | {"array"},
    **dict.fromkeys(("allOf", "anyOf", "oneOf", "prefixItems", "enum"), frozenset({"array"})),
    **dict.fromkeys(("properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
                     "dependentRequired", "dependencies", "$vocabulary"), frozenset({"object"})),
    **dict.fromkeys(("multipleOf", "maximum", "minimum", "maxLength", "minLength", "maxItems", "minItems",
                     "maxContains", "minContains", "maxProperties", "minProperties", "divisibleBy"), _NUM),
    **dict.fromkeys(("exclusiveMaximum", "exclusiveMinimum"), _NUM | {"boolean"}),
    **dict.fromkeys(("uniqueItems", "$recursiveAnchor"), frozenset({"boolean"})),
    **dict.fromkeys(("$ref", "$dynamicRef", "$recursiveRef", "$dynamicAnchor", "format", "pattern", "$schema", "$id",
                     "$anchor", "id"), frozenset({"string"})),
    **dict.fromkeys(("type", "disallow"), frozenset({"string", "array"})),
    "extends": frozenset({"object", "array"}),
    "required": frozenset({"array", "boolean"}),
}

# Internal keywords (tuples, so they never collide with a schema's string keys), made by negation and merging.
NOT_ENUM = ("corral", "notEnum")  # list of values the instance must differ from
NOT_PATTERN = ("corral", "notPattern")  # list of ECMAScript patterns a string must not match
PATTERNS = ("corral", "patterns")  # list of ECMAScript patterns a string must match (besides "pattern")
NON_INTEGER = ("corral", "nonInteger")  # a number spelled with a fraction or an exponent
NOT_MULTIPLE = ("corral", "notMultiple")  # list of positive integers a number must not be a multiple of
SOME_KEY = ("corral", "someKey")  # list of string schemas: for each, some key of the object satisfies it
NOT_FORMAT = ("corral", "notFormat")  # list of formats a string must not satisfy
INTERNAL = frozenset({NOT_ENUM, NOT_PATTERN, PATTERNS, NON_INTEGER, NOT_MULTIPLE, SOME_KEY, NOT_FORMAT})


def is_annotation(key) -> bool:
    """Whether ``key`` never affects validation: a listed annotation, or a keyword no draft defines."""
    if not isinstance(key, str):
        return False
    return key in ANNOTATIONS or key not in KNOWN


def is_extension(key) -> bool:
    """Whether the unknown keyword ``key`` is a conventional extension (``x-...``, :data:`EXTENSIONS`)."""
    return isinstance(key, str) and (key.startswith("x-") or key in EXTENSIONS)


def suggest_keyword(key: str, value, exclude=frozenset()) -> str | None:
    """The known keyword that the unknown keyword ``key`` (with ``value``) probably misspells, or None.

    Parameters
    ----------
    key : str
        A keyword outside :data:`KNOWN`.
    value : object
        Its value: only keywords that take such a value (:data:`TAKES`) are suggested.
    exclude : set of str
        Keywords not to suggest (those the schema's draft makes annotations).

    Returns
    -------
    str or None
        The closest keyword of ``KNOWN - METADATA - exclude`` by :func:`difflib.get_close_matches` (cutoff 0.8);
        None for an extension (:func:`is_extension`), a keyword with a leading underscore (the usual way to disable
        one on purpose: ``_format``) or when none is close.
    """
    if is_extension(key) or key.startswith("_"):
        return None
    try:
        kind = type_of(value)
    except TypeError:
        return None
    kinds = {kind, "number"} if kind == "integer" else {kind}
    candidates = sorted(k for k in KNOWN - METADATA - frozenset(exclude) if kinds & TAKES.get(k, kinds))
    found = difflib.get_close_matches(key, candidates, n=1, cutoff=0.8)
    return found[0] if found else None


TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
BY_TYPE = {
    "array": ("items", "prefixItems", "minItems", "maxItems", "additionalItems", "contains", "minContains",
              "maxContains", "uniqueItems"),
    "object": ("properties", "required", "additionalProperties", "minProperties", "maxProperties",
               "patternProperties", "propertyNames", "dependentRequired"),
    "string": ("minLength", "maxLength", "pattern", "format"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
}
SUPPORTED = frozenset(k for v in BY_TYPE.values() for k in v) | {
    "type", "enum", "const", "anyOf", "$ref", "allOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "dependencies", "multipleOf"}
MAX_OF = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
MIN_OF = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
MAX_COUNT = 1000
MAX_NUMBER_BOUND = 1e100


def esc(token: str) -> str:
    """Escape one RFC 6901 reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def ptr(pointer: str, *parts) -> str:
    """``pointer`` extended by ``parts`` (escaped)."""
    return pointer + "".join("/" + esc(str(p)) for p in parts)


def type_of(value) -> str:
    """The JSON type name of a Python JSON value (``integer`` for ints, ``number`` for floats)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value).__name__)


def dump(value, pointer: str, keyword: str) -> str:
    """Compact JSON text of ``value``; SchemaError (invalid) if it is not JSON."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"not a JSON value: {exc}", pointer=pointer, keyword=keyword) from None


def type_set(value, pointer: str) -> set[str]:
    """The types a ``type`` keyword's ``value`` (found at ``pointer``) allows, ``integer`` included with ``number``;
    SchemaError (invalid) if it is not a type name or a non-empty array of them."""
    ts = [value] if isinstance(value, str) else value
    if not isinstance(ts, list) or not ts or not all(isinstance(t, str) and t in TYPES for t in ts):
        raise SchemaError(f"invalid type {value!r}", pointer=pointer, keyword="type")
    out = set(ts)
    return out | ({"integer"} if "number" in out else set())
