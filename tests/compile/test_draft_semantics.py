"""Every option follows the schema's declared draft (issue 14): for each draft, schemas whose meaning depends on it
are compiled (with ``integral_floats=True``, the option that reaches furthest) and every candidate instance is
accepted iff python-jsonschema's validator class *of that draft* accepts it.

Drafts and their draft-dependent rules checked here:

* draft-04: ``1.0`` is not an ``integer`` (but still equals ``enum: [1]``); ``exclusiveMinimum``/``exclusiveMaximum``
  are booleans modifying ``minimum``/``maximum``; ``const``, ``contains``, ``propertyNames``, ``if`` are unknown
  (annotations); ``id`` (not ``$id``) sets the base URI; ``$ref`` siblings are ignored.
* draft-06, draft-07: ``1.0`` is an integer; numeric exclusive bounds; ``dependencies``; array ``items`` with
  ``additionalItems``; ``$ref`` siblings ignored; ``if`` only from draft-07.
* 2019-09: ``$ref`` siblings apply; ``dependentRequired``/``dependentSchemas``; ``dependencies`` is unknown.
* 2020-12: ``prefixItems``; ``additionalItems`` and ``dependencies`` are unknown; array ``items`` is an invalid
  schema (a clear error).
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from corral.compile.json_schema import schema_to_grammar
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])

DRAFTS = {
    "draft-04": ("http://json-schema.org/draft-04/schema#", jsonschema.Draft4Validator),
    "draft-06": ("http://json-schema.org/draft-06/schema#", jsonschema.Draft6Validator),
    "draft-07": ("http://json-schema.org/draft-07/schema#", jsonschema.Draft7Validator),
    "2019-09": ("https://json-schema.org/draft/2019-09/schema", jsonschema.Draft201909Validator),
    "2020-12": ("https://json-schema.org/draft/2020-12/schema", jsonschema.Draft202012Validator),
}

# (schema without $schema, candidate instances): each is compiled under every draft whose metaschema admits it.
CASES = {
    "integer": ({"type": "integer"}, [1, 1.0, -0.0, 0, 2.5, "1", 10 ** 20]),
    "integer bounds": ({"type": "integer", "minimum": 0, "maximum": 3}, [0, 3, 3.0, 4, -1, 1.5]),
    "enum of an integer": ({"enum": [1, "a"]}, [1, 1.0, "a", 2, True]),
    "integer enum": ({"type": "integer", "enum": [1, 2.0]}, [1, 1.0, 2, 2.0, 3]),
    "number or integer": ({"type": ["integer", "string"]}, [1, 1.0, "x", 2.5, None]),
    "boolean exclusive bound": ({"type": "number", "minimum": 3, "exclusiveMinimum": True,
                                 "maximum": 5, "exclusiveMaximum": False}, [3, 3.5, 5, 5.5, 2]),
    "numeric exclusive bound": ({"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 6},
                                [3, 4, 5, 6, 7]),
    "const": ({"const": 2}, [2, 3, "x", None]),
    "contains": ({"type": "array", "contains": {"type": "string"}, "maxItems": 2}, [[], [1], ["a"], [1, "a"]]),
    "propertyNames": ({"type": "object", "propertyNames": {"maxLength": 1}, "maxProperties": 2},
                      [{}, {"a": 1}, {"ab": 1}]),
    "if then": ({"if": {"type": "integer"}, "then": {"minimum": 5}, "else": {"type": "string"}},
                [6, 1, "x", None]),
    "dependencies": ({"type": "object", "dependencies": {"a": ["b"]}, "maxProperties": 2},
                     [{}, {"a": 1}, {"a": 1, "b": 2}, {"b": 2}]),
    "dependentRequired": ({"type": "object", "dependentRequired": {"a": ["b"]}, "maxProperties": 2},
                          [{}, {"a": 1}, {"a": 1, "b": 2}]),
    "tuple items": ({"type": "array", "items": [{"type": "integer"}], "additionalItems": False},
                    [[], [1], [1, 2], ["x"]]),
    "prefixItems": ({"type": "array", "prefixItems": [{"type": "integer"}], "items": False},
                    [[], [1], [1, 2], ["x"]]),
    "additionalItems alone": ({"type": "array", "items": {"type": "integer"}, "additionalItems": False,
                               "maxItems": 2}, [[], [1], [1, 2]]),
    "ref siblings": ({"$defs": {"s": {"type": "string"}}, "definitions": {"s": {"type": "string"}},
                      "$ref": "#/definitions/s", "maxLength": 1}, ["a", "ab", 1]),
    "id base URI": ({"id": "http://example.com/root.json", "$id": "http://example.com/other/root.json",
                     "definitions": {"a": {"id": "item.json", "$id": "thing.json", "type": "string"},
                                     "b": {"id": "thing.json", "$id": "item.json", "type": "integer"}},
                     "properties": {"x": {"$ref": "item.json"}}, "required": ["x"], "additionalProperties": False},
                    [{"x": "s"}, {"x": 1}]),
}


def _accepts(cg: CompiledGrammar, value) -> bool:
    return cg.accepts(json.dumps(value, separators=(",", ":")).encode())


def _admitted(draft: str, schema: dict) -> bool:
    """Whether the draft's own metaschema admits ``schema`` (else it is not a schema of that draft)."""
    uri, cls = DRAFTS[draft]
    try:
        cls.check_schema({"$schema": uri, **schema})
    except jsonschema.SchemaError:
        return False
    return True


