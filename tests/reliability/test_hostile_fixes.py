"""Regression tests for bugs that fuzzing found outside the schema compiler (issue 14, hostile input).

Each test names the fuzz finding it pins; the inputs also stay in ``fuzz/findings/<target>/`` and are replayed by
``test_fuzz_regressions.py``.
"""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from corral.automata.bytedfa import live_states
from corral.cli import main
from corral.compile.grammar import Grammar
from corral.errors import SchemaError
from corral.validate import validate_jsonl


# ------------------------------------------------------------------ corral validate (fuzz target "validate")

@pytest.mark.parametrize("line", ["[1e999]", "NaN", "-Infinity", '{"a": Infinity}'])
def test_validate_non_finite_numbers_are_malformed_not_a_crash(line):
    """`1e999` parsed as infinity made jsonschema's multipleOf raise OverflowError (NaN: ValueError), which stopped
    `corral validate` with a traceback. Non-finite numbers are now malformed records, and the file goes on."""
    report = validate_jsonl({"items": {"multipleOf": 0.5}, "multipleOf": 0.5}, [line, "[1]"])
    first, second = report.records
    assert first.status == "malformed" and "not readable as JSON here" in first.parse_error
    assert second.status == "valid"


def test_validate_tiny_numbers_still_read():
    report = validate_jsonl({"type": "number", "multipleOf": 0.5}, ["1e-999", "2.5e2"])
    assert [r.status for r in report.records] == ["valid", "valid"]


def test_validate_unresolvable_ref_is_a_schema_error(tmp_path, capsys):
    """A `$ref` to nowhere passes the meta-schema and failed only when a record reached it, with jsonschema's
    private `_WrappedReferencingError` (not a CorralError): a traceback from `corral validate`."""
    with pytest.raises(SchemaError) as info:
        validate_jsonl({"$ref": "#/nowhere"}, ["1"])
    assert info.value.kind == "invalid" and info.value.keyword == "$ref"
    data = tmp_path / "d.jsonl"
    data.write_text("1\n")
    assert main(["validate", "--schema", '{"$ref": "#/nowhere"}', str(data)]) == 2
    assert "cannot resolve a $ref" in capsys.readouterr().err


# ------------------------------------------------------------------ automata (fuzz target "regex")

def _live_states_fixpoint(t, acc):
    """The previous definition (a fixpoint over the whole table), as the reference."""
    live = np.asarray(acc, dtype=bool).copy()
    while True:
        nxt = live | ((t >= 0) & live[np.maximum(t, 0)]).any(axis=1)
        if (nxt == live).all():
            return live
        live = nxt


def test_live_states_matches_the_fixpoint_definition():
    rng = np.random.default_rng(14)
    for _ in range(500):
        n, k = int(rng.integers(0, 25)), int(rng.integers(1, 5))
        t = rng.integers(-1, max(n, 1), size=(n, k))
        t = np.where(rng.random((n, k)) < 0.5, -1, t)
        acc = rng.random(n) < 0.15
        assert np.array_equal(live_states(t, acc), _live_states_fixpoint(t, acc))


def test_live_states_is_linear_on_a_chain():
    """`.*a{10000}` gives a chain of 10,000 states: the fixpoint took one pass over the table per state
    (3 s of the 7 s `Grammar.from_regex` took); the search backwards takes milliseconds."""
    n = 20000
    t = np.full((n, 4), -1, dtype=np.int64)
    t[:-1, 1] = np.arange(1, n)
    acc = np.zeros(n, dtype=bool)
    acc[-1] = True
    start = time.process_time()
    live = live_states(t, acc)
    assert live.all()
    assert time.process_time() - start < 1.0


def test_long_chain_regex_still_compiles_exactly():
    g = Grammar.from_regex("[ab]*a{300}")
    from corral.automata.regex import compile_regex

    dfa = compile_regex(g.terminals["REGEX"].pattern)
    rng = random.Random(0)
    for _ in range(20):
        s = "".join(rng.choice("ab") for _ in range(rng.randrange(0, 20))) + "a" * 300
        state = 0
        for b in s.encode():
            state = int(dfa.transitions[state, b])
        assert dfa.accepting[state]


@pytest.mark.parametrize("pattern", [".*a{20000}.*", "[^b]*a{20000}"])
def test_quadratic_subset_construction_is_refused_quickly(pattern):
    """The subsets of `.*a{n}` grow with n: subset construction took minutes and gigabytes below the NFA-size limit
    (`{"pattern": "a{99999}"}`: 47 s and 3 GB). The subsets' total size is now bounded (400 x the DFA-state limit)."""
    from corral.errors import RegexError

    start = time.process_time()
    with pytest.raises(RegexError, match="too large"):
        Grammar.from_regex(pattern)
    assert time.process_time() - start < 5.0


