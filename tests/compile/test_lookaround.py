"""Lookaround and inner anchors compiled exactly (corral.automata.assertions / lookaround / lexemes).

``compile_regex(p)`` must accept exactly the UTF-8 encodings of the strings ``re.fullmatch(p, s)`` accepts: checked
on seeded random strings and on every short string over the pattern's characters. Deliberately wrong constructions
(a negative assertion read as a positive one, an undecided lookahead taken as met) are shown to disagree on the
same strings, so the comparison can fail.
"""

from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest

from corral.automata import assertions, lookaround, nfa
from corral.automata.lexemes import lexeme_dfas
from corral.automata.regex import clear_caches, compile_regex
from corral.budget import budget_scope
from corral.errors import GrammarError, RegexError

PATTERNS = [
    r"a(?=b)b",
    r"(?!ab)[ab]{2}",
    r"(?:a(?!b)|b)*",
    r"(?:a(?=b)|b)*",
    r"\w+(?<!_)",
    r"(?<=a)b|ab",
    r"x(?<=x)y(?<!xy)|xy",
    r"(?:(?<=a)b|a)*",
    r"(?:(?<![ab])c|[ab])*",
    r"(?<=a|b)c|[ab]c?",
    r"(?:(?<=\d{2})x|\d)*",
    r"(?=.*b)(?=.*a).*",
    r"(?=(a|ab)$)..?",
    r"(?=a\Z|b).*",
    r"(?=a(?=b)).*",
    r"(?=a(?!b\Z)).*",
    r"(?=a(?=b)b(?!c))\w*",
    r"(?:(?<=a(?<!b)a)c|a|b)*",
    r"(?:(?<=^a)b|a)+",
    r"(?:(?<!\Aa)b|a)*",
    r"(?!)a|b",
    r"(?=)a",
    r"(?s)(?=.{0,3}\Z).*",
    # inner anchors (as assertions)
    r"a$|b",
    r"^a|b^",
    r"\Za|b",
    r"(?:a$)+",
    r"(?:a\Z|b)+",
    r"(?:\n|a$)*",
    r"(?m)a$\nb",
    r"(?m)(?:^a|\n)*",
    r"(?m)(?:a$|\n)*",
    r"(?:a|\n)*(?<!\n)",
    # Unicode and case folding inside lookaround
    r"(?i)(?<=k)\w(?!é)|k",
    r"(?:(?<=é)x|\S(?=日))*",
    r'"(?!"")[^"]*"',
    # the JSON Schema compiler's spelling of intersection and difference
    r"(?=(?:[ab]+)\Z)(?!(?:a*)\Z)(?:.{2,5})",
    r'(?=(?:a.*)(?:"|\Z))(?!(?:.*b)(?:"|\Z))(?:[ab"]*)',
]

EXTRA = "ab\n_xyé日k K\"1"


def _texts(pattern: str, n_random: int = 300, seed: int = 0) -> list[str]:
    """Every string of length <= 4 over a few of the pattern's characters, and random longer ones."""
    chars = sorted(set(c for c in pattern if c.isalnum() or c in " \n\"") | set("ab\n"))
    small = chars[:6]
    out = ["".join(t) for n in range(5) for t in itertools.product(small, repeat=n)]
    rng = random.Random(seed)
    alphabet = chars + list(EXTRA)
    out += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(n_random)]
    return out


def _disagreements(pattern: str, dfa) -> list[str]:
    """The texts on which ``dfa`` and ``re.fullmatch(pattern)`` differ."""
    rx = re.compile(pattern)
    return [s for s in _texts(pattern) if dfa.fullmatch(s.encode()) != bool(rx.fullmatch(s))]


def _compile_uncached(pattern: str):
    """``compile_regex`` with the caches emptied before and after (under a patched, deliberately different
    construction: neither reads nor leaves a cached automaton)."""
    clear_caches()
    try:
        return compile_regex(pattern)
    finally:
        clear_caches()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_agrees_with_re(pattern):
    assert _disagreements(pattern, compile_regex(pattern)) == []


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if p.startswith("(?=") or p.startswith("(?!")])
def test_leading_lookaheads_as_products_equal_the_general_construction(pattern, monkeypatch):
    product = compile_regex(pattern)
    monkeypatch.setattr(nfa, "_leading_lookaheads", lambda *args: None)
    general = _compile_uncached(pattern)
    assert (product.transitions == general.transitions).all() and (product.accepting == general.accepting).all()


