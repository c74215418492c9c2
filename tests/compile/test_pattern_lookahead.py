"""ECMAScript ``pattern``s with lookaheads and inner anchors (real ones from MaskBench) compile exactly: a string is
accepted iff the pattern searches it (Python's ``re.search`` agrees with ECMAScript on these patterns over strings
without a newline), and a translation that drops the lookaheads is caught."""

from __future__ import annotations

import json
import random
import re

import pytest

from corral.compile.json_schema import regexes as rx, schema_to_grammar
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
PIECES = list("modeMab,= \t/.xy1\\\"é") + ["mode", "Mode", "pattern", "lucene.", "builtin.x", "..", "/../", "ab"]
PATTERNS = ["^((?!mode)(?!Mode).)*$", "^([^,]|$)", "^(?!pattern$).*$", "^(?!^lucene\\.|builtin\\.|mongodb\\.).*",
            "^(?=[^=]+$)(?!\\s+$)(.|\\n)+$", "^(\\/?((\\.{2})|([a-z0-9\\-]*))($|\\/))*$", "a(?=b)", "(?!ab)..",
            "x$|^y", "(?=.*a)(?=.*b)"]


def _strings(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6))) for _ in range(n)]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_lookahead_patterns_match_a_search(pattern):
    cg = CompiledGrammar(schema_to_grammar({"type": "string", "pattern": pattern}), VOCAB)
    for s in _strings(len(pattern), 800):
        text = json.dumps(s, ensure_ascii=False)
        assert cg.accepts(text.encode()) == (re.search(pattern, s) is not None), (pattern, s)


def test_dropping_the_lookaheads_is_caught(monkeypatch):
    """The same test with lookaheads translated as empty (a wrong translation) finds a mismatch."""
    emit = rx._emit

    def wrong(seq, at_start=False, in_look=False):
        return emit([(op, av) for op, av in seq if str(op) not in ("ASSERT", "ASSERT_NOT")], at_start, in_look)

    monkeypatch.setattr(rx, "_emit", wrong)
    pattern = "^((?!mode)(?!Mode).)*$"
    rx.pattern_regex.cache_clear()  # translations are memoised: translate again, and forget the wrong one after
    try:
        cg = CompiledGrammar(schema_to_grammar({"type": "string", "pattern": pattern}), VOCAB)
    finally:
        rx.pattern_regex.cache_clear()
    misses = [s for s in _strings(1, 300)
              if cg.accepts(json.dumps(s, ensure_ascii=False).encode()) != (re.search(pattern, s) is not None)]
    assert misses


def test_a_caret_after_a_character_matches_nothing():
    """``/^[0-9]{4}$/`` (slashes included, as some schemas write it) can never match: the property is never
    generated, the rest of the schema still is."""
    schema = {"properties": {"d": {"type": "string", "pattern": "/^[0-9]{4}$/"}}}
    cg = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    assert cg.accepts(b"{}") and not cg.accepts(b'{"d":"/1234/"}')


def test_lookbehinds_and_backreferences_stay_refused():
    for pattern in ["(?<=a)b", "(a)\\1", "\\bx"]:
        with pytest.raises(SchemaError, match="pattern"):
            schema_to_grammar({"type": "string", "pattern": pattern})
