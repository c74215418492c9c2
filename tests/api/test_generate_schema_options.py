"""generate(schema=..., whitespace=, lenient=, registry=, property_order=, integral_floats=, formats=) through the
public API on the embedded model."""

from __future__ import annotations

import json
import warnings

import pytest

import corral
from corral.errors import SchemaError

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0,
                                                                         "maximum": 99}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_pretty_layout_is_json_dumps_indent_2():
    r = corral.generate("A person as JSON:\n", schema=PERSON, whitespace="pretty", seed=1, max_tokens=60)
    assert r.status == "complete"
    assert r.text == json.dumps(r.value, indent=2, ensure_ascii=False)


def test_spaced_layout_is_json_dumps_default():
    r = corral.generate("Generate a JSON object describing a person:\n", schema=PERSON, whitespace="spaced", seed=3,
                        max_tokens=60)
    assert r.status == "complete"
    assert r.text == json.dumps(r.value, ensure_ascii=False)
    assert ", " in r.text and '": ' in r.text


def test_free_layout_is_bounded():
    r = corral.generate("A person as JSON:\n", schema=PERSON, whitespace=2, seed=2, max_tokens=80)
    if r.status == "complete":
        assert json.loads(r.text) == r.value
        assert "   " not in r.text.replace(json.dumps(r.value["name"]), "")


def test_unsupported_keyword_is_an_error_unless_lenient():
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}
    with pytest.raises(SchemaError) as info:
        corral.generate("x", schema=schema, max_tokens=8)
    assert info.value.keyword == "uniqueItems" and info.value.pointer == "/uniqueItems"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = corral.generate("Numbers:", schema=schema, lenient=True, seed=0, max_tokens=24)
    assert any("uniqueItems" in str(w.message) for w in caught)
    assert r.status in ("complete", "length", "invalid")
    if r.status == "complete":
        assert len(set(r.value)) == len(r.value)  # validated against the real schema
    if r.status == "invalid":
        assert r.value is None


def test_remote_reference_through_registry():
    registry = {"https://example.com/age.json": {"type": "integer", "minimum": 1, "maximum": 9}}
    schema = {"type": "object", "properties": {"age": {"$ref": "https://example.com/age.json"}},
              "required": ["age"], "additionalProperties": False}
    r = corral.generate("JSON:", schema=schema, registry=registry, seed=0, max_tokens=20)
    assert r.status == "complete" and 1 <= r.value["age"] <= 9


def test_schema_options_need_a_schema():
    with pytest.raises(ValueError, match="schema"):
        corral.generate("x", regex="a+", whitespace="pretty")


def test_exact_options_through_generate():
    """property_order="any", integral_floats and formats="annotate" reach the compiler and the final validation;
    outside schema= they are an error."""
    schema = {**PERSON, "properties": {**PERSON["properties"], "day": {"type": "string", "format": "date"}}}
    for seed in range(3):
        r = corral.generate("A person as JSON:\n", schema=schema, property_order="any", integral_floats=True,
                            formats="annotate", seed=seed, max_tokens=80)
        if r.status == "complete":
            assert set(r.value) >= {"name", "age"} and len(set(json.loads(r.text))) == len(r.value)
    with pytest.raises(ValueError, match="schema= only"):
        corral.generate("x", regex="a", property_order="any", max_tokens=2)
