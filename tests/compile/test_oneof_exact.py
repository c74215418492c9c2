"""``oneOf`` as "exactly one alternative" by construction (src/corral/compile/json_schema/oneof.py, disjoint.py):
the grammar accepts an instance iff python-jsonschema says it is valid.

Each schema below has alternatives that share instances, so the construction is needed, and comes with witnesses
(instances that two alternatives accept, which ``oneOf`` rejects). The instances checked are the witnesses, a few
hand-picked values, strings drawn from the schema's own grammar and from the grammar of its ``anyOf`` variant
(:func:`corral.authoring.examples.examples`), and random JSON values (hypothesis). The deliberately wrong
compilation (every ``oneOf`` compiled as ``anyOf``) must fail the same check on every schema.
"""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corral.authoring.examples import examples
from corral.compile.json_schema import schema_to_grammar
from corral.compile.json_schema.formats import format_checker
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar

from test_json_schema import VOCAB

# The options that make the language exactly the valid instances (keys in any order, 1.0 an integer); a time
# budget that a busy machine does not exhaust.
OPTIONS = {"property_order": "any", "integral_floats": True, "compile_budget": 60}

# (name, schema, witnesses: instances two alternatives accept, where oneOf and anyOf differ)
OVERLAPPING = [
    # keywords of an alternative that restrict other kinds than the shared ones drop out of its negation
    ("other kinds", {"oneOf": [{"type": "string", "minLength": 2},
                               {"maxLength": 3, "required": ["a"], "minimum": 1}]}, ["ab", "abc"]),
    # closed objects: "some key outside the other's properties" over the finitely many keys allowed
    ("closed objects", {"oneOf": [{"additionalProperties": False, "properties": {"a": {}}},
                                  {"additionalProperties": False, "properties": {"b": {}}}]}, [{}]),
    ("closed and additionalProperties", {"type": "object", "oneOf": [
        {"additionalProperties": False, "properties": {"a": {"type": "integer"}, "b": {}}},
        {"additionalProperties": {"type": "integer"}}]}, [{"a": 1}, {"a": 1, "b": 2}]),
    ("closed and patternProperties", {"type": "object", "oneOf": [
        {"additionalProperties": False, "properties": {"ab": {}, "c": {}}},
        {"patternProperties": {"^a": {"type": "string"}}}]}, [{"ab": "x"}, {"c": 1}]),
    ("closed and propertyNames", {"type": "object", "oneOf": [
        {"additionalProperties": False, "properties": {"ab": {}, "c": {}}},
        {"propertyNames": {"maxLength": 1}}]}, [{"c": 1}, {}]),
    # required/properties negate per name, a value relative to what the other alternative says of it
    ("required and properties", {"oneOf": [
        {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0}, "b": {"type": "string"}}}]},
     [{"a": 1}, {"a": 2, "b": "x"}]),
    ("required by both", {"oneOf": [{"properties": {"bar": {"type": "integer"}}, "required": ["bar"]},
                                    {"properties": {"foo": {"type": "string"}}, "required": ["foo"]}]},
     [{"bar": 1, "foo": "x"}, {"bar": 2.0, "foo": ""}]),
    # items: "contains an item outside the other's items", relative to this alternative's items
    ("items", {"type": "array", "oneOf": [{"items": {"type": "string"}}, {"items": {"maxLength": 1}}]},
     [[], ["a"], ["", "b"]]),
    ("nested items", {"oneOf": [
        {"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}}}},
        {"type": "object", "properties": {"l": {"type": "array", "items": {"maxLength": 1}}}, "required": ["l"]}]},
     [{"l": ["a"]}, {"l": []}]),
    # numbers: integral floats are integers, as for jsonschema
    ("integer and number", {"oneOf": [{"type": "number"}, {"type": "integer"}]}, [1, 1.0, -2]),
    ("integer ranges", {"oneOf": [{"type": "integer", "maximum": 5}, {"type": "integer", "minimum": 3}]},
     [3, 4, 5.0]),
    ("equal numbers", {"oneOf": [{"const": 1}, {"enum": [2, 1.0]}]}, [1, 1.0]),
    ("integral float value", {"oneOf": [{"type": "integer"}, {"const": 2.0}]}, [2, 2.0]),
    # strings: automata products and differences (formats, patterns, enum values)
    ("format and pattern", {"type": "string", "oneOf": [{"format": "ipv4"}, {"pattern": "^1"}]},
     ["1.2.3.4", "10.0.0.1"]),
    ("format and enum", {"type": "string", "oneOf": [{"format": "date"}, {"enum": ["2020-01-01", "x"]}]},
     ["2020-01-01"]),
    ("two formats", {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "hostname"}]}, ["1.2.3.4"]),
    ("patterns", {"oneOf": [{"pattern": "a"}, {"pattern": "b"}]}, ["ab", "ba"]),
    # object and array values of enum/const: how an instance differs from them
    ("object value", {"oneOf": [{"const": {"a": 1}},
                                {"type": "object", "additionalProperties": False, "properties": {"a": {}, "b": {}}}]},
     [{"a": 1}, {"a": 1.0}]),
    ("array value", {"oneOf": [{"const": [1]}, {"type": "array", "items": {"type": "integer"}}]}, [[1], [1.0]]),
    # a recursive schema: the negation refers to itself through one grammar symbol
    ("recursive", {"$defs": {"t": {"oneOf": [
        {"type": "object", "required": ["n"], "properties": {"n": {"$ref": "#/$defs/t"}}},
        {"type": "object", "required": ["v"], "properties": {"v": {"type": "integer"}}}]}},
        "$ref": "#/$defs/t"}, [{"v": 1, "n": {"v": 2}}, {"n": {"v": 1}, "v": 3}]),
    # several alternatives told apart by an optional property: the shared case "it is present" is taken out
    ("optional discriminator", {"oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["label"],
         "properties": {"type": {"enum": [t]}, "label": {"type": "string"}, t + "x": {}}} for t in "abcd"]},
     [{"label": "x"}, {"label": ""}]),
    # beside other keywords, and under not
    ("discriminator beside", {"type": "object", "required": ["kind"], "oneOf": [
        {"properties": {"kind": {"const": "a"}}}, {"properties": {"kind": {"enum": ["a", "b"]}}, "required": ["x"]}]},
     [{"kind": "a", "x": 1}]),
    ("not oneOf", {"not": {"type": "object", "required": ["k"], "oneOf": [
        {"properties": {"k": {"const": 1}}}, {"properties": {"k": {"type": "integer"}}}]}}, [{"k": 1}, {"k": 1.0}]),
]

