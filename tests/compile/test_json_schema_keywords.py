"""JSON Schema compiler, broadened keywords: grammar acceptance == validity (the oracle of test_json_schema)."""

from __future__ import annotations

import json
import random
import warnings

import pytest
from hypothesis import HealthCheck, given, reject, settings, strategies as st

from corral.compile.json_schema import schema_to_grammar
from corral.compile.json_schema.compiler import SchemaRelaxedWarning
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar

from schema_checks import cg_for
from test_json_schema import JSON, VOCAB, _dump, n_orderings, oracle, orderings


def accepts(schema, x, **options) -> bool:
    """Whether some key order of ``x`` is accepted (instances with too many orders are rejected by hypothesis)."""
    if n_orderings(x) > 5000:
        reject()
    cg = cg_for(schema, **options)
    return any(cg.accepts(_dump(v).encode()) for v in orderings(x))


SCHEMAS = [
    # patternProperties / additionalProperties / properties
    {"type": "object", "patternProperties": {"^a": {"type": "integer"}, "b$": {"type": "string", "maxLength": 1}},
     "additionalProperties": False},
    {"type": "object", "properties": {"ab": {"const": "x"}, "c": {}}, "patternProperties": {"^a": {"type": "string"}},
     "additionalProperties": {"type": "null"}},
    {"patternProperties": {"x": True, "^k$": False}},
    {"type": "object", "patternProperties": {"^[a-c]+$": {"type": "integer", "maximum": 3}}, "required": ["ab"]},
    # propertyNames
    {"type": "object", "propertyNames": {"maxLength": 1}},
    {"type": "object", "propertyNames": {"pattern": "^[ab]"}, "properties": {"next": {}, "a": {"type": "null"}}},
    {"type": "object", "propertyNames": {"enum": ["a", "k"]}, "additionalProperties": {"type": "integer"}},
    {"propertyNames": False},
    # contains / minContains / maxContains
    {"type": "array", "contains": {"type": "integer"}},
    {"type": "array", "contains": {"const": 1}, "minContains": 2, "maxContains": 3},
    {"type": "array", "items": {"type": ["integer", "string"]}, "contains": {"type": "string"}, "maxContains": 1,
     "minContains": 0},
    {"prefixItems": [{"type": "string"}], "contains": {"enum": ["a", 1]}, "maxItems": 3},
    {"contains": True, "maxContains": 2},
    # not
    {"not": {"type": "integer"}},
    {"type": "string", "not": {"enum": ["a", "ab"]}},
    {"type": "integer", "not": {"minimum": 2, "maximum": 11}},
    {"not": {"type": "object", "required": ["a"]}},
    {"not": {"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "array"}, {"type": "number"}]}},
    {"type": "object", "properties": {"k": {"not": {"const": "a"}}}, "additionalProperties": False},
    {"not": {"properties": {"a": {"type": "integer"}}}},
    # if / then / else
    {"if": {"properties": {"k": {"const": "a"}}, "required": ["k"]}, "then": {"required": ["a"]},
     "else": {"properties": {"b": {"type": "string"}}}},
    {"type": "integer", "if": {"minimum": 3}, "then": {"maximum": 11}, "else": {"minimum": -1}},
    {"if": {"type": "string"}, "then": {"minLength": 2}},
    {"if": {"type": "string"}, "else": {"type": "null"}},
    # dependentRequired / dependentSchemas / dependencies
    {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "dependentRequired": {"a": ["b"], "c": ["a"]}},
    {"dependentRequired": {"b": ["a", "k"]}},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {}},
     "dependentSchemas": {"a": {"properties": {"b": {"type": "string"}}, "required": ["b"]}}},
    # allOf / anyOf / oneOf combinations that now merge
    {"allOf": [{"properties": {"a": {"minimum": 0}}}, {"properties": {"a": {"type": "integer", "maximum": 3}}}]},
    {"allOf": [{"properties": {"a": {}}}, {"additionalProperties": False}]},
    {"allOf": [{"type": "string", "pattern": "a"}, {"pattern": "b$"}]},
    {"type": "string", "pattern": "a", "maxLength": 3},
    {"type": "integer", "anyOf": [{"maximum": 0}, {"minimum": 10}]},
    {"type": ["string", "integer"], "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 3}]},
    {"type": "array", "contains": {"const": 1}, "items": {"type": "number"}},
    {"required": ["x"], "properties": {"a": {}}},
    {"type": "integer", "enum": [1, 2, 5, 12], "minimum": 2},
    # references
    {"$defs": {"n": {"$anchor": "node", "type": ["null", "object"], "properties": {"next": {"$ref": "#node"}}}},
     "$ref": "#node"},
    {"$id": "http://x.test/root.json", "items": {"$ref": "item.json"},
     "$defs": {"i": {"$id": "item.json", "type": "integer", "maximum": 3}}},
    {"$ref": "#/$defs/a", "type": "integer", "$defs": {"a": {"minimum": 2}}},
]


def _examples():
    out = [None, True, 0, 1, 2, 3, 4, 10, 11, 12, -1, -2, 1.5, "", "a", "ab", "b", "ba", "x", "abc", "c", [], [1],
           [1, 1], [1, 1, 1, 1], ["a"], ["a", 1], ["a", "b"], ["a", 1, 1], [1, "x", 2], [None], {}, {"a": 1},
           {"a": "x"}, {"b": "x"}, {"ab": "x"}, {"ab": 2}, {"ab": 4}, {"k": "a"}, {"k": "a", "a": 1}, {"k": "b"},
           {"k": "b", "b": 1}, {"k": 1}, {"x": 1}, {"xk": None}, {"a": 1, "b": 2}, {"a": 1, "b": "s"},
           {"c": 1}, {"c": 1, "a": 1, "b": 1}, {"b": 1, "a": 1, "k": 1}, {"next": None}, {"next": {"next": None}},
           {"next": {"next": 1}}, {"ab": "x", "ac": "y", "d": None}, {"c": 1, "ab": "x"}, [None, 1], [[1]]]
    return out


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_examples_match_validator(index):
    schema = SCHEMAS[index]
    check = oracle(schema)
    for x in _examples():
        assert accepts(schema, x) == check.is_valid(x), (schema, x)


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=JSON)
def test_random_instances_match_validator(index, x):
    schema = SCHEMAS[index]
    assert accepts(schema, x) == oracle(schema).is_valid(x), (schema, x)