@pytest.mark.parametrize("pattern", ["a{99999}", "(a{100}){100}"])
def test_unanchored_huge_pattern_is_refused_quickly(pattern):
    """Found by the ``regex`` fuzz target through the ECMAScript ``pattern`` path (unanchored: `.*P.*`). A pattern
    alone is a terminal as written, so the refusal (too_complex, naming the regex) comes when the terminal is
    compiled, quickly either way."""
    from corral.compile.json_schema import schema_to_grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary

    vocab = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
    start = time.process_time()
    with pytest.raises(SchemaError, match="too_complex"):
        CompiledGrammar(schema_to_grammar({"type": "string", "pattern": pattern}), vocab)
    assert time.process_time() - start < 5.0


def test_moderate_chains_still_compile():
    g = Grammar.from_regex(".*a{1000}.*")
    from corral.automata.regex import compile_regex

    dfa = compile_regex(g.terminals["REGEX"].pattern)
    assert not dfa.is_empty and dfa.transitions.shape[0] > 1000


# ------------------------------------------------------------------ Lark front end (fuzz target "lark")

@pytest.mark.parametrize("terminal", ["/..$/", "/^ab/", r"/a\Z/", "/(a|^b)c/"])
def test_lark_terminal_anchors_are_refused(terminal):
    """fuzz/findings/lark/invariant-6f53ff9ab7: ``start: /..$/ "abc" /.../`` accepted ``~[abc 66`` while lark's
    parser refuses it: lark matches a terminal against the whole input, so ``$`` there means the end of the text,
    not of the lexeme. A terminal with an anchor is now a GrammarError at its line."""
    from corral.errors import GrammarError

    with pytest.raises(GrammarError) as info:
        Grammar.from_lark(f'start: "x" T\nT: {terminal}\n')
    assert "anchor" in str(info.value) and info.value.line == 2


def test_lark_anchor_characters_in_classes_and_escapes_are_fine():
    assert Grammar.from_lark('start: T\nT: /[$^]+\\$/\n').terminals


@pytest.mark.parametrize("name", ["hang-cfa2b7a45e", "slow-unit-372d8de2a85cbb8d3cb94fc754960e9e91b6589a"])
def test_lark_backslash_runs_are_refused_fast(name):
    """fuzz/findings/lark/hang-cfa2b7a45e: ``start: /(`` and 43 backslashes kept lark's grammar reader busy for
    minutes (its literal regexes backtrack exponentially over a run of backslashes that no closing ``/`` ends).
    Runs over 24 backslashes are now a GrammarError at their position, before lark sees the text."""
    from pathlib import Path

    from corral.errors import GrammarError

    data = (Path(__file__).resolve().parents[2] / "fuzz" / "findings" / "lark" / name).read_bytes()
    start = time.perf_counter()
    with pytest.raises(GrammarError) as info:
        Grammar.from_lark(data.decode("utf-8", "replace"))
    assert "backslashes" in str(info.value) and info.value.line == 1
    assert time.perf_counter() - start < 5


def test_lark_backslash_runs_up_to_the_limit_still_compile():
    assert Grammar.from_lark("start: /" + "\\\\" * 12 + "/").terminals


def test_lark_oracle_finds_longer_matches_than_re_match():
    """fuzz/findings/lark/invariant-6f53ff9ab7: lark's dynamic_complete scanner only tries the first re.match
    match of a terminal and its prefixes, so ``/a+pc??b?/i`` (lazy) never matched ``AaaPc``; corral's language has
    every full match. The oracle now takes the longest full match (whose prefixes lark then tries)."""
    import lark

    from corral.runtime.matcher import CompiledGrammar
    from corral.testing import lark_accepts, lark_oracle, synthetic_vocab_for

    for text, word in (("start: /a+pc??b?/i", "AaaPc"), ('start: X "b"\nX: /a|ab/', "abb")):
        assert not lark_accepts(lark.Lark(text, parser="earley", lexer="dynamic_complete"), word)  # the control
        grammar = Grammar.from_lark(text)
        assert lark_oracle(grammar)(word) and CompiledGrammar(grammar, synthetic_vocab_for(grammar)).accepts(
            word.encode())
