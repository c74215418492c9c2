"""The shape check (:mod:`corral.compile.json_schema.shapes`): a keyword holding a value of a form no draft allows
is a SchemaError (``kind="invalid"``) naming the keyword and the JSON pointer of the bad value, never a TypeError or
KeyError from deep in the compiler (each row below crashed the compiler before, found by the fuzzer)."""

from __future__ import annotations

import pytest

from corral.compile.json_schema import schema_to_grammar
from corral.compile.json_schema.shapes import SHAPES
from corral.compile.json_schema.vocab import KNOWN, TAKES
from corral.errors import SchemaError

ROWS = [
    ({"not": {"oneOf": True}}, "oneOf", "/not/oneOf"),
    ({"not": {"allOf": False}}, "allOf", "/not/allOf"),
    ({"oneOf": [{}, {"anyOf": True}]}, "anyOf", "/oneOf/1/anyOf"),
    ({"oneOf": [{"not": {"required": [[]]}}]}, "required", "/oneOf/0/not/required/0"),
    ({"oneOf": [{"type": [{}]}]}, "type", "/oneOf/0/type"),
    ({"allOf": [{"not": {"oneOf": {"": 0, "$": {}}}}]}, "oneOf", "/allOf/0/not/oneOf"),
    ({"propertyNames": {"format": {}}}, "format", "/propertyNames/format"),
    ({"dependentSchemas": {"": {"required": [{}]}}}, "required", "/dependentSchemas//required/0"),
    ({"enum": [""], "pattern": []}, "pattern", "/pattern"),
    ({"maximum": {}, "enum": [1]}, "maximum", "/maximum"),
    ({"const": {}, "dependentRequired": 0}, "dependentRequired", "/dependentRequired"),
    ({"const": {"": 0}, "unevaluatedProperties": {"type": {"": {}}}}, "type", "/unevaluatedProperties/type"),
    ({"enum": [{"": 0}], "patternProperties": {"(": {}}}, "patternProperties", "/patternProperties/("),
    ({"not": {"const": float("inf")}}, "const", "/not/const"),
    ({"enum": [1, float("nan")]}, "enum", "/enum"),
    ({"$schema": [{}]}, "$schema", "/$schema"),
    ({"$id": "p://[", "$ref": "x"}, "$ref", "/$ref"),
    ({"$defs": {"": {"$id": "t", "then": {"$id": "h://["}}}}, "$id", "/$defs//then/$id"),
    ({"$ref": "#/x-data", "x-data": {"minLength": -1}}, "minLength", "/x-data/minLength"),
    ({"minItems": 1.5}, "minItems", "/minItems"),
    ({"multipleOf": 0}, "multipleOf", "/multipleOf"),
    ({"type": ["string", "string"]}, "type", "/type"),
    ({"items": [{}, 3]}, "items", "/items/1"),
    ({"properties": {"a": 3}}, "properties", "/properties/a"),
]


@pytest.mark.parametrize("schema,keyword,pointer", ROWS)
def test_malformed_keyword_values_are_invalid_schemas(schema, keyword, pointer):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema)
    assert (info.value.kind, info.value.keyword, info.value.pointer) == ("invalid", keyword, pointer)


def test_every_keyword_with_a_value_form_has_a_shape():
    """Every known keyword whose value form :data:`TAKES` lists is shape-checked (annotations aside)."""
    skip = {"id", "extends", "disallow"}  # draft-3 keywords the compiler refuses; "id" is checked by draft-04 only
    assert {k for k in TAKES if k in KNOWN} - set(SHAPES) - skip == set()


def test_numbers_beyond_floats_are_errors_not_overflows():
    """A 400-digit multipleOf (an OverflowError in float conversion before) is an unsupported schema."""
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"multipleOf": 10 ** 400})
    assert info.value.kind == "unsupported"