def test_draft07_dependencies_match_2020_spellings():
    old = {"dependencies": {"a": ["k"], "b": {"required": ["c"]}}}
    new = {"dependentRequired": {"a": ["k"]}, "dependentSchemas": {"b": {"required": ["c"]}}}
    for x in _examples() + [{"a": 1, "k": 1}, {"b": 1, "c": 1}, {"a": 1, "b": 1, "c": 1, "k": 2}]:
        assert accepts(old, x) == accepts(new, x) == oracle(new).is_valid(x), x


def test_remote_registry_and_referencing():
    remote = {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "array",
              "items": {"$ref": "#/$defs/pos"}}
    schema = {"properties": {"p": {"$ref": "http://r.test/a.json"}, "q": {"$ref": "http://r.test/a.json#/$defs/pos"}}}
    cg = CompiledGrammar(schema_to_grammar(schema, registry={"http://r.test/a.json": remote}), VOCAB)
    assert cg.accepts(b'{"p":[1,2],"q":3}') and not cg.accepts(b'{"p":[0]}') and not cg.accepts(b'{"q":0}')
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema)
    assert info.value.keyword == "$ref" and "http://r.test/a.json" in str(info.value)
    referencing = pytest.importorskip("referencing")
    reg = referencing.Registry().with_resource("http://r.test/a.json",
                                               referencing.jsonschema.DRAFT202012.create_resource(remote))
    cg = CompiledGrammar(schema_to_grammar(schema, registry=reg), VOCAB)
    assert cg.accepts(b'{"p":[1]}') and not cg.accepts(b'{"p":[-1]}')


def test_recursive_anchor_has_no_depth_limit():
    schema = next(s for s in SCHEMAS if s.get("$ref") == "#node")
    x = None
    for _ in range(40):
        x = {"next": x}
    assert accepts(schema, x)


