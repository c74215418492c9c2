"""``uniqueItems`` over finitely many item values: grammar acceptance == jsonschema validity.

Oracles: ``test_json_schema.oracle`` (the default options: integers are integer literals, ``enum`` compares compact
dumps) and jsonschema's own Draft202012Validator for the exact options (``property_order="any"``,
``integral_floats=True``). Uniqueness is jsonschema's in both (``1 == 1.0``, ``true != 1``, objects whatever their
key order). The instances are arrays drawn from each schema's item values and near misses (seeded, and by
hypothesis); a deliberately wrong compilation (``uniqueItems`` dropped, or values grouped by their text instead of
their value) must be caught by the same check.
"""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import corral.compile.json_schema.arrays as arrays_module
from corral.compile.json_schema import schema_to_grammar
from corral.compile.json_schema.unique_items import MAX_UNIQUE_TRANSITIONS, group_values, unique_transitions
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar

from schema_checks import EXACT, cg_for, mismatches
from test_json_schema import VOCAB


# (schema, pool of item values the instances are drawn from)
CASES = [
    ({"type": "array", "items": {"enum": ["a", "b", "c"]}, "uniqueItems": True}, ["a", "b", "c", "d", 1]),
    ({"type": "array", "items": {"enum": [1, 1.0, 2, "1", True]}, "uniqueItems": True, "minItems": 1},
     [1, 1.0, 2, 2.0, "1", True, False, 0]),
    ({"type": "array", "items": {"type": "boolean"}, "uniqueItems": True}, [True, False, None, 0, 1]),
    ({"type": "array", "items": {"$ref": "#/$defs/e"}, "uniqueItems": True, "maxItems": 2,
      "$defs": {"e": {"enum": ["x", "y", "z", None]}}}, ["x", "y", "z", None, "w"]),
    ({"prefixItems": [{"const": "a"}, {"enum": ["a", "b"]}], "items": {"type": ["boolean", "null"]},
      "uniqueItems": True}, ["a", "b", True, False, None, 0]),
    ({"type": "array", "items": {"enum": [{"a": 1, "b": 2}, {"b": 2, "a": 1}, [1, 2], [1, 2.0], {"a": []}]},
      "uniqueItems": True}, [{"a": 1, "b": 2}, {"b": 2, "a": 1}, [1, 2], [1, 2.0], {"a": []}, {"a": 1}]),
    ({"type": "array", "items": {"anyOf": [{"const": 1}, {"type": "null"}, {"enum": ["q", 1]}]},
      "uniqueItems": True}, [1, None, "q", 2, 1.0]),
    ({"type": "array", "items": {"enum": [1, 2, 3, 4]}, "contains": {"minimum": 3}, "minContains": 2,
      "uniqueItems": True}, [1, 2, 3, 4, 5]),
    ({"type": "array", "items": {"allOf": [{"enum": [1, 2, 3, "a"]}, {"type": "integer"}]}, "uniqueItems": True,
      "minItems": 2, "maxItems": 2}, [1, 2, 3, "a"]),
    ({"type": "array", "items": {"enum": [0, -0.0, 0.5, "0"]}, "uniqueItems": True}, [0, -0.0, 0.0, 0.5, "0"]),
    ({"type": "array", "items": {"enum": list(range(12))}, "uniqueItems": True}, list(range(13))),
    ({"type": "array", "items": {"enum": list("abcdefghijklmnopqrstuvwxyz")}, "uniqueItems": True,
      "maxItems": 2}, list("abcz") + [1]),
]


def instances(pool, seed: int, n: int = 150) -> list:
    rng = random.Random(seed)
    out = [[], [pool[0]], [pool[0], pool[0]], pool[:3], pool[:3][::-1], "x", None, {}]
    for _ in range(n):
        out.append([rng.choice(pool) for _ in range(rng.randint(0, 5))])
    return out


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("index", range(len(CASES)))
def test_seeded_instances_match_validator(index, exact):
    schema, pool = CASES[index]
    assert not mismatches(schema, instances(pool, index), exact)


