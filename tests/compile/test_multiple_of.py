"""multipleOf: the grammar accepts exactly the documented canonical texts whose values jsonschema accepts."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corral.compile.json_schema import schema_to_grammar
from corral.compile.json_schema.numbers import jsonschema_multiple
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([None] + [bytes([b]) for b in range(32, 127)], eos_token_ids=[0])
_checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda c, x: isinstance(x, int) and not isinstance(x, bool))
Oracle = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_checker)

SCHEMAS = [
    {"type": "integer", "multipleOf": 7},
    {"type": "integer", "multipleOf": 3, "minimum": -10, "exclusiveMaximum": 20},
    {"type": "integer", "multipleOf": 12, "exclusiveMinimum": 5.5, "maximum": 100},
    {"type": "integer", "multipleOf": 1000, "minimum": -123456},
    {"type": ["integer", "null"], "multipleOf": 4, "maximum": -3},
    {"type": "number", "multipleOf": 5},
    {"type": "number", "multipleOf": 2, "minimum": -7.5, "maximum": 31.2},
    {"multipleOf": 3, "exclusiveMinimum": 0},
    {"type": "number", "multipleOf": 0.01, "minimum": 0, "maximum": 2},
    {"type": "number", "multipleOf": 0.5, "minimum": -3, "exclusiveMaximum": 4},
    {"type": "number", "multipleOf": 2.5, "exclusiveMinimum": -10, "maximum": 25},
    {"type": "integer", "multipleOf": 2.5, "minimum": -20, "maximum": 20},
    {"type": "number", "multipleOf": 0.1, "minimum": 0.3, "maximum": 1.2},
    {"type": "number", "multipleOf": 1e-3, "minimum": 1.5, "maximum": 1.6},
]
_CG: dict[str, CompiledGrammar] = {}


def accepts(schema, text: str) -> bool:
    key = json.dumps(schema, sort_keys=True)
    if key not in _CG:
        _CG[key] = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    return _CG[key].accepts(text.encode())


def canonical(schema, text: str) -> bool:
    """The documented canonical spellings: integer literals, and float reprs (``N.0``, |N| <= 2**53, for an
    integer multipleOf)."""
    value = json.loads(text)
    if isinstance(value, int):
        return text == str(value)
    if text != repr(value):
        return False
    if isinstance(schema["multipleOf"], int):
        return text == "-0.0" or (text.endswith(".0") and "e" not in text and abs(value) <= 2 ** 53)
    return True


def expected(schema, text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return canonical(schema, text) and Oracle(schema).is_valid(json.loads(text))


def candidates(schema) -> list[str]:
    k = schema["multipleOf"]
    out = {str(n) for n in range(-130, 131)} | {"-0.0", "0.0", "1e1", "10.00", "1.0e1", "-0", "00", "2.50", "0.070"}
    out |= {f"{n}.0" for n in range(-40, 41)} | {str(2 ** 53), f"{2 ** 53}.0", f"{2 ** 53 + 5}.0", "1e+20"}
    for j in range(-2000, 2001):
        x = j * k
        out |= {repr(float(x)), repr(math.nextafter(float(x), math.inf)), repr(math.nextafter(float(x), -math.inf))}
        if isinstance(k, float):
            out.add(format(j * k, ".3f"))
    out |= {"0.07", "0.29", "0.57", "1.15", "1.005", "-123000", "-124000", "1234000"}
    return sorted(out)


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_matches_jsonschema(index):
    schema = SCHEMAS[index]
    bad = [t for t in candidates(schema) if accepts(schema, t) != expected(schema, t)]
    assert not bad, (schema, bad[:10])


@pytest.mark.parametrize("index", [0, 1, 3, 5, 7])
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(-10 ** 30, 10 ** 30) | st.integers(-10 ** 4, 10 ** 4))
def test_random_integers(index, n):
    schema = SCHEMAS[index]
    assert accepts(schema, str(n)) == expected(schema, str(n))
    if abs(n) <= 2 ** 53 and schema.get("type") != "integer":
        assert accepts(schema, f"{n}.0") == expected(schema, f"{n}.0")


def test_decimal_multiple_follows_jsonschema_float_arithmetic():
    schema = {"type": "number", "multipleOf": 0.01, "minimum": 0, "maximum": 1}
    assert not jsonschema.Draft202012Validator(schema).is_valid(0.07)  # 0.07 / 0.01 == 7.000000000000001
    assert not accepts(schema, "0.07") and accepts(schema, "0.05") and accepts(schema, "1") and accepts(schema, "1.0")
    assert jsonschema_multiple(0.05, 0.01) and not jsonschema_multiple(0.07, 0.01) and jsonschema_multiple(10, 5)


@pytest.mark.parametrize("schema,kind", [
    ({"type": "number", "multipleOf": 0.1}, "unsupported"),  # not dyadic: see test_multipleof_decimal.py
    ({"type": "number", "multipleOf": 0.01, "minimum": 0}, "unsupported"),
    ({"type": "number", "multipleOf": 1e-9, "minimum": 0, "maximum": 1}, "unsupported"),
    ({"type": "number", "multipleOf": 2 ** 60}, "unsupported"),
    ({"type": "integer", "multipleOf": 0}, "invalid"),
    ({"type": "integer", "multipleOf": -2}, "invalid"),
    ({"type": "integer", "multipleOf": "2"}, "invalid"),
    ({"type": "integer", "multipleOf": True}, "invalid"),
    ({"type": "integer", "multipleOf": 10, "minimum": 1, "maximum": 9}, "unsatisfiable"),
])
def test_errors(schema, kind):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema)
    assert (info.value.kind, info.value.keyword, info.value.pointer) == (kind, "multipleOf", "/multipleOf")


def test_nested_pointer_and_divisor_sizes():
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"properties": {"a": {"type": "number", "multipleOf": 0.01}}})
    assert info.value.pointer == "/properties/a/multipleOf"
    with pytest.raises(SchemaError) as info:  # the remainder automaton would be too large
        schema_to_grammar({"type": "integer", "multipleOf": 2 ** 64 + 1})
    assert info.value.kind == "unsupported"
    schema = {"type": "integer", "multipleOf": 10 ** 4}  # minimised: a handful of states
    assert accepts(schema, "-30000") and not accepts(schema, "30001") and accepts(schema, "0")
    schema = {"type": "integer", "multipleOf": 997, "minimum": 0}
    assert accepts(schema, str(997 * 12345)) and not accepts(schema, str(997 * 12345 + 1))