@pytest.mark.parametrize("schema,pointer,keyword", [
    ({"type": "array", "uniqueItems": True}, "/uniqueItems", "uniqueItems"),
    ({"not": {"prefixItems": [{}], "items": {"type": "null"}}}, "/not/items", "items"),
    ({"type": "number", "minimum": 0, "not": {"const": 1}}, "", "not"),
    ({"properties": {"a": {"not": {"format": "date"}}}}, "/properties/a/not/format", "format"),
    ({"contains": {"uniqueItems": True, "type": "array"}}, "/contains/uniqueItems", "uniqueItems"),
    ({"propertyNames": {"not": {"maxLength": 3}}}, "/propertyNames", "propertyNames"),
    ({"patternProperties": {"(?<=a)": {}}}, "/patternProperties/(?<=a)", "patternProperties"),
    ({"$ref": "http://nowhere.test/x.json"}, "/$ref", "$ref"),
    ({"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}, "/$defs/a", "not"),
])
def test_unsupported_keywords(schema, pointer, keyword):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema)
    assert (info.value.kind, info.value.pointer, info.value.keyword) == ("unsupported", pointer, keyword)


def test_lenient_drops_unsupported_keywords_and_warns_once():
    schema = {"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True, "maxItems": 3},
                                               "b": {"oneOf": [{"type": "integer"},
                                                                      {"type": "number", "maximum": 3}]}}}
    with pytest.raises(SchemaError):
        schema_to_grammar(schema)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = schema_to_grammar(schema, lenient=True)
    relaxed = [w for w in caught if issubclass(w.category, SchemaRelaxedWarning)]
    assert len(relaxed) == 1
    text = str(relaxed[0].message)
    assert "/properties/a/uniqueItems" in text and "/properties/b/oneOf" in text
    cg = CompiledGrammar(g, VOCAB)
    assert cg.accepts(b'{"a":[1,1],"b":3}') and not cg.accepts(b'{"a":[1,1,1,1]}')
    with pytest.raises(SchemaError) as info:  # invalid and unsatisfiable schemas still raise
        schema_to_grammar({"type": "array", "uniqueItems": True, "minItems": -1}, lenient=True)
    assert info.value.kind == "invalid"


# ------------------------------------------------------------------ whitespace layouts

LAYOUT_SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}, "b": {"enum": [{"x": [1]},
                                                                                                      []]}},
     "additionalProperties": {"type": "object"}},
    {},
    {"type": "array", "prefixItems": [{"type": "object"}, {"const": {"k": [1, {}]}}], "items": {"type": "string"}},
]


LAYOUTS = {  # exact layouts: whitespace= value -> the json.dumps spelling it must accept (and nothing else)
    "pretty": lambda v: json.dumps(v, indent=2, ensure_ascii=False),
    "spaced": lambda v: json.dumps(v, ensure_ascii=False),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("index", range(len(LAYOUT_SCHEMAS)))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=JSON)
def test_exact_layouts(layout, index, x):
    """whitespace="pretty" / "spaced" is exactly json.dumps(x, indent=2) / json.dumps(x), keys in some order the
    schema allows; the other spellings (compact, the other layout) are refused."""
    schema = LAYOUT_SCHEMAS[index]
    cg = cg_for(schema, whitespace=layout)
    valid = oracle(schema).is_valid(x)
    if n_orderings(x) > 5000:
        reject()
    texts = [LAYOUTS[layout](v) for v in orderings(x)]
    assert any(cg.accepts(t.encode()) for t in texts) == valid, (schema, x)
    for other in [_dump(x)] + [f(x) for name, f in LAYOUTS.items() if name != layout]:
        if other not in texts:
            assert not cg.accepts(other.encode()), (layout, other)


def _spaced(text: str, rng: random.Random, most: int) -> tuple[str, int]:
    """Insert 0..most whitespace chars between the tokens of a compact JSON text; also the longest run used."""
    out, longest, in_str, esc = [], 0, False, False
    for i, ch in enumerate(text):
        out.append(ch)
        if in_str:
            esc, in_str = (not esc and ch == "\\"), in_str and (esc or ch != '"')
            if in_str or i == len(text) - 1:
                continue
        elif ch == '"':
            in_str = True
            continue
        if i == len(text) - 1 or (ch not in "{}[],:\"" and text[i + 1] not in "{}[],:\""):
            continue
        k = rng.randint(0, most)
        longest = max(longest, k)
        out.append("".join(rng.choice(" \n") for _ in range(k)))
    return "".join(out), longest


@pytest.mark.parametrize("index", range(len(LAYOUT_SCHEMAS)))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=JSON, seed=st.integers(0, 10 ** 6))
def test_free_layout_is_bounded(index, x, seed):
    schema = LAYOUT_SCHEMAS[index]
    valid = oracle(schema).is_valid(x)
    cg = cg_for(schema, whitespace=2)
    rng = random.Random(seed)
    text = _dump(x)
    spaced, longest = _spaced(text, rng, 3)
    ok = accepts(schema, x, whitespace=2)
    assert ok == valid
    if valid and text == _dump(next(orderings(x))) and cg.accepts(text.encode()):
        assert cg.accepts(spaced.encode()) == (longest <= 2), (schema, spaced)
    assert not cg.accepts((" " + text).encode())


def test_free_layout_default_bound_and_bad_values():
    cg = cg_for({"type": "array"}, whitespace="free")
    assert cg.accepts(b"[ 1 ,\n2    ]") and not cg.accepts(b"[1,     2]")
    for bad in ("spaces", 0, -1, True):
        with pytest.raises(ValueError):
            schema_to_grammar({}, whitespace=bad)
