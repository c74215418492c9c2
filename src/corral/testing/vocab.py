"""Synthetic vocabularies: tiny byte-level vocabularies that reach deep into a language.

:func:`synthetic_vocab` builds one over an alphabet (EOS, every symbol, every pair, random longer strings);
:func:`synthetic_vocab_for` picks the alphabet and extra tokens from a grammar's terminals. Small enough that a walk
(:mod:`corral.testing.invariants`) can check every token at every step. The compiler and the tokens module are
imported on first use.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.compile.grammar import Grammar
    from corral.tokens.vocabulary import Vocabulary

#: The EOS id of the vocabularies :func:`synthetic_vocab` and :func:`synthetic_vocab_for` build.
SYNTHETIC_EOS = 0


def synthetic_vocab(alphabet: str | bytes, extra: Iterable[str | bytes] = (), seed: int = 0) -> Vocabulary:
    """A small vocabulary over an alphabet: EOS, every symbol, every pair of symbols, and random longer strings.

    Parameters
    ----------
    alphabet : str or bytes
        The symbols: the characters of a ``str`` (each token is its UTF-8 encoding), or the single bytes of a
        ``bytes`` value.
    extra : iterable of str or bytes, default: ()
        More tokens (e.g. a grammar's keywords); duplicates are dropped.
    seed : int, default: 0
        Seeds the 60 random strings of 3 to 6 symbols added last.

    Returns
    -------
    Vocabulary
        Token 0 (:data:`SYNTHETIC_EOS`) is EOS; then the symbols, the pairs, ``extra`` and the random strings,
        each once, in that order.
    """
    from corral.tokens.vocabulary import Vocabulary

    symbols = [bytes([b]) for b in alphabet] if isinstance(alphabet, (bytes, bytearray)) else \
        [c.encode() for c in alphabet]
    rng = random.Random(seed)
    toks: list[bytes | None] = [None]
    seen = set()
    pairs = [a + b for a in symbols for b in symbols]
    for b in symbols + pairs + [e.encode() if isinstance(e, str) else bytes(e) for e in extra]:
        if b and b not in seen:
            seen.add(b)
            toks.append(b)
    for _ in range(60 if symbols else 0):
        s = b"".join(rng.choice(symbols) for _ in range(rng.randint(3, 6)))
        if s not in seen:
            seen.add(s)
            toks.append(s)
    return Vocabulary.from_token_bytes(toks, eos_token_ids=[SYNTHETIC_EOS])


def synthetic_vocab_for(grammar: Grammar | str, *, seed: int = 0, max_alphabet: int = 32) -> Vocabulary:
    """A :func:`synthetic_vocab` whose symbols and tokens come from a grammar's terminals.

    The alphabet is the bytes of the grammar's literals, then the printable ASCII bytes its terminals' DFAs can
    take, then any other bytes they take, capped at ``max_alphabet`` (a seeded sample of the later groups). The
    extra tokens are the literals, each literal followed by a space, and a few strings sampled from every
    terminal's DFA (so even a terminal over bytes outside the alphabet is reachable).

    Parameters
    ----------
    grammar : Grammar or str
        A grammar, or its Lark text.
    seed : int, default: 0
        Seeds the samples.
    max_alphabet : int, default: 32
        Most symbols (the pairs grow with its square).

    Returns
    -------
    Vocabulary
        EOS is token 0 (:data:`SYNTHETIC_EOS`).
    """
    from corral.automata.regex import compile_regex

    grammar = _as_grammar(grammar)
    rng = random.Random(seed)
    literals = [t.literal for t in grammar.terminals.values() if t.literal]
    first = sorted(set("".join(literals).encode()))
    printable, other = set(), set()
    samples: list[bytes] = []
    for term in grammar.terminals.values():
        dfa = compile_regex(term.pattern, term.flags)
        if dfa.is_empty:
            continue
        taken = np.unique(np.flatnonzero((dfa.transitions >= 0).any(axis=0)))
        for b in taken.tolist():
            (printable if 32 <= b < 127 or b in b"\t\n\r" else other).add(b)
        samples += _dfa_samples(dfa, rng, 3)
    alphabet = first[:max_alphabet]
    for group in (sorted(printable - set(alphabet)), sorted(other - set(alphabet) - printable)):
        room = max_alphabet - len(alphabet)
        alphabet += group if len(group) <= room else sorted(rng.sample(group, room))
    extra = [lit.encode() for lit in literals] + [(lit + " ").encode() for lit in literals[:40]] + samples
    return synthetic_vocab(bytes(alphabet), extra, seed=seed)


def _dfa_samples(dfa, rng: random.Random, n: int, max_len: int = 8) -> list[bytes]:
    """Up to ``n`` short strings of a DFA's language (random walks that stop at accepting states)."""
    out = []
    for _ in range(4 * n):
        state, data = 0, bytearray()
        while len(data) < max_len:
            if dfa.accepting[state] and (rng.random() < 0.4 or len(data) == max_len - 1):
                break
            nxt = np.flatnonzero(dfa.transitions[state] >= 0)
            if not nxt.size:
                break
            ascii_ = nxt[nxt < 128]
            b = int(rng.choice((ascii_ if ascii_.size and rng.random() < 0.9 else nxt).tolist()))
            data.append(b)
            state = int(dfa.transitions[state, b])
        if dfa.accepting[state] and data and bytes(data) not in out:
            out.append(bytes(data))
            if len(out) == n:
                break
    return out


def _as_grammar(target) -> Grammar:
    """A grammar, parsed from Lark text when ``target`` is a string."""
    from corral.compile.grammar import Grammar

    return Grammar.from_lark(target) if isinstance(target, str) else target
