"""Strings with large length bounds compile as a chain of chunks (json_schema/long_strings.py): exactly the strings
python-jsonschema accepts, at every length around the chunk boundaries and the bounds; a wrong variant (a
remainder one unit too short) is caught."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

from corral.compile.json_schema import long_strings, schema_to_grammar
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
ALPHABET = ["a", "é", "\"", "\n", "\\", "\u0001", "語", "😀"]  # one unit each, 1 to 6 bytes of canonical text


def _text(rng: random.Random, n: int) -> str:
    return json.dumps("".join(rng.choice(ALPHABET) for _ in range(n)), ensure_ascii=False)


def _lengths(lo: int, hi: int | None, chunk: int) -> list[int]:
    """Lengths around zero, the bounds and every chunk boundary up to past the upper bound."""
    top = (hi if hi is not None else lo) + 2 * chunk
    out = {0, 1, lo - 1, lo, lo + 1}
    if hi is not None:
        out |= {hi - 1, hi, hi + 1}
    for k in range(0, top + 1, chunk):
        out |= {k - 1, k, k + 1}
    return sorted(x for x in out if 0 <= x <= top)


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 units from bounds above 10: the same construction at sizes where every length is cheap."""
    monkeypatch.setattr(long_strings, "CHUNK", 4)
    monkeypatch.setattr(long_strings, "LONG_STRING", 10)
    import corral.compile.json_schema.strings as strings
    monkeypatch.setattr(strings, "LONG_STRING", 10)


BOUNDS = [(0, 11), (0, 12), (0, 13), (3, 17), (11, 11), (12, 40), (13, None), (16, None), (0, 1000), (999, 1000)]


@pytest.mark.parametrize("lo,hi", BOUNDS)
def test_chunked_strings_match_the_validator(small_chunks, lo, hi):
    schema = {"type": "string", "minLength": lo} | ({} if hi is None else {"maxLength": hi})
    grammar = schema_to_grammar(schema)
    assert any(r.lhs.startswith("chunks") for r in grammar.rules)  # the chunk path was taken
    cg = CompiledGrammar(grammar, VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    rng = random.Random(lo * 1000 + (hi or 0))
    for n in _lengths(lo, hi, 4):
        text = _text(rng, n)
        assert cg.accepts(text.encode()) == validator.is_valid(json.loads(text)), (schema, n)


def test_a_wrong_remainder_is_caught(small_chunks, monkeypatch):
    """A remainder range one unit too low (r_lo - 1) lets a string one unit short of minLength through."""
    right = long_strings._remainder

    def wrong(b, lhs, r_lo, r_hi):
        right(b, lhs, max(0, r_lo - 1), r_hi)

    monkeypatch.setattr(long_strings, "_remainder", wrong)
    schema = {"type": "string", "minLength": 13, "maxLength": 40}
    cg = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    assert cg.accepts(_text(random.Random(0), 12).encode())  # what the test above would catch


@pytest.mark.parametrize("schema", [{"type": "string", "maxLength": 32767},
                                    {"type": ["string", "null"], "minLength": 50, "maxLength": 65535},
                                    {"type": "string", "minLength": 5000}])
def test_real_bounds_compile_small(schema):
    """The MaskBench bounds: at most three rules per chunk, terminals of at most CHUNK units, exact at the bounds."""
    grammar = schema_to_grammar(schema)
    assert len(grammar.rules) <= 3 * (schema.get("maxLength", schema.get("minLength", 0)) // long_strings.CHUNK) + 12
    cg = CompiledGrammar(grammar, VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    lo, hi = schema.get("minLength", 0), schema.get("maxLength")
    rng = random.Random(1)
    for n in sorted({0, lo - 1, lo, lo + 1, long_strings.CHUNK} | ({hi - 1, hi, hi + 1} if hi else set())):
        if n >= 0:
            text = json.dumps("x" * n)
            assert cg.accepts(text.encode()) == validator.is_valid(json.loads(text)), (schema, n)
    assert cg.accepts(_text(rng, 300).encode()) == validator.is_valid(json.loads(_text(random.Random(1), 300)))


def test_lengths_with_a_pattern_keep_their_limit():
    """A long bound beside a pattern is not chunked (the pattern automaton would need a copy per chunk): the
    clear error stays."""
    from corral.errors import SchemaError

    with pytest.raises(SchemaError, match="maxLength above 256"):
        schema_to_grammar({"type": "string", "pattern": "^a", "maxLength": 5000})
