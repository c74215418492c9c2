"""``corral.authoring.examples`` (issue 15): every string drawn is in the language (the compiled matcher and lark's parser
agree), the drawn strings together use every rule of the shipped grammars, and schema examples validate."""

from __future__ import annotations

import json

import jsonschema
import pytest

from corral.authoring.examples import _draw, examples
from corral.compile.grammar import Grammar, grammar_from_source, list_shipped_grammars
from corral.compile.json_schema import schema_to_grammar
from corral.runtime.matcher import CompiledGrammar
from corral.testing import lark_oracle, synthetic_vocab_for


@pytest.mark.parametrize("name", list_shipped_grammars())
def test_examples_are_in_the_language_and_cover_every_rule(name):
    grammar = grammar_from_source(name)
    texts, used = _draw(grammar, len(grammar.rules) + 10, 7, 200)
    assert used == set(range(len(grammar.rules))), f"{name}: rules never used: {set(range(len(grammar.rules))) - used}"
    cg = CompiledGrammar(grammar, synthetic_vocab_for(grammar))
    oracle = lark_oracle(grammar)
    for text in texts:
        assert cg.accepts(text.encode()), (name, text)
        if len(text) <= 60:
            assert oracle(text), (name, text)


def test_examples_are_reproducible_and_distinct():
    g = grammar_from_source("arithmetic")
    assert examples(g, 8, seed=3) == examples(g, 8, seed=3)
    assert len(set(examples(g, 8, seed=3))) == len(examples(g, 8, seed=3))


def test_a_finite_language_gives_what_it_has():
    g = Grammar.from_lark('start: "a" | "b" "c"')
    assert sorted(examples(g, 10, seed=0)) == ["a", "bc"]


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                      "age": {"type": "integer", "minimum": 0}}, "required": ["name"]},
    {"type": "array", "items": {"enum": ["red", "green", 3]}, "minItems": 1, "maxItems": 3},
    {"anyOf": [{"type": "string", "pattern": "^[a-z]+@[a-z]+$"}, {"type": "null"}]},
])
def test_schema_examples_validate(schema):
    texts = examples(schema_to_grammar(schema, whitespace="spaced"), 12, seed=5)
    assert texts
    for text in texts:
        jsonschema.validate(json.loads(text), schema)
