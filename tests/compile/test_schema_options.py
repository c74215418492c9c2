"""JSON Schema compiler options that make the language exact for validation: ``property_order="any"``,
``integral_floats=True``, ``formats="annotate"``, custom meta-schemas; and the soundness of ``not: {type: integer}``.

Oracle: jsonschema's Draft202012Validator with its own semantics (``1.0`` is an integer and equals ``1``).
"""

from __future__ import annotations

import json
import random
import warnings

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corral.compile.json_schema import SchemaNarrowedWarning, schema_to_grammar
from corral.compile.json_schema.objects import MAX_ANY_ORDER
from corral.compile.json_schema.literals import number_spellings
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

from schema_checks import EXACT, cg_for

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])


def accepts(schema, text: str, **options) -> bool:
    return cg_for(schema, VOCAB, **options).accepts(text.encode())


def dump(x) -> str:
    return json.dumps(x, separators=(",", ":"), ensure_ascii=False)


def valid(schema, x) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(x)


# ------------------------------------------------------------------------------------------- not integer

NUMBER_TEXT = st.builds(
    lambda sign, i, frac, exp: sign + i + (("." + frac) if frac else "") + exp,
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,18}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[0-9]{1,20}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True)))


@settings(max_examples=400, deadline=None)
@given(text=NUMBER_TEXT)
def test_not_integer_is_sound(text):
    """Every number text that ``not: {type: integer}`` accepts parses to a non-integral float (no ``1.0``,
    ``1.5e1``, ``1.0000000000000001`` or underflow to 0)."""
    if accepts({"not": {"type": "integer"}}, text):
        assert not float(text).is_integer(), text


@pytest.mark.parametrize("text,ok", [("1.5", True), ("-0.25", True), ("1e-3", True), ("0.001", True),
                                     ("123456789012345.5", False), ("1.0", False), ("1e2", False),
                                     ("1.5e1", False), ("1.0000000000000001", False), ("0.0", False)])
def test_not_integer_cases(text, ok):
    assert accepts({"type": "number", "not": {"type": "integer"}}, text) is ok


# ------------------------------------------------------------------------------------------- integral floats

@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(lo=st.one_of(st.none(), st.integers(-50, 50)), hi=st.one_of(st.none(), st.integers(-50, 50)),
       x=st.integers(-60, 60), neg_zero=st.booleans())
def test_integral_floats_in_integer_ranges(lo, hi, x, neg_zero):
    """``type: integer`` with bounds accepts ``x`` and ``x.0`` exactly when jsonschema does; the default accepts
    only the integer literal."""
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    schema = {"type": "integer", **({"minimum": lo} if lo is not None else {}),
              **({"maximum": hi} if hi is not None else {})}
    f = -0.0 if (neg_zero and x == 0) else float(x)
    for value in (x, f):
        assert accepts(schema, dump(value), integral_floats=True) == valid(schema, value), (schema, value)
    assert not accepts(schema, dump(f))


def test_integral_floats_limits():
    """Floats are exact up to 2^53: beyond, ``N.0`` is not generated (its parse could leave the bounds)."""
    big = {"type": "integer", "minimum": 2 ** 53 + 1}
    assert accepts(big, str(2 ** 53 + 1), integral_floats=True)
    assert not accepts(big, f"{2 ** 53 + 1}.0", integral_floats=True)  # parses to 2^53 < minimum
    assert accepts({"type": "integer", "not": {"const": 3}}, "4.0", integral_floats=True)
    assert not accepts({"type": "integer", "not": {"const": 3}}, "3.0", integral_floats=True)


@pytest.mark.parametrize("value", [0, 1, -2, -2.0, 1.5, 9007199254740992, 10 ** 16, 2.5e-07, 2 ** 60, 10 ** 400])
def test_number_spellings_equal_the_value(value):
    """Each spelling parses to a value jsonschema finds equal; ``const`` accepts exactly those with the option."""
    spellings = number_spellings(value)
    assert dump(value) in spellings
    for s in spellings:
        assert valid({"const": value}, json.loads(s)), s
        assert accepts({"const": value}, s, integral_floats=True)
    for other in ("1.00", "2", "-1"):
        if other not in spellings:
            assert not accepts({"const": value}, other, integral_floats=True)