@pytest.mark.parametrize("draft", list(DRAFTS))
@pytest.mark.parametrize("case", list(CASES))
def test_language_follows_the_declared_draft(draft, case):
    """corral's language under ``$schema`` = the instances that draft's jsonschema validator class accepts."""
    schema, candidates = CASES[case]
    if not _admitted(draft, schema):
        pytest.skip(f"{case!r} is not a valid {draft} schema (its metaschema refuses it); tested in the error cases")
    uri, cls = DRAFTS[draft]
    full = {"$schema": uri, **schema}
    cg = CompiledGrammar(schema_to_grammar(full, integral_floats=True, property_order="any"), VOCAB)
    validator = cls(full)
    wrong = [(v, validator.is_valid(v)) for v in candidates if _accepts(cg, v) != validator.is_valid(v)]
    assert not wrong, f"{draft} {case}: (instance, jsonschema's verdict) where corral differs: {wrong}"


@pytest.mark.parametrize("draft,schema,keyword", [
    ("draft-04", {"exclusiveMinimum": 3}, "exclusiveMinimum"),
    ("draft-07", {"minimum": 3, "exclusiveMinimum": True}, "exclusiveMinimum"),
    ("2020-12", {"items": [{"type": "integer"}]}, "items"),
])
def test_a_form_the_declared_draft_forbids_is_an_error(draft, schema, keyword):
    """What a draft's metaschema refuses is a SchemaError naming the keyword, not another draft's meaning."""
    uri, cls = DRAFTS[draft]
    assert not _admitted(draft, schema)
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"$schema": uri, **schema})
    assert info.value.keyword == keyword and info.value.pointer == f"/{keyword}" and info.value.kind == "invalid"


def test_integral_floats_is_honoured_where_the_draft_allows_it():
    """A control for the draft-04 rule: without ``$schema`` (2020-12 semantics) ``1.0`` is an integer."""
    cg = CompiledGrammar(schema_to_grammar({"type": "integer"}, integral_floats=True), VOCAB)
    assert _accepts(cg, 1.0) and _accepts(cg, 1)
    uri, _ = DRAFTS["draft-04"]
    cg4 = CompiledGrammar(schema_to_grammar({"$schema": uri, "type": "integer"}, integral_floats=True), VOCAB)
    assert _accepts(cg4, 1) and not _accepts(cg4, 1.0)


@pytest.mark.parametrize("schema,texts", [
    ({"not": {"const": 1.0}, "oneOf": [{"const": 1}, {"const": 2}]}, ["1", "2"]),
    ({"not": {"type": "integer"}, "enum": [1.0, 2.5]}, ["1.0", "2.5"]),
    ({"not": {"const": {"a": 1.0}}, "enum": [{"a": 1}, {"a": 2}]}, ['{"a":1}', '{"a":2}']),
    ({"not": {"enum": [[1]]}, "enum": [[1.0], [2]]}, ["[1.0]", "[2]"]),
    ({"dependencies": {"a": ["b"]}, "enum": [{"a": 1}, {"a": 1, "b": 2}]}, ['{"a":1}', '{"a":1,"b":2}']),
    ({"items": [{"type": "integer"}], "additionalItems": False, "enum": [[1], [1, 2], ["x"]]},
     ["[1]", "[1,2]", '["x"]']),
])
def test_negated_values_compare_as_jsonschema_does(schema, texts):
    """fuzz/findings/schema/invariant-51f3e03eb8: ``enum``/``const`` values were filtered by the schema's other
    keywords with JSON-text equality, so ``not: {const: 1.0}`` let ``1`` through (jsonschema: ``1 == 1.0``), and
    ``not: {type: integer}`` let ``1.0`` through (an integer from draft-06 on); crash-38a1ec23cf: draft-07 array
    ``items`` and ``dependencies`` beside ``enum`` crashed (or were ignored by) that filter. Each text is accepted
    iff valid (draft-07 spellings validated as draft-07)."""
    cg = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    draft07 = "dependencies" in schema or isinstance(schema.get("items"), list)
    validator = (jsonschema.Draft7Validator if draft07 else jsonschema.Draft202012Validator)(schema)
    for text in texts:
        assert cg.accepts(text.encode()) == validator.is_valid(json.loads(text)), text
