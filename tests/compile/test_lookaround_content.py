"""String constraints whose product automaton has no short regex are spelled with lookaheads
(scalars.lookaround_content) and their DFA registered under that text: the text means the same language for
Python's ``re`` over a content and between quotes, the compiled grammar matches python-jsonschema, and a wrong
spelling (lookaheads ending at ``\\Z`` only) is caught between quotes."""

from __future__ import annotations

import json
import random
import re

import jsonschema
import pytest

from corral.compile.json_schema import regexes as rx, schema_to_grammar
from corral.compile.json_schema.scalars import lookaround_content
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
CHARS = "ab:-.0\"\\\t"  # no newline: Python's $ matches before a final newline, ECMAScript's does not

SCHEMAS = [
    {"type": "string", "pattern": "^([a-z0-9-]+):([a-z0-9\\.-]+):([a-z0-9-]+)?:([a-z0-9-]+)$", "maxLength": 12},
    {"type": "string", "pattern": "a.*b", "minLength": 3, "maxLength": 9},
    {"type": "string", "pattern": "^[ab:]*$", "not": {"pattern": "ab"}, "maxLength": 10},
]


def _strings(rng: random.Random, n: int) -> list[str]:
    return [''.join(rng.choice(CHARS) for _ in range(rng.randint(0, 14))) for _ in range(n)]


def test_the_spelling_means_the_intersection_for_re():
    a, b, n = rx.pattern_regex("a.*b"), rx.string_regex(3, 9)[1:-1], rx.pattern_regex(":")
    spelled = lookaround_content([a, b], [n])
    wrong = spelled.replace('(?:"|\\Z)', "\\Z")
    caught = 0
    for s in _strings(random.Random(0), 600):
        content = json.dumps(s)[1:-1]
        want = bool(re.fullmatch(a, content) and re.fullmatch(b, content) and not re.fullmatch(n, content))
        assert bool(re.fullmatch(spelled, content)) == want, s
        assert bool(re.fullmatch(f'"{spelled}"', f'"{content}"')) == want, s  # between quotes too
        caught += bool(re.fullmatch(f'"{wrong}"', f'"{content}"')) != want
    assert caught > 0  # lookaheads that only end at \Z fail between quotes


@pytest.mark.parametrize("schema", SCHEMAS)
def test_spelled_terminals_match_the_validator(schema, monkeypatch):
    """Force the lookaround spelling (as if every product regex were too long) and compare with jsonschema."""
    from corral.automata import operations

    monkeypatch.setattr(operations, "dfa_to_regex", _too_long)
    grammar = schema_to_grammar(schema)
    assert any("(?=" in t.pattern or "(?!" in t.pattern for t in grammar.terminals.values())
    cg = CompiledGrammar(grammar, VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    for s in _strings(random.Random(1), 400) + ["a:b::c", "ab:0-.b", "a:b:c:d"]:
        text = json.dumps(s, ensure_ascii=False)
        assert cg.accepts(text.encode()) == validator.is_valid(s), (schema, s)


def _too_long(dfa, max_size=0, max_states=0):
    raise ValueError("the regex of the automaton is too large")


def test_spelled_key_classes_match_the_validator(monkeypatch):
    """Key classes of patternProperties spelled with lookaheads (forced) give the validator's objects."""
    from corral.automata import operations

    monkeypatch.setattr(operations, "dfa_to_regex", _too_long)
    schema = {"type": "object", "properties": {"ab": {"type": "null"}},
              "patternProperties": {"a.*b": {"type": "integer"}, "^b": {"type": "string"}},
              "additionalProperties": {"type": "boolean"}}
    grammar = schema_to_grammar(schema, property_order="any")
    assert any("(?=" in t.pattern for t in grammar.terminals.values())
    cg = CompiledGrammar(grammar, VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    rng = random.Random(2)
    values = [None, 1, "s", True]
    for _ in range(300):
        keys = {''.join(rng.choice("ab:") for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(0, 3))}
        x = {k: rng.choice(values) for k in keys}
        text = json.dumps(x, separators=(",", ":"))
        assert cg.accepts(text.encode()) == validator.is_valid(x), (x, text)


def test_the_spelling_compiles_from_its_text():
    """Once the registration is gone (the registry is bounded), compile_regex builds the same language from the
    lookaround text (intersection and difference of automata)."""
    from corral.automata.regex import clear_caches, compile_regex

    a, b, n = rx.pattern_regex("a.*b"), rx.string_regex(3, 9)[1:-1], rx.pattern_regex(":")
    spelled = lookaround_content([a, b], [n])
    clear_caches()
    dfa = compile_regex(f'"{spelled}"')
    for s in _strings(random.Random(3), 400):
        text = json.dumps(s)
        content = text[1:-1]
        want = bool(re.fullmatch(a, content) and re.fullmatch(b, content) and not re.fullmatch(n, content))
        assert dfa.fullmatch(text.encode()) == want, s