def _wrong_register(nfa_, kind, negative, start, final, s):
    """``assertions._register`` with the polarity flipped: a deliberately wrong construction."""
    return _REGISTER(nfa_, kind, not negative, start, final, s)


_REGISTER = assertions._register


@pytest.mark.parametrize("pattern", [r"(?!ab)[ab]{2}", r"\w+(?<!_)", r"(?:a(?!b)|b)*", r"(?:\n|a$)*"])
def test_a_flipped_polarity_is_caught(pattern, monkeypatch):
    monkeypatch.setattr(assertions, "_register", _wrong_register)
    monkeypatch.setattr(nfa, "_leading_lookaheads", lambda *args: None)
    wrong = _compile_uncached(pattern)
    assert _disagreements(pattern, wrong)


@pytest.mark.parametrize("pattern", [r"a(?=c)[bc]|a", r"(?:a(?=b)|b)*", r"(?=a(?=b)).*"])
def test_a_dropped_lookahead_is_caught(pattern, monkeypatch):
    def met(self, obligations, a, d):  # every lookahead taken as met at once
        return obligations
    monkeypatch.setattr(lookaround.Subset, "oblige", met)
    monkeypatch.setattr(nfa, "_leading_lookaheads", lambda *args: None)
    wrong = _compile_uncached(pattern)
    assert _disagreements(pattern, wrong)


def test_the_json_spelling_of_a_large_product_compiles_fast():
    import time

    a, n, b = r"(?:[a-z0-9]{0,200})", r"(?:[^\"]*(?:abc|bcd|cde)[^\"]*)", r"(?:[a-e0-9]*[0-9][a-e0-9]*)"
    pattern = f'(?=(?:{a})(?:"|\\Z))(?!(?:{n})(?:"|\\Z))(?:{b})'
    clear_caches()
    start = time.process_time()
    dfa = compile_regex(pattern)
    assert time.process_time() - start < 5.0 and dfa.n_states > 1000
    rng = random.Random(3)
    for _ in range(2000):
        s = "".join(rng.choice("abcde0129") for _ in range(rng.randint(0, 14)))
        assert dfa.fullmatch(s.encode()) == bool(re.fullmatch(pattern, s)), s


REFUSED = [
    (r"(?=a(?<=a))", "lookbehind (?<=...)", 4),
    (r"(?<!a(?!b))c", "negative lookahead (?!...)", 5),
    (r"(?<=a$)b", "anchor $", 5),
    (r"(?=a\Ab).*", "anchor \\A", 4),
    (r"(?=a\b)a", "word boundary \\b", 4),
    (r"(?=(a)\1)a", "backreference", 6),
]


@pytest.mark.parametrize("pattern, construct, position", REFUSED)
def test_refused_inside_lookaround(pattern, construct, position):
    with pytest.raises(RegexError) as info:
        compile_regex(pattern)
    assert (info.value.construct, info.value.position) == (construct, position)
    assert construct in str(info.value)


def test_variable_width_lookbehind_is_a_syntax_error_as_in_re():
    with pytest.raises(re.error):
        re.compile(r"a(?<=a|bc)")
    with pytest.raises(RegexError) as info:
        compile_regex(r"a(?<=a|bc)")
    assert info.value.construct == "syntax error"


@pytest.mark.parametrize("pattern", [
    r"(?=(?:[ab]*a[ab]{12})\Z)(?:[ab]*)",  # a lookahead operand over the limit (product path)
    r"x(?=[ab]*a[ab]{12}\Z)[ab]*",  # the same inside (general construction)
    r"[ab]*a(?=[ab]{9}\Z)[ab]*",  # small operands, a large construction
])
def test_huge_lookaround_is_a_size_error(pattern):
    with budget_scope({"states": 300, "seconds": 20}):
        with pytest.raises(RegexError) as info:
            compile_regex(pattern)
    assert info.value.construct == "size"


def test_time_budget_stops_a_lookaround_construction():
    pattern = r"(?:(?=[a-f]*a[a-f]{7}\Z)(?![a-f]*b[a-f]{6}\Z)[a-f])*"
    with pytest.raises((RegexError, GrammarError)) as info:
        with budget_scope({"seconds": 0.05, "states": 10 ** 6}):
            compile_regex(pattern)
    assert getattr(info.value, "kind", None) == "too_complex" or info.value.construct == "size"


