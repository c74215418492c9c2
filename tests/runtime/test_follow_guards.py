"""Terminals whose lookahead reaches past the end of their lexemes (follow guards, corral.runtime.guards).

In lark a terminal's regex is matched against the whole input, so ``0(?![1-9])`` is a ``0`` not followed by a
digit 1-9. The matcher must agree with lark on every short string (lark's own ``dynamic_complete`` parser where
its ``re.match`` finds every lexeme, and corral.testing's oracle, which matches every candidate lexeme in context),
keep ``mask()[t] == check(t)`` with no dead end along random walks, and refuse clearly what it cannot follow.
"""

from __future__ import annotations

import itertools
import random

import lark
import pytest

from corral.compile.grammar import Grammar
from corral.errors import GrammarError
from corral.runtime import guards
from corral.runtime.matcher import CompiledGrammar
from corral.testing import lark_oracle, random_walk
from corral.testing.oracles import lark_accepts
from corral.tokens.vocabulary import Vocabulary

NUM = r"""
start: NUM+
NUM: /0(?![1-9])|[1-9][0-9]*/
"""

GRAMMARS = {
    "num": (NUM, "0123"),
    "num_spaces": (NUM + '%ignore " "\n', "012 "),
    "op": ('start: (NAME | OP | "a?")+\nNAME: /[a-z]+/\nOP: /[+*]|[?](?![a-z])/\n%ignore " "', "a?+ "),
    "string": ('start: (STR | NAME)+\nSTR: /"(?!"")[a-z]*"/\nNAME: /[a-z"]/', 'a"b'),
    "dead_ends": ('start: "x" y\ny: A "b" | "c" | A A\nA: /a(?![bc])/', "xabc"),
    "rescued_by_ignore": ('start: A B\nA: /a(?!b)/\nB: "b"\n%ignore " "', "ab "),
    "guarded_ignore": ('start: x+\nx: A | "b" | "c" A\nA: /a+(?![ab])/\n%ignore /c(?!a)/', "abc"),
    "dec_number": (r"""
start: (DEC_NUMBER | "." | "_")+
DEC_NUMBER: /(?:0(?:(?:_)?0)*(?![1-9])|[1-9](?:(?:_)?[0-9])*)/
""", "01_."),
}


def _vocab(chars: str) -> Vocabulary:
    toks = {c.encode() for c in chars} | {(a + b).encode() for a in chars for b in chars}
    return Vocabulary.from_token_bytes([None] + sorted(toks), eos_token_ids=[0])


def _strings(chars: str, longest: int = 5):
    for n in range(1, longest + 1):
        for t in itertools.product(chars, repeat=n):
            yield "".join(t)


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_agrees_with_lark_in_context(name):
    text, chars = GRAMMARS[name]
    grammar = Grammar.from_lark(text)
    cg = CompiledGrammar(grammar, _vocab(chars))
    assert not cg.native and any("~" in n for n in cg.terminal_names)
    oracle = lark_oracle(grammar)
    wrong = [s for s in _strings(chars) if cg.accepts(s.encode()) != oracle(s)]
    assert wrong == []


def test_num_agrees_with_plain_lark_and_a_guardless_matcher_does_not(monkeypatch):
    """lark's own scanner finds every NUM lexeme here (re.match then its prefixes), so it is the oracle as is."""
    raw = lark.Lark(NUM, parser="earley", lexer="dynamic_complete")
    grammar = Grammar.from_lark(NUM)
    cg = CompiledGrammar(grammar, _vocab("0123"))
    texts = list(_strings("0123", 5))
    assert [s for s in texts if cg.accepts(s.encode()) != lark_accepts(raw, s)] == []
    assert not cg.accepts(b"01") and cg.accepts(b"00") and cg.accepts(b"10") and cg.accepts(b"0")
    monkeypatch.setattr(guards, "plan_guards", lambda *args, **kwargs: None)  # lookahead read on the lexeme alone
    blind = CompiledGrammar(grammar, _vocab("0123"))
    assert [s for s in texts if blind.accepts(s.encode()) != lark_accepts(raw, s)]


@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_random_walks_keep_the_invariants(name):
    text, chars = GRAMMARS[name]
    grammar = Grammar.from_lark(text)
    cg = CompiledGrammar(grammar, _vocab(chars))
    oracle = lark_oracle(grammar)
    for seed in range(12):
        random_walk(cg.matcher(), random.Random(seed), steps=8, oracle=oracle)


def test_no_dead_end_where_a_guard_forbids_what_must_follow():
    cg = CompiledGrammar(Grammar.from_lark(GRAMMARS["dead_ends"][0]), _vocab("xabc"))
    m = cg.matcher()
    m.advance(cg.vocab.token_bytes.index(b"x"))
    allowed = {cg.vocab.token_bytes[t] for t in range(1, cg.vocab.size) if m.check(t)}
    assert b"a" in allowed and b"c" in allowed and b"ab" not in allowed  # "a" then "b" is forbidden
    assert cg.accepts(b"xaa") and cg.accepts(b"xc") and not cg.accepts(b"xab")


@pytest.mark.parametrize("text, message", [
    ('start: A B\nA: /a(?!b)/\nB: "b"', "language is empty"),
    ('start: A+\nA: /a(?=b)|b/', "positive"),
    ('start: A+\nA: /a(?!bc)|b/', "more than one character"),
    ('start: A+\nA: /(?<=a)b|a/', "before the start of the lexeme"),
])
def test_refused_with_the_terminal_named(text, message):
    with pytest.raises(GrammarError) as info:
        CompiledGrammar(Grammar.from_lark(text), _vocab("abc"))
    assert message in str(info.value)
    if "empty" not in message:
        assert "'A'" in str(info.value)
