"""``corral.authoring.check_text`` / ``check_texts`` (issue 15): the verdict equals lark's own parser on random strings for
every shipped grammar and the shared Lark grammars, and the offset of a rejection is the first offset after which
no completion exists (checked with the compiled engine's ``is_prefix``, an independent implementation of the
matcher)."""

from __future__ import annotations

import random

import pytest

from corral.authoring import check_text, check_texts
from corral.compile.grammar import Grammar, list_shipped_grammars, grammar_from_source, load_lark_file
from corral.compile.json_schema import schema_to_grammar
from corral.errors import GrammarError
from corral.runtime.matcher import CompiledGrammar
from corral.testing import lark_oracle, synthetic_vocab_for

from conftest import DATA_DIR

SHARED = sorted((DATA_DIR / "grammars" / "lark").rglob("*.lark")) if (DATA_DIR / "grammars").exists() else []


def _strings(grammar, rng: random.Random, n: int) -> list[str]:
    """Texts near the language: prefixes of random walks (valid prefixes), and the same with one character
    inserted, deleted or replaced (mostly rejected somewhere)."""
    cg = CompiledGrammar(grammar, synthetic_vocab_for(grammar, seed=rng.randrange(7)))
    alphabet = sorted({ch for t in grammar.terminals.values() if t.literal for ch in t.literal} | set("a1 (\"{"))
    out = []
    for _ in range(n):
        m, taken = cg.matcher(), []
        for _ in range(rng.randrange(1, 12)):
            allowed = [t for t in m.mask().nonzero()[0].tolist() if t not in cg.vocab.eos_token_ids]
            if not allowed:
                break
            taken.append(rng.choice(allowed))
            m.advance(taken[-1])
        text = cg.vocab.decode(taken).decode("utf-8", "replace")
        out.append(text)
        i = rng.randrange(len(text) + 1)
        edit = rng.randrange(3)
        out.append(text[:i] + rng.choice(alphabet) + text[i + (edit == 2):] if edit else text[:i] + text[i + 1:])
    return out


def _check(grammar, texts, oracle):
    cg = CompiledGrammar(grammar, synthetic_vocab_for(grammar))
    for text in texts:
        d = check_text(grammar, text)
        if len(text) <= 40:
            assert d.ok == oracle(text), (text, d)
        data = text.encode()
        if d.status == "rejected":
            assert cg.is_prefix(data[:d.byte_offset]) and not cg.is_prefix(data[:d.byte_offset + 1]), (text, d)
            assert d.prefix == text[:d.offset] and d.line >= 1 and d.column >= 1
        else:
            assert cg.is_prefix(data) and d.offset == len(text), (text, d)
            assert (d.status == "accepted") == cg.accepts(data), (text, d)


@pytest.mark.parametrize("name", list_shipped_grammars())
def test_check_text_agrees_with_lark_on_shipped_grammars(name):
    grammar = grammar_from_source(name)
    _check(grammar, _strings(grammar, random.Random(name), 30), lark_oracle(grammar))


@pytest.mark.skipif(not SHARED, reason=f"shared grammars not found under {DATA_DIR} (set CORRAL_SHARED_DIR)")
@pytest.mark.parametrize("path", SHARED, ids=[p.name for p in SHARED])
def test_check_text_agrees_with_lark_on_shared_grammars(path):
    try:
        grammar = load_lark_file(path)
        oracle = lark_oracle(grammar)
    except (GrammarError, Exception) as exc:  # noqa: BLE001 - grammars the front end or lark refuse
        pytest.skip(f"{path.name}: not loadable here ({type(exc).__name__})")
    _check(grammar, _strings(grammar, random.Random(path.name), 12), oracle)


def test_diagnosis_says_where_and_what():
    g = Grammar.from_lark('start: "(" NUMBER ")"\nNUMBER: /[0-9]+/\n')
    d = check_text(g, "(12x)")
    assert d.status == "rejected" and d.offset == 3 and d.prefix == "(12" and (d.line, d.column) == (1, 4)
    assert "NUMBER" in d.expected and "')'" in " ".join(d.expected) or "RPAR" in d.expected
    assert ")" in d.examples and "0" in d.examples
    inc = check_text(g, "(1")
    assert inc.status == "incomplete" and not inc.ok and inc.offset == 2
    assert check_text(g, "(7)").ok and "<end>" in check_text(g, "(7)").examples
    spaced = Grammar.from_lark('start: "(" NUMBER ")"\nNUMBER: /[0-9]+/\n%ignore /[ \\n]+/\n')
    lines = check_text(spaced, "(\n1\n x")
    assert lines.status == "rejected" and (lines.line, lines.column) == (3, 2), lines


def test_check_texts_table_for_a_schema():
    g = schema_to_grammar({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
                          whitespace="spaced")
    table = check_texts(g, {'{"n": 1}': True, '{"n": "x"}': False, '{}': False})
    assert table.all_ok, table
    table.assert_ok()
    bad = check_texts(g, ['{"n": 1.5}'])
    assert not bad.all_ok and "FAIL" in str(bad)
    with pytest.raises(AssertionError, match="unexpected verdict"):
        bad.assert_ok()
    d = check_text(g, '{"n": "x"}')
    assert d.offset == 6 and any(ch in d.examples for ch in "-0123456789")