def test_enum_with_nested_integral_floats():
    schema = {"enum": [[0], {"a": 1, "b": [2]}]}
    for text in ("[0.0]", "[-0.0]", '{"a":1.0,"b":[2.0]}', '{"b":[2],"a":1}'):
        assert accepts(schema, text, **EXACT), text
        assert valid(schema, json.loads(text))
    assert not accepts(schema, '{"b":[2],"a":1}', integral_floats=True)  # key order needs property_order="any"
    assert not accepts(schema, "[0.0]")


# ------------------------------------------------------------------------------------------- any key order

def _object_schema(rng: random.Random) -> dict:
    names = rng.sample(["a", "b", "c", "d", "e"], rng.randint(2, 5))
    schema: dict = {"type": "object",
                    "properties": {n: rng.choice([{"type": "integer"}, {"type": "string"}, {}]) for n in names},
                    "required": rng.sample(names, rng.randint(0, 2))}
    schema["additionalProperties"] = rng.choice([False, True, {"type": "boolean"}])
    if rng.random() < 0.3:
        schema["dependentRequired"] = {names[0]: [names[1]]}
    if rng.random() < 0.3:
        schema["maxProperties"] = rng.randint(1, 4)
    if rng.random() < 0.3 and schema["additionalProperties"] is False:
        schema["minProperties"] = rng.randint(0, schema.get("maxProperties", 3))
    return schema


def _instance(rng: random.Random) -> dict:
    keys = rng.sample(["a", "b", "c", "d", "e", "x", "y"], rng.randint(0, 5))
    return {k: rng.choice([1, "s", True, None]) for k in keys}


@pytest.mark.parametrize("seed", range(40))
def test_any_order_matches_validator(seed):
    """Random object schemas x random instances in random key orders: accepted iff valid; a declared name is
    never accepted twice."""
    rng = random.Random(seed)
    schema = _object_schema(rng)
    for _ in range(40):
        x = _instance(rng)
        items = list(x.items())
        rng.shuffle(items)
        text = dump(dict(items))
        assert accepts(schema, text, property_order="any") == valid(schema, x), (schema, text)
        declared = [(k, v) for k, v in items if k in schema["properties"]]
        if declared:  # a declared name never twice (keys outside them can repeat, see the compiler's docstring)
            k, v = declared[0]
            dup = text[:-1] + "," + dump({k: v})[1:]
            assert not accepts(schema, dup, property_order="any"), dup


def test_any_order_layouts_and_const():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"const": {"x": 1, "y": 2}}},
              "required": ["a", "b"]}
    x = {"b": {"y": 2, "x": 1}, "a": 3}
    assert accepts(schema, json.dumps(x, indent=2), property_order="any", whitespace="pretty")
    assert accepts(schema, dump(x), property_order="any")
    assert not accepts(schema, dump(x))


