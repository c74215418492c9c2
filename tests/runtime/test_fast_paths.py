"""Fast paths of grammar and regex compilation agree exactly with their reference (specification) algorithms."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.automata import regex as R

ALPHABET = "ab Z_0-9.^$*+?{}[]\\|()#\n\t\"':é日\U0001f600\ud800"


def _same(a, b) -> bool:
    return np.array_equal(a.transitions, b.transitions) and np.array_equal(a.accepting, b.accepting)


def _grammars():
    """Grammars whose terminals the tests check: the shipped ones and a sample of MaskBench schemas (if present)."""
    from corral.compile.grammar import grammar_from_source, list_shipped_grammars

    out = [grammar_from_source(name) for name in list_shipped_grammars()]
    from conftest import SHARED_DIR

    from corral.compile.json_schema import schema_to_grammar

    folder = SHARED_DIR / "data" / "jsonschemabench" / "maskbench"
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        with open(path) as f:
            for i, line in zip(range(3), f):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        out.append(schema_to_grammar(json.loads(line)["schema"], whitespace="spaced",
                                                     property_order="any", integral_floats=True))
                except ValueError:
                    continue
    return out


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, max_size=12), st.booleans())
def test_literal_fast_path_equals_regex(text, minimal_escapes):
    """A literal pattern (fully escaped, or escaping only what must be) compiles to the reference tables."""
    pattern = re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text) if minimal_escapes else re.escape(text)
    assert R.literal_text(pattern, frozenset()) == text
    fast = R._compile_literal(pattern, frozenset())
    assert _same(fast, R._compile_cached(pattern, frozenset()))
    assert R.compile_regex(pattern) is fast and fast.pattern == pattern


@pytest.mark.parametrize("pattern, flags", [
    ("a.b", ""), (r"\d", ""), ("a{2}", ""), ("(?i)ab", ""), ("ab", "i"), ("a b", "x"), ("a\\", ""), (r"\1", ""),
    ("ab", "a"), ("^ab", ""), ("ab$", "m"), (r"\n", ""), ("a|b", ""),
])
def test_literal_fast_path_declines(pattern, flags):
    """Patterns that are not plain literals under their flags take the general path."""
    assert R.literal_text(pattern, frozenset(flags)) is None


@pytest.mark.parametrize("pattern, flags", [("ab", "s"), ("a#b", "m"), ("a\\ b", "sm"), ("", "")])
def test_literal_fast_path_flags(pattern, flags):
    """Flags that cannot change a literal keep the fast path, with the reference's tables."""
    fs = frozenset(flags)
    assert R.literal_text(pattern, fs) is not None
    assert _same(R._compile_literal(pattern, fs), R._compile_cached(pattern, fs))


def test_literal_terminals_of_real_grammars():
    """Every literal terminal of the shipped grammars and sampled MaskBench schemas matches its reference DFA."""
    checked = 0
    for grammar in _grammars():
        for term in grammar.terminals.values():
            fs = frozenset(term.flags)
            if R.literal_text(term.pattern, fs) is None:
                continue
            assert _same(R._compile_literal(term.pattern, fs), R._compile_cached(term.pattern, fs)), term.pattern
            checked += 1
    assert checked > 20


