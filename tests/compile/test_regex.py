"""Tests for corral.automata: regex -> byte-level DFA, checked against Python's ``re`` on the UTF-8 level."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.automata import charsets
from corral.automata import regex as R
from corral.automata.bytedfa import ByteDFA, minimize_tables
from corral.automata.regex import compile_regex, literal_dfa
from corral.errors import RegexError

RE_FLAGS = {"i": re.I, "s": re.S, "m": re.M, "x": re.X, "a": re.A}

# Characters that exercise Unicode classes and case folding, added to the characters each pattern mentions.
SPECIALS = (
    "aAbBzZkKsSiI_0 9\n\t\r\x0b\x0c\x1c\x85\xa0\u3000\u2028"  # ASCII, Unicode spaces
    "\u0663\u0966\uff11\u00b2\u2460"  # Unicode digits (and non-decimal digits)
    "\u00e9\u00c9\u00df\u1e9e\u017f\u212a\u0130\u0131\u01c4\u01c5\u01c6\u03a3\u03c3\u03c2"  # case-folding oddities
    "\u65e5\u672c\U0001f600\U00010400\U00010428\U0010ffff\ufffd\x00\x7f\x80\u07ff\u0800\uffff\U00010000"
    '"\\/-.'
)

PATTERNS = [
    # ASCII structure
    (r"[a-z]+", ""),
    (r"(a|bc)*d?", ""),
    (r"x{2,4}", ""),
    (r"a{,3}b{2}", ""),
    (r"(?:ab|a)(?:c|bc)", ""),
    (r"((a|b)(c|)){1,3}", ""),
    (r"[^abc]*", ""),
    (r"a.b", ""),
    (r".*", ""),
    (r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", ""),
    (r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"', ""),
    (r"", ""),
    (r"()", ""),
    # non-ASCII literals and classes
    (r"\u00e9+|\u65e5\u672c", ""),
    (r"[\u00e0-\u00ff]+", ""),
    (r"[\u0100-\uffff]", ""),
    (r"[\U00010000-\U0010ffff]+", ""),
    (r"[^\u00e9]", ""),
    (r"[\x00-\x7f\u0800-\u0fff]*\U0001f600", ""),
    (r"[^a-z\u0400-\u04ff\U0001f600]+", ""),
    # Unicode categories (Python 3 str semantics)
    (r"\d+", ""),
    (r"\w+", ""),
    (r"\s+", ""),
    (r"\D\W\S", ""),
    (r"[^\W\d]\w*", ""),
    (r"[\d\s]+", ""),
    (r"[^\d\s]", ""),
    (r"\d{2}-\d{2}", ""),
    # flags
    (r"stra\u00dfe", "i"),
    (r"[a-z\u00e9]+", "i"),
    (r"[^k]", "i"),
    (r"\u017f|\u212a|i", "i"),
    (r"\w[^\W\d]", "i"),
    (r"[\u01c4-\u01c6\u03a3]", "i"),
    (r"[\U00010400-\U00010410]", "i"),
    (r".", "s"),
    (r"a.*b", "s"),
    (r"a b # comment", "x"),
    (r"^a\n$", "m"),
    (r"(?i:ab)c", ""),
    (r"(?s:.)\n?.", ""),
    (r"(?a)\w+\s\d", ""),
    (r"(?a)k", "i"),
    (r"(?i)(?-i:a)b", ""),
    # anchors at the edges
    (r"^ab$", ""),
    (r"\Aab*\Z", ""),
    (r"(?:^a|^b)c?$", ""),
]


def _alphabet(pattern: str) -> list[str]:
    chars = set(SPECIALS)
    for ch in pattern:
        if not 0xD800 <= ord(ch) <= 0xDFFF:
            chars.update({ch, ch.lower()[:1], ch.upper()[:1]})
    for m in re.finditer(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})", pattern):
        ch = chr(int(m.group(1) or m.group(2), 16))
        chars.update({ch, ch.lower()[:1], ch.upper()[:1], chr(min(ord(ch) + 1, 0x10FFFF)), chr(max(ord(ch) - 1, 0))})
    return sorted(c for c in chars if c and not 0xD800 <= ord(c) <= 0xDFFF)


def _pyflags(flags: str) -> int:
    out = 0
    for f in flags:
        out |= RE_FLAGS[f]
    return out


def _texts(pattern: str):
    biased = st.text(st.sampled_from(_alphabet(pattern)), max_size=8)
    anything = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
    return st.one_of(biased, biased, anything)


@pytest.mark.parametrize("pattern, flags", PATTERNS)
@settings(derandomize=True, max_examples=50, deadline=None)
@given(data=st.data())
def test_agrees_with_re(pattern, flags, data):
    dfa = compile_regex(pattern, flags)
    rx = re.compile(pattern, _pyflags(flags))
    s = data.draw(_texts(pattern))
    assert dfa.fullmatch(s.encode()) == bool(rx.fullmatch(s)), (pattern, flags, s)


@pytest.mark.parametrize("pattern, flags", PATTERNS)
def test_agrees_with_re_short_strings_exhaustive(pattern, flags):
    dfa = compile_regex(pattern, flags)
    rx = re.compile(pattern, _pyflags(flags))
    alpha = _alphabet(pattern)
    for n in (0, 1, 2):
        for tup in itertools.product(alpha, repeat=n):
            s = "".join(tup)
            assert dfa.fullmatch(s.encode()) == bool(rx.fullmatch(s)), (pattern, flags, s)


def test_json_string_examples():
    dfa = compile_regex(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
    assert dfa.fullmatch('"h\u00e9llo \\n \\u00e9 \U0001f600"'.encode())
    assert not dfa.fullmatch(b'"\\x"')
    assert not dfa.fullmatch(b'"\x01"')
    assert not dfa.fullmatch(b'"abc')


# ---------------------------------------------------------------------------------------------------------------
# byte level
# ---------------------------------------------------------------------------------------------------------------


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.binary(max_size=8))
def test_only_well_formed_utf8_accepted(data):
    anything = compile_regex(r"(?s).*")
    assert anything.fullmatch(data) == _is_utf8(data)
    no_newline = compile_regex(r".*")
    assert no_newline.fullmatch(data) == (_is_utf8(data) and b"\n" not in data)


def test_one_char_exhaustive_short_sequences():
    one = compile_regex(r"(?s).")
    for b0 in range(256):
        assert one.fullmatch(bytes([b0])) == (b0 < 0x80)
        for b1 in range(256):
            data = bytes([b0, b1])
            assert one.fullmatch(data) == (_is_utf8(data) and len(data.decode()) == 1)
    for b0 in (0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF4, 0xF5, 0xC0, 0xC1):
        for b1 in range(0x70, 0xD0):
            for b2 in (0x7F, 0x80, 0x9F, 0xA0, 0xBF, 0xC0):
                data = bytes([b0, b1, b2])
                assert one.fullmatch(data) == (_is_utf8(data) and len(data.decode()) == 1), data
                for b3 in (0x80, 0xBF):
                    data4 = data + bytes([b3])
                    assert one.fullmatch(data4) == (_is_utf8(data4) and len(data4.decode()) == 1), data4


def test_surrogates_and_out_of_range_rejected():
    dfa = compile_regex(r"(?s).*")
    assert not dfa.fullmatch(b"\xed\xa0\x80")  # U+D800 encoded
    assert not dfa.fullmatch(b"\xf4\x90\x80\x80")  # U+110000
    assert not dfa.fullmatch(b"\xc0\xaf")  # overlong '/'
    assert not dfa.fullmatch(b"\xe0\x80\xaf")
    assert not dfa.fullmatch(b"\xf0\x80\x80\xaf")
    assert dfa.fullmatch("\U0010ffff\ud7ff\ue000".encode())
    assert compile_regex("[\ud800-\udfff]").is_empty  # lone surrogates have no UTF-8 encoding


def test_split_multibyte_char_leaves_live_state():
    dfa = compile_regex(r"\u00e9\u65e5\U0001f600|x")
    data = "\u00e9\u65e5\U0001f600".encode()
    for k in range(1, len(data)):
        state = dfa.run(data[:k])
        assert state >= 0
        assert not dfa.is_accepting(state)
        assert len(dfa.live_bytes(state)) > 0
    assert dfa.fullmatch(data)
    assert dfa.run(b"\xc3\x28") == -1
    # every byte sequence of a valid prefix keeps `.*` alive; continuation bytes are then required
    star = compile_regex(r".*")
    st_ = star.run("\U0001f600".encode()[:2])
    assert set(star.live_bytes(st_).tolist()) == set(range(0x80, 0xC0))


def test_run_and_step():
    dfa = compile_regex("ab*c")
    s = dfa.run(b"ab")
    assert dfa.run(b"bbc", s) >= 0 and dfa.is_accepting(dfa.run(b"bbc", s))
    assert dfa.run(b"x") == -1 and dfa.run(b"c", -1) == -1
    assert dfa.step(0, ord("a")) == s
    assert dfa.step(-1, 0) == -1


# ---------------------------------------------------------------------------------------------------------------
# structure: liveness, minimality, empty language, caching
# ---------------------------------------------------------------------------------------------------------------


def _live_states(dfa: ByteDFA) -> np.ndarray:
    t = dfa.transitions.astype(np.int64)
    live = dfa.accepting.copy()
    while True:
        nxt = live | ((t >= 0) & live[np.maximum(t, 0)]).any(axis=1)
        if (nxt == live).all():
            return live
        live = nxt


@pytest.mark.parametrize("pattern, flags", PATTERNS)
def test_every_state_live_and_minimal(pattern, flags):
    dfa = compile_regex(pattern, flags)
    assert dfa.transitions.dtype == np.int32 and dfa.accepting.dtype == bool
    assert dfa.transitions.shape == (dfa.n_states, 256)
    assert _live_states(dfa).all()
    t, a = minimize_tables(dfa.transitions, dfa.accepting)
    assert t.shape == dfa.transitions.shape
    assert (t == dfa.transitions).all() and (a == dfa.accepting).all()  # minimal and canonically numbered


def test_small_minimal_sizes():
    assert compile_regex("a*").n_states == 1
    assert compile_regex("(a|b)*c").n_states == 2
    assert compile_regex("abc").n_states == 4
    assert compile_regex("").n_states == 1 and compile_regex("").accepting[0]
    a, b = compile_regex("a|b"), compile_regex("[ab]")
    assert a is not b and (a.transitions == b.transitions).all()
    assert (compile_regex("(?:x|y)+").transitions == compile_regex("[xy][yx]*").transitions).all()


@pytest.mark.parametrize("pattern", [r"[^\s\S]", r"a[^\w\W]b", r"\ud800", r"(?:[^\d\D])*x[^\s\S]", r"a{0}[^\s\S]"])
def test_empty_language(pattern):
    dfa = compile_regex(pattern)
    assert dfa.is_empty and dfa.n_states == 1
    assert not dfa.accepting[0] and (dfa.transitions == -1).all()
    assert not dfa.fullmatch(b"")


def test_not_empty():
    assert not compile_regex("a{0}").is_empty  # matches only ""
    assert compile_regex("a{0}").matches_empty
    assert not compile_regex("a").is_empty and not compile_regex("a").matches_empty


def test_cache_same_object_and_flag_forms():
    assert compile_regex("a.b", "is") is compile_regex("a.b", frozenset({"s", "i"}))
    assert compile_regex("a.b") is compile_regex("a.b", frozenset())
    assert compile_regex("a.b", "s") is not compile_regex("a.b")
    with pytest.raises(RegexError):
        compile_regex("a", "q")


def test_arrays_read_only():
    dfa = compile_regex("ab")
    with pytest.raises(ValueError):
        dfa.transitions[0, 0] = 1


def test_bounded_repetitions():
    dfa = compile_regex(r"[a-z]{1,50}")
    assert dfa.n_states == 51
    assert dfa.fullmatch(b"a" * 50) and not dfa.fullmatch(b"a" * 51) and not dfa.fullmatch(b"")
    date = compile_regex(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
    assert date.fullmatch(b"2024-01-02T03:04:05.123Z")
    assert date.fullmatch("\u0662024-01-02T03:04:05+01:00".encode())  # Unicode digit, as re does
    assert not date.fullmatch(b"2024-01-02T03:04:05")


def test_too_large_raises():
    with pytest.raises(RegexError):
        compile_regex("a{1000000}")


# ---------------------------------------------------------------------------------------------------------------
# literal_dfa
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "abc", "h\u00e9llo \u65e5\u672c \U0001f600", "Stra\u00dfe", "\u01c5ks\u0130"])
def test_literal_dfa(text):
    dfa = literal_dfa(text)
    assert dfa.fullmatch(text.encode()) and dfa.n_states == len(text.encode()) + 1
    assert not dfa.fullmatch(text.encode() + b"x")
    assert (dfa.transitions == compile_regex(re.escape(text)).transitions).all()
    folded = literal_dfa(text, ignore_case=True)
    assert (folded.transitions == compile_regex(re.escape(text), "i").transitions).all()
    for variant in {text.upper(), text.lower(), text.swapcase(), text.casefold()}:
        assert folded.fullmatch(variant.encode()) == bool(re.fullmatch(re.escape(text), variant, re.I))


def test_literal_dfa_bytes_and_surrogates():
    dfa = literal_dfa(b"\xffAb")
    assert dfa.fullmatch(b"\xffAb") and not dfa.fullmatch(b"\xffab")
    ci = literal_dfa(b"\xffAb[", ignore_case=True)
    assert ci.fullmatch(b"\xffaB[") and not ci.fullmatch(b"\xffaB{")
    assert literal_dfa("a\ud800").is_empty
    assert literal_dfa("") .fullmatch(b"") and literal_dfa("").n_states == 1


# ---------------------------------------------------------------------------------------------------------------
# unsupported constructs
# ---------------------------------------------------------------------------------------------------------------

UNSUPPORTED = [
    # lookaround is supported (tests/compile/test_lookaround.py), except looking the other way inside a body
    (r"(?=a(?<=a))", "lookbehind (?<=...)", 4),
    (r"(?<!a(?!b))c", "negative lookahead (?!...)", 5),
    (r"x(?<=a\Z)", "anchor \\Z", 6),
    (r"(?=^a)a", "anchor ^", 3),
    (r"(a)\1", "backreference", 3),
    (r"(?P<n>a)b(?P=n)", "backreference", 9),
    (r"(a)?(?(1)b|c)", "conditional (?(...)...)", 4),
    (r"a\bb", "word boundary \\b", 1),
    (r"[\b]a\B", "non-word-boundary \\B", 5),
    (r"a(?>bc)", "atomic group (?>...)", 1),
    (r"ab*+", "possessive quantifier", 2),
    (r"a{1,2}+", "possessive quantifier", 1),
    (r"a?+", "possessive quantifier", 1),
    (r"(?=a\b)a", "word boundary \\b", 4),
    (r"[(?<=]\(?<=a(?=b(?<=b))", "lookbehind (?<=...)", 16),
    ("(?x) a # (?<=x)\n b (?=c(?<=c))", "lookbehind (?<=...)", 23),
    (r"(?:a|b(?<=c(?=d)))", "lookahead (?=...)", 11),
]


@pytest.mark.parametrize("pattern, construct, position", UNSUPPORTED)
def test_unsupported_constructs(pattern, construct, position):
    with pytest.raises(RegexError) as info:
        compile_regex(pattern)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.construct == construct
    assert err.position == position
    assert err.pattern == pattern
    assert construct in str(err)


@pytest.mark.parametrize("pattern", ["(a", "a{3,1}", "*a", "[a", r"(?P<1>a)"])
def test_syntax_errors(pattern):
    with pytest.raises(RegexError) as info:
        compile_regex(pattern)
    assert info.value.construct == "syntax error"
    assert info.value.position is not None


def test_anchors_at_edges_are_exact():
    for pattern, yes, no in [
        (r"^ab$", ["ab"], ["ab\n", "\nab"]),
        (r"(?m)^a$", ["a"], ["a\n"]),
        (r"a\n?$", ["a", "a\n"], ["a\n\n"]),
        (r"(?:^)*x", ["x"], [""]),
    ]:
        dfa = compile_regex(pattern)
        for s in yes:
            assert dfa.fullmatch(s.encode()) and re.fullmatch(pattern, s)
        for s in no:
            assert not dfa.fullmatch(s.encode()) and not re.fullmatch(pattern, s)


# ---------------------------------------------------------------------------------------------------------------
# Unicode tables agree with the re engine over every code point
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_chars() -> str:
    return np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")


def _engine_set(regex: str, flags: int, text: str) -> np.ndarray:
    mask = np.zeros(0x110000, dtype=bool)
    for m in re.finditer("(?:" + regex + ")+", text, flags):
        mask[m.start() : m.end()] = True
    mask[0xD800:0xE000] = False
    return mask


def _mask(cs: np.ndarray) -> np.ndarray:
    mask = np.zeros(0x110000, dtype=bool)
    for a, b in cs.reshape(-1, 2):
        mask[a:b] = True
    return mask


@pytest.mark.parametrize("regex, flags", [
    (r"\d", 0), (r"\w", 0), (r"\s", 0), (r"k", re.I), (r"[^k]", re.I), (r"[a-z\u00e9]", re.I), (r"\w", re.I),
    (r"[\U00010400-\U0001044f]", re.I), (r"[\u0100-\u01ff]", re.I), (r"[^s]", re.I | re.A), (r"\W", re.A),
])
def test_char_sets_match_engine_on_all_code_points(regex, flags, all_chars):
    (op, av), = list(R.P.parse(regex, flags))
    cs = charsets.char_set(op, tuple(av) if op is R.C.IN else av, bool(flags & re.I), bool(flags & re.A))
    assert (_mask(cs) == _engine_set(regex, flags, all_chars)).all()


def test_no_cased_code_points_beyond_scan_limit():
    import _sre

    assert not any(_sre.unicode_iscased(c) for c in range(charsets._CASE_SCAN_END, 0x110000))


# ----------------------------------------------------------------------------- regexes matching the empty string

NULLABLE = ["[a-z]*", "(ab)?", "x?y?", "(a|bc)*d?", "a*|b+"]


@pytest.mark.parametrize("pattern", NULLABLE)
def test_regex_matching_the_empty_string_compiles_exactly(pattern):
    """``Grammar.from_regex`` of a regex that matches "" is compiled (EOS allowed at once), and the language is
    exactly the regex's: every string over the alphabet up to length 4, and the matcher's invariants on walks."""
    import random

    from corral.compile.grammar import Grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.testing import random_walk, synthetic_vocab

    alphabet = "abcdxyz"
    cg = CompiledGrammar(Grammar.from_regex(pattern), synthetic_vocab(alphabet))
    assert cg.matcher().is_complete()
    for n in range(5):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars)
            assert cg.accepts(s.encode()) == (re.fullmatch(pattern, s) is not None), (pattern, s)
    for seed in range(3):
        random_walk(cg.matcher(), random.Random(seed), steps=8)


def test_without_empty_string():
    from corral.automata.operations import without_empty_string

    d = without_empty_string(compile_regex("[a-z]*"))
    assert not d.fullmatch(b"") and d.fullmatch(b"a") and d.fullmatch(b"abc") and not d.fullmatch(b"A")
    plain = compile_regex("[a-z]+")
    assert without_empty_string(plain) is plain


@pytest.mark.parametrize("pattern, position", [("a(", 1), ("a{3,1}", 2), ("x**", 2), ("[z-a]", 1)])
def test_invalid_regex_names_the_pattern_and_position(pattern, position):
    """``regex=`` errors are RegexErrors about the user's pattern, not about an internal terminal name."""
    from corral.compile.grammar import Grammar

    with pytest.raises(RegexError) as info:
        Grammar.from_regex(pattern)
    assert info.value.pattern == pattern and info.value.position == position
    assert "REGEX" not in str(info.value) and repr(pattern) in str(info.value)
    with pytest.raises(RegexError, match="matches no string"):
        Grammar.from_regex(r"[^\s\S]")