def test_any_order_on_large_objects_tracks_required_names():
    """More than MAX_ANY_ORDER names: any order, only the required names tracked (declared names may repeat: the
    last value wins and every value is valid, so the text still validates)."""
    names = [f"k{i}" for i in range(MAX_ANY_ORDER + 3)]
    schema = {"type": "object", "properties": {n: {"type": "integer"} for n in names}, "required": ["k3", "k7"],
              "additionalProperties": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cg = CompiledGrammar(schema_to_grammar(schema, property_order="any"), VOCAB)
    rng = random.Random(0)
    for _ in range(30):
        x = {n: rng.randint(0, 9) for n in rng.sample(names, rng.randint(0, len(names)))}
        items = list(x.items())
        rng.shuffle(items)
        text = dump(dict(items))
        assert cg.accepts(text.encode()) == valid(schema, x), text
    assert cg.accepts(b'{"k3":1,"k0":2,"k0":3,"k7":4}')  # parses to a valid object
    assert not cg.accepts(b'{"k3":1,"k0":"x","k7":4}') and not cg.accepts(b'{"k3":1,"k0":2}')


def test_any_order_with_one_declared_name_and_open_keys():
    """One declared name beside open keys: other keys may come before it too (the schema order put it first)."""
    schema = {"properties": {"a": {"type": "integer"}}, "required": ["a"]}
    cg = CompiledGrammar(schema_to_grammar(schema, property_order="any"), VOCAB)
    assert cg.accepts(b'{"x":1,"a":2}') and cg.accepts(b'{"a":2,"x":1}')
    assert not cg.accepts(b'{"x":1}') and not cg.accepts(b'{"a":2,"a":3}') and not cg.accepts(b'{"x":1,"a":"s"}')


def test_any_order_tracks_up_to_twelve_required_names():
    """12 required names of 16: any order (a nonterminal per subset of the required names), exact on random
    orders and subsets."""
    names = [f"k{i}" for i in range(16)]
    schema = {"type": "object", "properties": {n: {"type": "integer"} for n in names}, "required": names[:12],
              "additionalProperties": False}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cg = CompiledGrammar(schema_to_grammar(schema, property_order="any"), VOCAB)
    rng = random.Random(3)
    for _ in range(30):
        x = {n: 1 for n in names[:12] if rng.random() < 0.9} | {n: 2 for n in names[12:] if rng.random() < 0.5}
        items = list(x.items())
        rng.shuffle(items)
        text = dump(dict(items))
        assert cg.accepts(text.encode()) == valid(schema, x), text


def test_any_order_falls_back_with_a_warning_on_large_objects():
    """Large objects with minProperties above 1 (repeats would make the parsed object smaller than the text):
    schema order, and a SchemaNarrowedWarning naming the object."""
    names = [f"k{i}" for i in range(MAX_ANY_ORDER + 1)]
    schema = {"type": "object", "properties": {"inner": {"type": "object", "properties": {n: {} for n in names},
                                                          "minProperties": 2, "additionalProperties": False}}}
    with pytest.warns(SchemaNarrowedWarning, match="/properties/inner"):
        g = schema_to_grammar(schema, property_order="any")
    cg = CompiledGrammar(g, VOCAB)
    assert cg.accepts(b'{"inner":{"k0":1,"k1":2}}') and not cg.accepts(b'{"inner":{"k1":2,"k0":1}}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema_to_grammar({"type": "object", "properties": {n: {} for n in names[:MAX_ANY_ORDER]}},
                          property_order="any")


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("order", ["schema", "any"])
def test_min_properties_one_with_open_keys_matches_validator(seed, order):
    """minProperties 1 beside keys outside the declared names is "at least one member" (a repeated key never
    empties the parsed object): accepted iff valid, a repeated open key included; the variant without it (a
    wrong compilation that drops minProperties) is caught on the empty object."""
    rng = random.Random(seed)
    schema = _object_schema(rng)
    schema["additionalProperties"] = rng.choice([True, {"type": "boolean"}, {"type": ["integer", "string"]}])
    schema.pop("maxProperties", None)
    schema["minProperties"] = 1
    declared = list(schema["properties"]) + [r for r in schema["required"] if r not in schema["properties"]]
    rank = lambda kv: declared.index(kv[0]) if kv[0] in declared else len(declared)  # noqa: E731
    cg = CompiledGrammar(schema_to_grammar(schema, property_order=order), VOCAB)
    for _ in range(40):
        x = _instance(rng)
        items = list(x.items())
        rng.shuffle(items)
        if order == "schema":  # the default order: declared names in schema order, then the other keys
            items.sort(key=rank)
        text = dump(dict(items))
        assert cg.accepts(text.encode()) == valid(schema, x), (schema, text)
    assert not cg.accepts(b"{}")
    twice = {"zz": True}
    assert cg.accepts(b'{"zz":true,"zz":true}') == valid(schema, twice), schema  # a repeated open key
    loose = CompiledGrammar(schema_to_grammar({k: v for k, v in schema.items() if k != "minProperties"},
                                              property_order=order), VOCAB)
    assert loose.accepts(b"{}") != valid(schema, {}) or schema["required"]


def test_draft_keywords_follow_the_schema_draft():
    """Under draft-04/06, if/then/else are unknown keywords (annotations); draft-04's boolean exclusiveMinimum
    modifies minimum; validate_instance uses the schema's draft too."""
    from corral.compile.json_schema import validate_instance

    d4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "string",
          "if": {"minLength": 1}, "then": {"maxLength": 2}}
    assert accepts(d4, '"abc"') and validate_instance(d4, "abc") == []
    d7 = {**d4, "$schema": "http://json-schema.org/draft-07/schema#"}
    assert not accepts(d7, '"abc"') and validate_instance(d7, "abc")
    bound = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer", "minimum": 3,
             "exclusiveMinimum": True}
    assert not accepts(bound, "3") and accepts(bound, "4")