_RANGES = st.lists(st.tuples(st.integers(0, 0x10FFFF), st.integers(0, 300)).map(lambda t: (t[0], t[0] + t[1])) |
                   st.tuples(st.integers(0, 0x80), st.integers(0, 0x80)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_RANGES)
def test_units_for_equals_specification(ranges):
    """``units_for`` builds the very string of its specification ``units_for_py``."""
    from corral.compile.json_schema import regexes as rx

    assert rx.units_for(ranges) == rx.units_for_py(ranges)


_NAMES = st.lists(st.text("ab\"\\\t\x00\x1fé日\U0001f600\ud800", max_size=5), max_size=8)


@settings(max_examples=150, deadline=None)
@given(_NAMES)
def test_key_complement_dfa_equals_specification(names):
    """The directly built key-complement DFA has the tables of the product-automaton specification."""
    from corral.compile.json_schema.scalars import key_complement_content_dfa, key_complement_content_dfa_py

    assert _same(key_complement_content_dfa(names), key_complement_content_dfa_py(names))


def test_key_complement_dfa_of_real_objects():
    """The key complements of the declared properties of the MaskBench sample and a large object agree too."""
    from corral.compile.json_schema.scalars import key_complement_content_dfa, key_complement_content_dfa_py

    samples = [["apiVersion", "kind", "metadata"] + [f"field{i}" for i in range(150)]]
    from conftest import SHARED_DIR

    folder = SHARED_DIR / "data" / "jsonschemabench" / "maskbench"
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        with open(path) as f:
            for _, line in zip(range(3), f):
                props = json.loads(line)["schema"]
                props = json.loads(props) if isinstance(props, str) else props
                if isinstance(props, dict) and isinstance(props.get("properties"), dict):
                    samples.append(list(props["properties"]))
    for names in samples:
        assert _same(key_complement_content_dfa(names), key_complement_content_dfa_py(names)), names


@pytest.mark.parametrize("names", [["a"], ["id", "name", "é", 'q"uote', "🎉"], [f"k{i}" for i in range(40)]])
def test_registered_key_complement_has_compiled_tables(names):
    """A registered key-complement DFA has exactly the tables compiling its regex text gives (per-state token
    caches are keyed by pattern, so the numbering must not depend on which path built the DFA)."""
    from corral.compile.json_schema.scalars import key_complement_pattern

    regex = key_complement_pattern(names)
    registered = R.registered_dfa(regex)
    assert registered is not None
    assert _same(registered, R._compile_cached(regex, frozenset()))



_LENGTHS = [(lo, hi) for hi in range(0, 7) for lo in range(0, hi + 1)] + [(lo, None) for lo in range(0, 7)] + [
    (30, 30), (0, 64), (10, 40), (2, 17)]


@pytest.mark.parametrize("quoted", [False, True])
def test_length_dfa_equals_compiled_regex(quoted):
    """The directly built ``UNIT{lo,hi}`` DFAs (content and quoted) have the tables of their compiled regex."""
    from corral.compile.json_schema import regexes as rx
    from corral.compile.json_schema.scalars import length_dfa

    assert length_dfa(3, 2, quoted) is None
    for lo, hi in _LENGTHS:
        regex = rx.string_regex(lo, hi)
        regex = regex if quoted else regex[1:-1]
        assert _same(length_dfa(lo, hi, quoted), R._compile_cached(regex, frozenset())), (lo, hi)


def test_string_length_terminal_is_registered():
    """A schema string with length bounds gets its terminal's DFA from the direct construction."""
    from corral.compile.json_schema import schema_to_grammar

    grammar = schema_to_grammar({"type": "string", "minLength": 2, "maxLength": 9})
    (term,) = [t for t in grammar.terminals.values() if "{2,9}" in t.pattern]
    dfa = R.registered_dfa(term.pattern, term.flags)
    assert dfa is not None and _same(dfa, R._compile_cached(term.pattern, frozenset(term.flags)))
    assert dfa.fullmatch('"ab"'.encode()) and not dfa.fullmatch(b'"a"') and dfa.fullmatch('"\\u0000é"'.encode())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab()|[]\\?:*^\n", max_size=40))
def test_regex_structure_scan_equals_specification(text):
    """``_structure`` (one regex-engine scan) yields exactly the ``(``, ``)`` and ``|`` that the character loop
    ``_depth_scan`` does, with their depths, on any text (balanced or not)."""
    from corral.automata.operations import _depth_scan, _structure

    from corral.automata.operations import has_top_level_alternation

    assert list(_structure(text)) == [t for t in _depth_scan(text) if t[1] in "()|"]
    assert has_top_level_alternation(text) == any(ch == "|" and d == 0 for _, ch, d in _depth_scan(text))


@pytest.mark.parametrize("regex, top", [("a|b", True), ("(?:a|b)", False), ("[|]", False), (r"\|", False),
                                         ("(?:a)|(?:b)", True), (r"[\]|]|c", True), ("ab", False)])
def test_top_level_alternation_examples(regex, top):
    """A ``|`` splits a regex only outside groups, classes and escapes."""
    from corral.automata.operations import has_top_level_alternation

    assert has_top_level_alternation(regex) is top


@pytest.mark.parametrize("pattern", [r"[a-c]x|y*", r"(?:é|日)+[^\x00-\x7f]?", r"[\u0100-\U0010ffff]{1,2}a",
                                     r"(?:ab|ac)*d|", r"[\x80-\u07ff\U00010000]+", r"a{0,3}(?:\||\()"])
def test_dfa_to_regex_round_trip(pattern):
    """``dfa_to_regex`` (state elimination over ``char_transitions``) gives a regex of the very same language:
    compiled again it has the same minimal tables."""
    from corral.automata.operations import dfa_to_regex

    dfa = R.compile_regex(pattern)
    again = R.compile_regex(dfa_to_regex(dfa))
    assert _same(dfa, again)