# ---------------------------------------------------------------------------------------------------------------
# lexemes whose lookahead sees the text after them (follow guards)
# ---------------------------------------------------------------------------------------------------------------

LEXEME_PATTERNS = [
    r"[+*]|[?](?![a-z])",
    r"(?:0(?:(?:_)?0)*(?![1-9])|[1-9](?:(?:_)?[0-9])*)",
    r"\/\*(\*(?!\/)|[^*])*\*\/",
    r'"(?!"")[a-z"]*?"',
    r"a+(?![ab])|b",
    r"ab?(?=[bc])|c",
    r"a(?=bc)b",
]


def _in_context(pattern: str, lexeme: str, after: str) -> bool:
    """re's answer: the pattern has a match of ``lexeme`` in ``lexeme + after``, its assertions seeing ``after``."""
    return re.match(f"(?:{pattern})(?=[\\s\\S]{{{len(after)}}}\\Z)", lexeme + after) is not None


def _guarded(parts, lexeme: str, after: str) -> bool:
    """The split lexeme DFAs' answer."""
    for guard, dfa in parts:
        if dfa.fullmatch(lexeme.encode()):
            if guard is None:
                return True
            return guard.end_ok if not after else bool(guard.array[after.encode()[0]])
    return False


@pytest.mark.parametrize("pattern", LEXEME_PATTERNS)
def test_follow_guards_agree_with_re_in_context(pattern):
    parts = lexeme_dfas(pattern)
    assert sum(dfa.n_states > 0 for _, dfa in parts) == len(parts)
    alphabet = sorted(set("ab*/?+019_\"c") | set(c for c in pattern if c.isalnum()))[:9]
    rng = random.Random(1)
    for _ in range(3000):
        lexeme = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
        after = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
        assert _guarded(parts, lexeme, after) == _in_context(pattern, lexeme, after), (lexeme, after)


def test_guard_shapes():
    (free, op), (guard, q) = lexeme_dfas(r"[+*]|[?](?![a-z])")
    assert free is None and op.fullmatch(b"+") and not op.fullmatch(b"?")
    assert q.fullmatch(b"?") and guard.end_ok
    assert not guard.array[ord("a")] and guard.array[ord("A")] and guard.array[0xC3]
    assert lexeme_dfas(r"\/\*(\*(?!\/)|[^*])*\*\/")[0][0] is None  # decided inside every lexeme
    assert len(lexeme_dfas(r"ab(?=c)")) == 1 and not lexeme_dfas(r"ab(?=c)")[0][0].end_ok


@pytest.mark.parametrize("pattern, construct", [
    (r"a(?!bc)", "lookahead past the lexeme"),  # undecided after one more character
    (r"a(?!é)", "lookahead past the lexeme"),  # not decided by the next character's first byte
    (r"(?<=a)b", "lookbehind before the lexeme"),
    (r"b?(?<!a)b", "lookbehind before the lexeme"),
])
def test_refused_follow_guards(pattern, construct):
    with pytest.raises(RegexError) as info:
        lexeme_dfas(pattern)
    assert info.value.construct == construct
    compile_regex(pattern)  # as a regex of its own it is fine


def test_guard_array_is_bool_256():
    (guard, _), = lexeme_dfas(r"a(?![0-9])")  # every lexeme is guarded
    assert guard.array.dtype == np.bool_ and guard.array.shape == (256,)
    assert "0123456789" in guard.describe().replace("[", "").replace("]", "")


ASSERTION_FREE = [r"[^\"\\]*", r"[a-z$^]+", r"\$ref|\^x", r"(?:ab|cd)*", r"(?i)abc", r"(?x) a b  # c", r"\\A\\Z",
                  r"(?P<n>a)b", r"[(?=]x"]


@pytest.mark.parametrize("pattern", PATTERNS + LEXEME_PATTERNS + ASSERTION_FREE)
def test_may_assert_agrees_with_the_plain_scan(pattern):
    """The quick test of :func:`may_assert` (no assertion text at all, or a registered DFA) never hides an assertion
    the character-by-character scan finds, and agrees with it on unregistered patterns."""
    from corral.automata.lexemes import _ASSERTION_KINDS, may_assert

    clear_caches()
    found = any(kind in _ASSERTION_KINDS for kind in nfa._scan(pattern, False))
    assert may_assert(pattern) == found
    assert may_assert(pattern) == found  # memoised: the same answer
