"""``not`` over the array and object applicators (``contains``, ``items``, ``prefixItems``, ``propertyNames``,
``additionalProperties``, ``dependentRequired``/``dependentSchemas``): grammar acceptance == jsonschema validity.

Oracle: ``test_json_schema.oracle`` (default options) and jsonschema's Draft202012Validator (exact options). Every
schema is also compiled wrongly on purpose, its negation taken as the positive schema, and the same check must catch
it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, reject, settings

from corral.compile.json_schema import schema_to_grammar
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar

from schema_checks import cg_for, mismatches
from test_json_schema import JSON, VOCAB, n_orderings


SCHEMAS = [
    # contains, minContains, maxContains
    {"not": {"contains": {"const": 1}}},
    {"not": {"contains": {"type": "string"}, "minContains": 2}},
    {"not": {"contains": {"type": "integer"}, "maxContains": 1}},
    {"not": {"contains": {"type": "integer"}, "minContains": 2, "maxContains": 3}},
    {"type": "array", "items": {"type": "integer"}, "not": {"contains": {"minimum": 3}}},
    {"not": {"contains": False}},
    # items, prefixItems
    {"not": {"items": {"type": "string"}}},
    {"not": {"items": False}},
    {"not": {"prefixItems": [{"type": "string"}], "items": False}},
    {"not": {"prefixItems": [{"type": "integer"}, {"const": "a"}]}},
    {"not": {"items": {"not": {"enum": [1, "a"]}}}},
    {"not": {"items": {"type": "array", "items": {"type": "integer"}}}},
    # propertyNames, additionalProperties
    {"not": {"propertyNames": {"not": {"const": "a"}}}},
    {"not": {"propertyNames": {"not": {"enum": ["a", "ab", 1]}}}},
    {"not": {"propertyNames": False}},
    {"not": {"propertyNames": {"type": "number"}}},
    {"not": {"anyOf": [{"propertyNames": {"not": {"enum": ["a", "b"]}}},
                       {"propertyNames": {"not": {"enum": ["b", "k"]}}}]}},
    {"not": {"additionalProperties": False}},
    # some key of an infinite language (SOME_KEY, witness.py)
    {"not": {"propertyNames": {"maxLength": 1}}},
    {"not": {"propertyNames": {"enum": ["a", "b"]}}},
    {"not": {"patternProperties": {"^a": False}}},
    {"not": {"patternProperties": {"b$": False, "x": True}}},
    {"not": {"additionalProperties": False, "properties": {"a": {}}}},
    {"not": {"additionalProperties": False, "properties": {"a": {}}, "patternProperties": {"^b": {}}}},
    {"type": "object", "properties": {"ab": {"type": "integer"}, "k": {}}, "required": ["k"],
     "not": {"propertyNames": {"pattern": "^[ak]"}}},
    {"allOf": [{"not": {"propertyNames": {"maxLength": 1}}}, {"not": {"patternProperties": {"^a": False}}}]},
    {"maxProperties": 1, "additionalProperties": {"type": "integer"}, "not": {"propertyNames": {"pattern": "^a"}}},
    {"type": "object", "propertyNames": {"maxLength": 2}, "patternProperties": {"^k": {"type": "string"}},
     "not": {"propertyNames": {"pattern": "^[ab]"}}},
    # dependentRequired, dependentSchemas
    {"not": {"dependentRequired": {"a": ["b", "k"]}}},
    {"not": {"dependentSchemas": {"a": {"properties": {"b": {"type": "string"}}}}}},
    # combinations: allOf, if/then/else, double negation, not anyOf
    {"allOf": [{"not": {"contains": {"const": 1}}}, {"contains": {"type": "integer"}}]},
    {"if": {"contains": {"const": "x"}}, "then": {"maxItems": 2}, "else": {"minItems": 1}},
    {"not": {"not": {"items": {"type": "string"}}}},
    {"not": {"anyOf": [{"items": {"type": "integer"}}, {"contains": {"type": "null"}}]}},
    {"type": "object", "properties": {"a": {"not": {"contains": {"type": "string"}, "maxContains": 0}}}},
]


def _examples():
    out = [None, True, 0, 1, 3, 1.5, "", "a", "x", [], [1], [1, 1], [1, 1, 1], [1, 1, 1, 1], [3], [1, 3, 4],
           ["a"], ["a", "b"], ["a", "b", "c"], ["x"], ["x", 1], ["x", 1, 2], [1, "a"], ["a", 1], [None], [1, None],
           [[1]], [["a"]], [[]], [[1], [1.5]], [1.5], [True], {}, {"a": 1}, {"b": 1}, {"ab": 1}, {"a": 1, "b": 2},
           {"a": 1, "b": "s"}, {"a": 1, "k": 2}, {"a": 1, "b": 2, "k": 3}, {"k": 1}, {"b": 1, "k": 1},
           {"a": []}, {"a": ["s"]}, {"a": [1, "s"]}, {"": 1}, {"1": 1}, {"ba": 1}, {"xb": 1}, {"x": 1},
           {"k": "s", "ab": 1}, {"k": 1, "b": 2}, {"k": "s", "b": 2}, {"kk": "s"}, {"ab": 1, "k": 2, "xy": 3},
           {"aa": 1}, {"aa": 1, "b": 1}, {"abc": "s"}, {"ab": "s", "a": 1}]
    return out


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_examples_match_validator(index, exact):
    assert not mismatches(SCHEMAS[index], _examples(), exact)


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=JSON)
def test_random_instances_match_validator(index, x):
    if n_orderings(x) > 5000:
        reject()
    assert not mismatches(SCHEMAS[index], [x]), (SCHEMAS[index], x)


def _positive(schema, dropped: bool = False):
    """``schema`` with each outermost ``not: S`` replaced by ``S`` (``dropped``: removed): the negation compiled as
    the positive (or ignored), wrong on purpose."""
    if isinstance(schema, list):
        return [_positive(s, dropped) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _positive(v, dropped) for k, v in schema.items() if k != "not"}
    if "not" in schema and not dropped:
        out["allOf"] = out.get("allOf", []) + [schema["not"]]
    return out


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_the_check_catches_the_positive(index):
    schema = SCHEMAS[index]
    if '"not"' not in json.dumps(schema):
        pytest.skip("no not (if/then/else negates implicitly)")
    try:
        wrong = CompiledGrammar(schema_to_grammar(_positive(schema)), VOCAB)
    except SchemaError:  # the positive is unsupported (propertyNames: {not: ...}): the negation dropped instead
        wrong = CompiledGrammar(schema_to_grammar(_positive(schema, dropped=True)), VOCAB)
    assert mismatches(schema, _examples(), compiled=wrong)


@pytest.mark.parametrize("schema,pointer,keyword", [
    ({"not": {"prefixItems": [{}], "items": {"type": "null"}}}, "/not/items", "items"),
    ({"not": {"patternProperties": {"^a": {"type": "integer"}}}}, "/not/patternProperties/^a",
     "patternProperties"),
    ({"not": {"properties": {"a": {}}, "additionalProperties": {"type": "string"}}}, "/not/additionalProperties",
     "additionalProperties"),
])
def test_negations_that_stay_unsupported(schema, pointer, keyword):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema)
    assert (info.value.kind, info.value.pointer, info.value.keyword) == ("unsupported", pointer, keyword)


def test_not_applies_to_every_type():
    """A value of another type satisfies an array or object keyword, so its negation rejects it."""
    for schema in ({"not": {"contains": {"const": 1}}}, {"not": {"propertyNames": {"not": {"const": "a"}}}},
                   {"not": {"dependentRequired": {"a": ["b"]}}}, {"not": {"items": False}},
                   {"not": {"additionalProperties": False}}, {"not": {"prefixItems": [False]}}):
        cg = cg_for(schema)
        assert not any(cg.accepts(t) for t in (b"null", b'"a"', b"1", b"true")), schema
        other = "array" if "contains" in str(schema) or "Items" in str(schema) or "items" in str(schema) else \
            "object"
        with pytest.raises(SchemaError) as info:  # only arrays (objects) violate it
            schema_to_grammar({"type": ["null", "string", "number", "boolean",
                                        "object" if other == "array" else "array"], "allOf": [schema]})
        assert info.value.kind == "unsatisfiable"


# ------------------------------------------------------------------ allOf parts with object keywords of their own

MERGED = [
    {"allOf": [{"patternProperties": {"^a": {"type": "integer"}}}, {"patternProperties": {"b$": {"type": "string"}}}]},
    {"allOf": [{"patternProperties": {"a": {"minimum": 2}}}, {"patternProperties": {"a": {"maximum": 5}}}]},
    {"allOf": [{"patternProperties": {"a": True}, "additionalProperties": False},
               {"patternProperties": {"b": True}, "additionalProperties": False}]},
    {"allOf": [{"properties": {"k": {}}, "patternProperties": {"^a": {"type": "integer"}},
                "additionalProperties": False}, {"patternProperties": {"b": {"type": "string"}}}]},
    {"allOf": [{"additionalProperties": {"type": "integer"}}, {"properties": {"a": {}},
                                                                "additionalProperties": {"minimum": 2}}]},
    {"allOf": [{"properties": {"k": {}}, "additionalProperties": {"type": "integer"}},
               {"patternProperties": {"^a": {"maximum": 3}}}]},
    {"allOf": [{"propertyNames": {"maxLength": 2}}, {"propertyNames": {"pattern": "^[ab]"}}]},
    {"allOf": [{"propertyNames": {"enum": ["a", "ab", "b"]}}, {"propertyNames": {"pattern": "b"}}]},
    {"allOf": [{"properties": {"a.b": {}, "k$": {}}, "patternProperties": {"^x": True},
                "additionalProperties": False}, {"patternProperties": {"c": {"type": "null"}}}]},
    {"allOf": [{"additionalProperties": {"type": "integer"}},
               {"patternProperties": {"^a": {"default": 1}}, "additionalProperties": {"default": 2}}]},
    {"type": "object", "allOf": [{"patternProperties": {"a": True}, "additionalProperties": False},
                                 {"patternProperties": {"b": True}, "additionalProperties": False}],
     "not": {"patternProperties": {"c": False}}},
]


def _merged_examples():
    return _examples() + [{"a.b": 1}, {"aXb": 1}, {"k$": None}, {"k": 1}, {"xc": None}, {"xc": 1}, {"c": None},
                          {"a": 4}, {"a": 6}, {"ba": 3}, {"ab": "s"}, {"ab": 1}, {"abc": 1}, {"bc": "s"},
                          {"ac": 1, "bc": 1}, {"ab": 1, "ba": 2}, {"k": "s", "a": 2}, {"a": 2, "b": 1}]


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("index", range(len(MERGED)))
def test_merged_object_keywords_match_validator(index, exact):
    assert not mismatches(MERGED[index], _merged_examples(), exact)


@pytest.mark.parametrize("index", range(len(MERGED)))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=JSON)
def test_merged_object_keywords_random_instances(index, x):
    if n_orderings(x) > 5000:
        reject()
    assert not mismatches(MERGED[index], [x]), (MERGED[index], x)


def test_the_check_catches_a_wrong_merge():
    """Keeping only the first part's additionalProperties (ignoring the second part's patterns) is caught."""
    schema = MERGED[3]
    first, second = schema["allOf"]
    wrong = CompiledGrammar(schema_to_grammar({**first, "patternProperties": {
        **first["patternProperties"], **second["patternProperties"]}}), VOCAB)
    assert mismatches(schema, _merged_examples(), compiled=wrong)


@pytest.mark.parametrize("schema,why", [
    ({"allOf": [{"properties": {"ab": {}}, "additionalProperties": {"type": "integer"}},
                {"patternProperties": {"^a": {"maximum": 3}}}]}, "matches one of its properties"),
    ({"allOf": [{"patternProperties": {"x": {}}, "additionalProperties": {"type": "integer"}},
                {"patternProperties": {"^a": {"maximum": 3}}}]}, "patternProperties of another part"),
])
def test_merges_that_stay_unsupported(schema, why):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema)
    assert (info.value.kind, info.value.pointer, info.value.keyword) == ("unsupported", "/allOf", "allOf")
    assert why in info.value.message