# Alternatives the analysis proves disjoint (so the anyOf variant is the same language): exactness only.
DISJOINT = [
    ("discriminator required beside", {"type": "object", "required": ["kind"], "oneOf": [
        {"properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}},
        {"properties": {"kind": {"const": "b"}, "x": {"type": "string"}}}]}),
    ("kinds through oneOf", {"oneOf": [{"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "null"}]}),
    ("kinds through anyOf", {"oneOf": [{"anyOf": [{"type": "string"}, {"type": "boolean"}]}, {"type": "object"}]}),
    ("first items", {"oneOf": [{"type": "array", "minItems": 1, "items": {"type": "string"}},
                               {"type": "array", "minItems": 1, "items": {"type": "integer"}}]}),
    ("required by one", {"properties": {"x": {"oneOf": [
        {"type": "object", "properties": {"k": {"const": 1}}},
        {"type": "object", "properties": {"k": {"const": 2}}, "required": ["k"]}]}}}),
    ("required through allOf", {"type": "object", "oneOf": [
        {"allOf": [{"required": ["k"]}, {"properties": {"k": {"const": 1}}}]},
        {"required": ["k"], "properties": {"k": {"const": 2}}}]}),
]

COMMON = [None, True, False, 0, 1, 1.0, 2, 3, 4, 6, -1, 0.5, 2.5, "", "a", "ab", "abc", "abcd", "b", "1", "1.2.3.4",
          "2020-01-01", "x", "a.b", [], [1], [1.0], [-1], ["a"], ["a", 1], [[1]], {}, {"a": 1}, {"a": "x"},
          {"b": 1}, {"b": "x"}, {"a": 1, "b": 2}, {"a": -1, "b": "x"}, {"ab": 1}, {"c": "x"}, {"k": 1}, {"k": 1.5},
          {"kind": "a"}, {"kind": "b"}, {"kind": "b", "x": 1}, {"l": ["ab"]}, {"l": "a"}, {"v": 1}, {"n": {"v": 1}},
          {"n": {"n": {"v": 1}}}, {"label": "x", "type": "a"}, {"label": "x", "ax": 1}, {"label": "x", "type": "b"},
          {"a": 1, "c": 2}, {"bar": 1}, {"foo": "x"}, {"a": [1]}]

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 8), st.sampled_from([0.5, 1.0, 2.5, -1.5, 4.0]),
                    st.sampled_from(["", "a", "ab", "b", "ba", "abc", "1", "1.2.3.4", "2020-01-01", "x", "a.b"]))
KEYS = st.sampled_from(["a", "b", "ab", "c", "k", "l", "n", "v", "x", "kind", "label", "type", "bar", "foo", "ax"])
JSON = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(KEYS, c, max_size=3), max_leaves=6)

_COMPILED: dict = {}


def _dump(x) -> str:
    return json.dumps(x, separators=(",", ":"), ensure_ascii=False)


def compiled(schema) -> CompiledGrammar:
    """The compiled grammar of ``schema`` (cached)."""
    key = _dump(schema)
    if key not in _COMPILED:
        _COMPILED[key] = CompiledGrammar(schema_to_grammar(schema, **OPTIONS), VOCAB)
    return _COMPILED[key]


def valid(schema, x) -> bool:
    """python-jsonschema's verdict (the schema's draft, formats checked as the compiler's format_checker does)."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=format_checker(cls)).is_valid(x)


def any_of(schema):
    """The deliberately wrong schema: every ``oneOf`` read as ``anyOf``."""
    if isinstance(schema, dict):
        return {("anyOf" if k == "oneOf" else k): any_of(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [any_of(v) for v in schema]
    return schema


def _plain_numbers(x) -> bool:
    """Whether every float in ``x`` is finite with at most 15 significant digits (the compiler's documented
    narrowing of non-integral numbers under a negated ``type: integer`` leaves longer ones out)."""
    if isinstance(x, float):
        return math.isfinite(x) and len(repr(abs(x)).split("e")[0].replace(".", "").strip("0")) <= 15
    if isinstance(x, list):
        return all(_plain_numbers(v) for v in x)
    if isinstance(x, dict):
        return all(_plain_numbers(v) for v in x.values())
    return True


def drawn(schema, n: int = 40) -> list:
    """Instances drawn from the grammar of ``schema`` and from that of its anyOf variant."""
    out = []
    for s in (schema, any_of(schema)):
        for text in examples(schema_to_grammar(s, **OPTIONS), n, seed=7, max_length=300):
            x = json.loads(text)
            if _plain_numbers(x):
                out.append(x)
    return out


def mismatches(grammar_schema, schema, instances) -> list:
    """The instances on which the grammar of ``grammar_schema`` and jsonschema's verdict on ``schema`` differ."""
    cg = compiled(grammar_schema)
    return [x for x in instances if cg.accepts(_dump(x).encode()) != valid(schema, x)]


@pytest.mark.parametrize("name,schema,witnesses", OVERLAPPING, ids=[c[0] for c in OVERLAPPING])
def test_overlapping_alternatives_match_jsonschema(name, schema, witnesses):
    for w in witnesses:
        assert valid(schema, w) != valid(any_of(schema), w), (name, w)
    assert mismatches(schema, schema, witnesses + COMMON + drawn(schema)) == []


@pytest.mark.parametrize("name,schema,witnesses", OVERLAPPING, ids=[c[0] for c in OVERLAPPING])
def test_any_of_variant_is_caught(name, schema, witnesses):
    """The check above fails for the wrong construction (oneOf compiled as anyOf) on the same instances."""
    assert mismatches(any_of(schema), schema, witnesses + COMMON + drawn(schema))


@pytest.mark.parametrize("name,schema", DISJOINT, ids=[c[0] for c in DISJOINT])
def test_disjoint_alternatives_match_jsonschema(name, schema):
    instances = COMMON + drawn(schema)
    assert mismatches(schema, schema, instances) == []
    assert mismatches(any_of(schema), schema, instances) == []  # disjoint indeed: anyOf is the same language


ALL = [(c[0], c[1]) for c in OVERLAPPING] + DISJOINT


@pytest.mark.parametrize("name,schema", ALL, ids=[c[0] for c in ALL])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=JSON)
def test_random_instances_match_jsonschema(name, schema, x):
    assert compiled(schema).accepts(_dump(x).encode()) == valid(schema, x), (name, x)


@pytest.mark.parametrize("schema,why", [
    # some key of an unbounded set with a value outside a schema: a text may repeat a key, its last value counts
    ({"type": "object", "oneOf": [{"additionalProperties": {"type": "integer"}},
                                  {"additionalProperties": {"minimum": 0}}]}, "additionalProperties"),
    # an array with an item outside each of two item schemas: two contains counts
    ({"type": "array", "oneOf": [{"items": {"pattern": "a"}}, {"items": {"pattern": "b"}},
                                 {"items": {"pattern": "c"}}]}, "contains"),
    # non-integral numbers within bounds (a negated type: integer beside a minimum)
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, "non-integral"),
])
def test_still_refused(schema, why):
    """What stays refused is refused clearly, naming the oneOf (or the keyword) and both alternatives."""
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema, **OPTIONS)
    assert (info.value.kind, info.value.keyword, info.value.pointer) == ("unsupported", "oneOf", "/oneOf")
    assert why in info.value.message
    assert "not provably disjoint" in info.value.message
    assert info.value.message.count("/oneOf/") == 2  # both alternatives
