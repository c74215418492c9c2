"""Matcher exactness: invariants on random walks, and lark's own parser as the oracle.

* ``mask()[t] == check(t)`` for every token at every step (mask is vectorised, check runs bytes: two
  implementations of one definition);
* fork and rollback are the identity; EOS is allowed iff the text is complete;
* every complete text is accepted by ``lark.Lark(..., lexer="dynamic_complete")`` and every prefix the matcher
  allows can be completed (checked by extending it with a token walk that reaches EOS).

The walks and checks are :mod:`corral.testing`'s (``random_walk``, ``synthetic_vocab``, ``lark_oracle``), the same
functions users run on their own grammars; ``tests/runtime/test_testing.py`` tests them.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.compile.grammar import Grammar
from corral.errors import GrammarError
from corral.runtime.matcher import CompiledGrammar
from corral.testing import lark_oracle, random_walk, synthetic_vocab
from corral.tokens.vocabulary import Vocabulary

from conftest import GRAMMARS_DIR

EOS = 0


SMALL_GRAMMARS = {
    "parens": ('start: "(" start ")" start | ', "()x"),
    "list": ('start: "[" [item ("," item)*] "]"\nitem: /[0-9]+/ | start\n%ignore " "', "[],0123 x"),
    "ambiguous": ("start: A+ B?\nA: /a+/\nB: /ab|b/", "ab"),
    "keywords": ('start: "select"i NAME ("," NAME)*\nNAME: /[a-z]+/\n%ignore /[ ]+/', "selcta ,"),
    "nullable": ("start: a b c\na: \"x\"?\nb: c*\nc: \"y\" | ", "xyz"),
}


@pytest.mark.parametrize("name", sorted(SMALL_GRAMMARS))
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_small_grammar_walks(name, seed):
    text, alphabet = SMALL_GRAMMARS[name]
    vocab = synthetic_vocab(alphabet)
    cg = CompiledGrammar(Grammar.from_lark(text), vocab)
    accepts = lark_oracle(text)
    rng = random.Random(seed)
    m = cg.matcher()
    toks = random_walk(m, rng, steps=12, oracle=accepts)  # is_complete() == lark's verdict at every step
    body = vocab.decode([t for t in toks if t != EOS]).decode()
    if toks and toks[-1] == EOS:
        assert accepts(body), f"matcher completed {body!r} but lark rejects it"
    else:
        # Every allowed prefix must be completable: greedily finish it with more walking (bounded).
        finished = False
        for attempt in range(30):
            f = m.fork()
            extra = random_walk(f, random.Random(attempt), steps=30, all_tokens=False, p_eos=0.9)
            if extra and extra[-1] == EOS:
                full = body + vocab.decode(extra[:-1]).decode()
                assert accepts(full)
                finished = True
                break
        assert finished, f"could not complete prefix {body!r}"


@pytest.mark.parametrize("name", sorted(SMALL_GRAMMARS))
def test_small_grammar_exhaustive_strings(name):
    """Byte-level: every string over the alphabet up to length 5 is complete iff lark parses it."""
    text, alphabet = SMALL_GRAMMARS[name]
    cg = CompiledGrammar(Grammar.from_lark(text), synthetic_vocab(alphabet))
    accepts = lark_oracle(text)
    strings = [""]
    frontier = [""]
    for _ in range(5 if len(alphabet) <= 5 else 4):
        frontier = [s + a for s in frontier for a in alphabet]
        strings += frontier
    for s in strings:
        assert cg.accepts(s.encode()) == accepts(s), s
        if accepts(s):
            for k in range(len(s)):
                assert cg.is_prefix(s[:k].encode()), (s, k)


def test_tokens_spanning_lexemes():
    g = Grammar.from_lark('start: "{" PAIR ("," PAIR)* "}"\nPAIR: /[a-z]+:[0-9]/\n%ignore " "')
    vocab = Vocabulary.from_token_bytes([None, b"{", b"a:1", b"a:1,b", b":2}", b"} ", b"  ", b"{ a", b"x"], [0])
    m = CompiledGrammar(g, vocab).matcher()
    assert m.check(1) and m.check(7) and not m.check(2)
    m.advance(7)  # "{ a"
    assert m.check(4)  # ":2}" continues the lexeme "a" and ends two lexemes inside one token
    m.advance(4)
    assert m.is_complete() and m.check(0) and m.check(6) and not m.check(5) and not m.check(8)
    m.advance(6)
    assert m.is_complete()


def test_forced_tokens_and_packed_mask():
    g = Grammar.from_lark('start: "abc" /[0-9]/')
    vocab = Vocabulary.from_token_bytes([None, b"a", b"b", b"c", b"1", b"2", b"x"], [0])
    m = CompiledGrammar(g, vocab).matcher()
    assert m.forced_tokens() == [1, 2, 3]
    assert m.num_tokens == 0
    packed = m.mask_packed()
    assert packed.dtype == np.int32 and packed.shape == (1,)
    assert int(packed[0]) == 1 << 1
    for t in [1, 2, 3, 4]:
        m.advance(t)
    assert m.forced_tokens() == [0]
    with pytest.raises(ValueError):
        m.advance(6)


def test_empty_language_and_bad_terminals():
    vocab = synthetic_vocab("ab")
    with pytest.raises(GrammarError, match="empty"):
        CompiledGrammar(Grammar.from_lark('start: "a" start'), vocab)


def test_eos_only_after_complete_and_terminated():
    g = Grammar.from_lark('start: "a"+')
    vocab = synthetic_vocab("ab")
    m = CompiledGrammar(g, vocab).matcher()
    assert not m.check(EOS)
    m.advance(vocab.token_bytes.index(b"a"))
    assert m.check(EOS)
    m.advance(EOS)
    assert m.is_terminated() and not m.mask().any()


SHIPPED = ["json", "arithmetic", "sql", "csv", "smiles"]


@pytest.mark.parametrize("name", SHIPPED)
@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_shipped_grammar_walks(name, seed):
    path = GRAMMARS_DIR / f"{name}.lark"
    text = path.read_text()
    alphabet = "".join(sorted(set(_alphabet_for(name))))
    vocab = synthetic_vocab(alphabet, seed=seed)
    cg = CompiledGrammar(Grammar.from_lark(text), vocab)
    accepts = lark_oracle(text)
    rng = random.Random(seed)
    m = cg.matcher()
    toks = random_walk(m, rng, steps=25, p_eos=0.5, oracle=accepts)
    if toks and toks[-1] == EOS:
        assert accepts(vocab.decode(toks[:-1]).decode())


def _alphabet_for(name: str) -> str:
    return {
        "json": '{}[]:," abc019.-\\etrunfls',
        "arithmetic": "0123456789.+-*/() ",
        "sql": "selctfromwhrSELCTFROMWHR ,*=<>'0123()_abn.",
        "csv": 'ab1,"\n\r ',
        "smiles": "CNOcno()=#123[]H+-@",
    }[name]


def test_prefix_group_cache_is_bounded_and_stays_exact():
    """With a tiny id budget the prefix-group cache evicts (keeping at most the newest entry over budget), and the
    groups check_group returns stay exact along a random walk."""
    text = (GRAMMARS_DIR / "json.lark").read_text()
    vocab = synthetic_vocab("".join(sorted(set(_alphabet_for("json")))), seed=4)
    cg = CompiledGrammar(Grammar.from_lark(text), vocab)
    cg._GROUP_CACHE_IDS = 8
    rng = random.Random(4)
    for _ in range(3):
        m = cg.matcher()
        random_walk(m, rng, steps=20, p_eos=0.3)  # assert_step_invariants checks every group against the mask
        assert len(cg._group_cache) <= 1 or cg._group_cache_ids <= 8
        assert cg._group_cache_ids == sum(p.size for p in cg._group_cache.values())
    assert cg._group_cache, "the walk never computed a prefix group"