def test_option_values_are_checked():
    with pytest.raises(ValueError, match="property_order"):
        schema_to_grammar({}, property_order="sorted")
    with pytest.raises(ValueError, match="formats"):
        schema_to_grammar({}, formats="ignore")


# ------------------------------------------------------------------------------------------- formats, $schema

def test_formats_annotate_ignores_format_everywhere():
    schema = {"type": "object", "properties": {"format": {"type": "string", "format": "date"}},
              "$defs": {"d": {"format": "email"}}, "additionalProperties": {"$ref": "#/$defs/d"}}
    x = {"format": "06/19/1963", "other": "no-at-sign"}
    assert accepts(schema, dump(x), formats="annotate")
    assert not accepts(schema, dump(x))
    remote = {"type": "string", "format": "uuid"}
    reg = {"http://example.test/u.json": remote}
    g = schema_to_grammar({"$ref": "http://example.test/u.json"}, registry=reg, formats="annotate")
    assert CompiledGrammar(g, VOCAB).accepts(b'"not-a-uuid"')


def test_unknown_metaschema_is_unsupported():
    with pytest.raises(SchemaError) as e:
        schema_to_grammar({"$schema": "http://example.test/meta", "type": "integer"})
    assert e.value.kind == "unsupported" and e.value.pointer == "/$schema" and e.value.keyword == "$schema"
    for known in ("http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema"):
        schema_to_grammar({"$schema": known, "type": "integer"})


def test_custom_metaschema_vocabularies():
    """A meta-schema without the validation vocabulary makes its keywords annotations; one requiring an unknown
    vocabulary is unsupported."""
    v = "https://json-schema.org/draft/2020-12/vocab/"
    reg = {"http://example.test/no-validation": {"$vocabulary": {v + "core": True, v + "applicator": True}},
           "http://example.test/custom": {"$vocabulary": {v + "core": True, "http://example.test/vocab/x": True}}}
    schema = {"$schema": "http://example.test/no-validation", "properties": {"n": {"type": "integer",
                                                                                   "minimum": 5}}}
    g = schema_to_grammar(schema, registry=reg)
    assert CompiledGrammar(g, VOCAB).accepts(b'{"n":"text"}')
    with pytest.raises(SchemaError, match="vocabulary"):
        schema_to_grammar({"$schema": "http://example.test/custom"}, registry=reg)


def test_local_unevaluated_keywords():
    """unevaluatedProperties / unevaluatedItems in a subschema without in-place applicators are exact rewrites;
    with an applicator beside them they stay unsupported."""
    obj = {"type": "object", "properties": {"a": {"type": "integer"}}, "unevaluatedProperties": {"type": "string"}}
    assert accepts(obj, '{"a":1,"b":"x"}') and not accepts(obj, '{"a":1,"b":2}')
    arr = {"type": "array", "prefixItems": [{"type": "integer"}], "unevaluatedItems": False}
    assert accepts(arr, "[1]") and not accepts(arr, "[1,2]")
    with pytest.raises(SchemaError) as e:
        schema_to_grammar({"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False})
    assert e.value.keyword == "unevaluatedProperties" and e.value.kind == "unsupported"
