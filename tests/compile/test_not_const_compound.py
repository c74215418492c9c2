"""``not`` over an ``enum``/``const`` holding arrays or objects (the widening found in review: the internal
``NOT_ENUM`` only excludes scalars, so ``{"not": {"const": {"a": 1}}}`` accepted ``{"a": 1}``): exact against
python-jsonschema on values near the excluded ones; the old compilation (``NOT_ENUM`` alone) is caught."""

from __future__ import annotations

import json

import jsonschema
import pytest

from corral.compile.json_schema import logic, schema_to_grammar
from corral.compile.json_schema.vocab import NOT_ENUM
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
SCHEMAS = [{"not": {"const": {"a": 1}}}, {"not": {"enum": [[1, 2], {"a": 1}, "x", 3]}},
           {"type": "object", "not": {"const": {"a": 1}}}, {"not": {"const": []}}, {"not": {"const": {}}},
           {"not": {"const": {"a": [1, {"b": None}]}}}, {"type": "array", "not": {"const": [1, 2]}},
           {"allOf": [{"enum": [[1], [1, 2], {"a": 1}, {"a": 2}]}, {"not": {"const": [1, 2]}},
                      {"not": {"const": {"a": 1}}}]}]  # an enum beside the negations: filtered by the oracle
VALUES = [{"a": 1}, {"a": 2}, {"a": 1, "b": 1}, {"b": 1, "a": 1}, {}, [], [1, 2], [1], [1, 1], [2, 1], "x", 3, 3.0,
          None, True, {"a": [1, {"b": None}]}, {"a": [1, {"b": 1}]}, {"a": [1]}, {"a": 1.0}, [1.0, 2]]


def _agrees(schema, **options) -> list:
    cg = CompiledGrammar(schema_to_grammar(schema, **options), VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    return [v for v in VALUES if cg.accepts(json.dumps(v, separators=(",", ":")).encode()) != validator.is_valid(v)]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("order", ["schema", "any"])
def test_negated_compound_values_match_the_validator(schema, order):
    assert _agrees(schema, property_order=order, integral_floats=True) == []


def test_what_cannot_be_merged_is_a_clear_error():
    """Excluding a one-item and a two-item array needs items beside prefixItems: refused, never widened."""
    from corral.errors import SchemaError

    with pytest.raises(SchemaError, match="allOf cannot be merged"):
        schema_to_grammar({"type": "array", "not": {"enum": [[1], [1, 1]]}})


def test_the_scalar_only_exclusion_is_caught(monkeypatch):
    def scalar_only(b, key, value, kp, seen, node, pointer):
        return [[({NOT_ENUM: [value] if key == "const" else list(value)}, kp)]]

    monkeypatch.setitem(logic.NEGATORS, "const", scalar_only)
    assert {"a": 1} in _agrees({"not": {"const": {"a": 1}}})