@pytest.mark.parametrize("index", range(len(CASES)))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_instances_match_validator(index, data):
    schema, pool = CASES[index]
    x = data.draw(st.lists(st.sampled_from(pool), max_size=6))
    exact = data.draw(st.booleans())
    assert not mismatches(schema, [x], exact), (schema, x, exact)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_the_check_catches_uniqueness_ignored(index):
    """The same check on the grammar compiled without ``uniqueItems`` finds instances it gets wrong."""
    schema, pool = CASES[index]
    wrong = CompiledGrammar(schema_to_grammar({k: v for k, v in schema.items() if k != "uniqueItems"}), VOCAB)
    assert mismatches(schema, instances(pool, index), False, compiled=wrong)


def test_the_check_catches_values_grouped_by_text(monkeypatch):
    """Grouping the values by their text (1 apart from 1.0, key orders apart) is caught."""
    monkeypatch.setattr(arrays_module, "group_values", lambda values: [[v] for v in dict(
        (json.dumps(v), v) for v in values).values()])
    for schema, pool in (CASES[1], CASES[5]):
        wrong = CompiledGrammar(schema_to_grammar(schema, **EXACT), VOCAB)
        assert mismatches(schema, instances(pool, 7), True, compiled=wrong)


def test_equal_values_share_one_group():
    groups = group_values([1, 1.0, True, "1", 0, -0.0, {"a": 1, "b": [2]}, {"b": [2.0], "a": 1}, [1], [True]])
    assert groups == [[1, 1.0], [True], ["1"], [0, -0.0], [{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}], [[1]],
                      [[True]]]
    for g in groups:  # jsonschema's own uniqueness agrees
        assert not jsonschema._utils.uniq(g) if len(g) > 1 else True
    assert jsonschema._utils.uniq([g[0] for g in groups])


def test_spellings_of_one_value_are_one_item():
    schema = {"type": "array", "items": {"enum": [1, {"a": 1, "b": 2}]}, "uniqueItems": True}
    cg = cg_for(schema, **EXACT)
    assert cg.accepts(b'[1,{"b":2,"a":1}]') and cg.accepts(b'[{"a":1,"b":2},1.0]')
    assert not cg.accepts(b'[1,1.0]') and not cg.accepts(b'[{"a":1,"b":2},{"b":2,"a":1}]')
    spaced = CompiledGrammar(schema_to_grammar(schema, whitespace="free", **EXACT), VOCAB)
    assert spaced.accepts(b'[ 1 , { "a" : 1 , "b" : 2 } ]') and not spaced.accepts(b'[1.0, 1]')


def test_limits_and_refusals():
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"type": "array", "items": {"type": "string"}, "uniqueItems": True})
    e = info.value
    assert (e.kind, e.pointer, e.keyword) == ("unsupported", "/uniqueItems", "uniqueItems")
    assert "finitely many values" in e.message and "/items" in e.message
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"properties": {"a": {"items": {"enum": list(range(13))}, "uniqueItems": True}}})
    e = info.value
    assert (e.kind, e.pointer, e.keyword) == ("unsupported", "/properties/a/uniqueItems", "uniqueItems")
    assert "13 distinct item values" in e.message
    assert unique_transitions(12, None) == MAX_UNIQUE_TRANSITIONS
    schema_to_grammar({"items": {"enum": list(range(13))}, "uniqueItems": True, "maxItems": 3})
    # a position that cannot exist needs no finite language; the prefix alone bounds the array
    schema_to_grammar({"prefixItems": [{"type": "boolean"}, {"const": 1}], "items": False, "uniqueItems": True})
    with pytest.raises(SchemaError):
        schema_to_grammar({"prefixItems": [{"type": "boolean"}], "uniqueItems": True})  # items: anything after
    with pytest.warns(UserWarning, match="uniqueItems"):
        schema_to_grammar({"items": {"type": "string"}, "uniqueItems": True}, lenient=True)


def test_too_few_values_for_min_items_is_empty():
    schema = {"type": "object", "properties": {"a": {"items": {"enum": ["x", "y"]}, "uniqueItems": True,
                                                     "minItems": 3}}}
    cg = cg_for(schema)
    assert cg.accepts(b'{}') and not cg.accepts(b'{"a":["x","y","x"]}')
