"""Indentation post-lexer (``%declare _INDENT _DEDENT``, lark's ``PythonIndenter``) against lark itself.

A small corpus of indented Python programs, and mutations of them (one line's indentation changed, a line dropped,
the text cut after a line, comments at the end), must be accepted by corral's matcher exactly when lark's own
Python grammar (``parser="lalr"``, ``postlex=PythonIndenter()``) accepts them; token by token, every step holds the
matcher invariants. Deliberately wrong indenters (brackets ignored, no ``_DEDENT`` at the end) are caught.
"""

from __future__ import annotations

import os
import random
import string

import lark
import pytest
from lark.indenter import PythonIndenter

from corral.compile.grammar import Grammar
from corral.compile.indentation import PYTHON_INDENTATION
from corral.runtime import indent_configs
from corral.runtime.indented import IndentedGrammar
from corral.runtime.matcher import CompiledGrammar
from corral.testing import SYNTHETIC_EOS as EOS
from corral.testing import assert_step_invariants, lark_oracle, random_walk
from corral.tokens.vocabulary import Vocabulary

PYTHON_LARK = os.path.join(os.path.dirname(lark.__file__), "grammars", "python.lark")

PROGRAMS = [
    "x = 1\n",
    "if x:\n    y = 1\nelse:\n    y = 2\n",
    "def f(a, b=2):\n    return a + b\n\n\nprint(f(1))\n",
    "class A(object):\n    def m(self):\n        if self.x:\n            return [1,\n                    2]\n"
    "        return None\n",
    "for i in range(3):\n    for j in range(i):\n        print(i, j)\n    # a comment\n\n    total = (i +\n"
    "             j)\nelse:\n    pass\n",
    "while True:\n\tbreak\n",
    "try:\n    x = {'a': 1,\n         'b': 2}\nexcept KeyError as e:\n    raise\nfinally:\n    x = None\n",
    "# header\nimport os\n\ndef g():\n    '''doc'''\n    return os.sep  # trailing\n",
    "if a:\n    if b:\n        c()\n    elif d:\n        e()\nf()\n",
    "x = [\n    1,\n  2,\n        3,\n]\ny = 2\n",
    "def h():\n    pass\n",
    "with open(p) as f:\n    data = f.read()\n",
    "d = {k: v for k, v in items if k}\nlambda x: x\n",
    "if x:\n\ty = 1\n        z = 2\n",
    "def outer():\n    def inner():\n        return 1\n    return inner\n",
]


def _accepts(parser, text: str) -> bool:
    """lark's verdict (any failure of lark's lexer, indenter or parser is a rejection)."""
    try:
        parser.parse(text)
        return True
    except Exception:  # noqa: BLE001 - lark's Indenter fails with IndexError/AssertionError too
        return False


def _mutations(text: str) -> list[str]:
    """One line re-indented or dropped, the text cut after each line (also keeping the next line's indentation,
    which leaves the pending dedents to the end of the text), and endings with a comment or no newline."""
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        variants = [" " + line, "  " + line, line[1:] if line.startswith(" ") else None,
                    "\t" + line[4:] if line.startswith("    ") else None]
        out += ["\n".join(lines[:i] + [v] + lines[i + 1:]) for v in variants if v is not None]
        out.append("\n".join(lines[:i] + lines[i + 1:]))
        out.append("\n".join(lines[:i + 1]) + "\n")
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        out.append("\n".join(lines[:i + 1]) + "\n" + nxt[:len(nxt) - len(nxt.lstrip(" \t"))])
    out += [text.rstrip("\n"), text + "# end", text + "    # end", text + "\n\n", text + "  \n", text + "    "]
    return out


@pytest.fixture(scope="module")
def lark_python():
    return lark.Lark.open_from_package("lark", "python.lark", ["grammars"], parser="lalr",
                                       postlex=PythonIndenter(), start="file_input")


@pytest.fixture(scope="module")
def python_grammar():
    with open(PYTHON_LARK, encoding="utf-8") as f:
        return Grammar.from_lark(f.read(), start="file_input", source_name=PYTHON_LARK, compile_budget="unlimited")


def _vocab() -> Vocabulary:
    """Single characters (so every text can be spelled) and multi-lexeme tokens with newlines and indentation."""
    chars = [chr(c) for c in range(32, 127)] + ["\n", "\t"]
    words = ["    ", "        ", "\n    ", "\n        ", "\n\n", "):\n", ":\n", ":\n    ", "def ", "if ", "return ",
             "\n\n\n", "],\n", "\nelse:\n", " # ", "pass\n", "(self", "1,\n", "\n\t"]
    return Vocabulary.from_token_bytes([None] + [t.encode() for t in chars + words], eos_token_ids=[EOS])


@pytest.fixture(scope="module")
def compiled(python_grammar):
    return CompiledGrammar(python_grammar, _vocab(), compile_budget="unlimited")


def _texts() -> list[str]:
    texts = list(PROGRAMS)
    for p in PROGRAMS:
        texts += _mutations(p)
    return list(dict.fromkeys(texts))


def _mismatches(compiled, lark_python, texts) -> list:
    return [(t, ours) for t in texts if (ours := compiled.accepts(t.encode())) != _accepts(lark_python, t)]


def test_grammar_gets_the_python_indenter(python_grammar, compiled):
    assert python_grammar.postlex == PYTHON_INDENTATION
    assert isinstance(compiled, IndentedGrammar) and not compiled.native
    assert "%declare _INDENT _DEDENT" in python_grammar.to_lark()


def test_programs_and_mutations_agree_with_lark(compiled, lark_python):
    texts = _texts()
    verdicts = [_accepts(lark_python, t) for t in texts]
    assert all(_accepts(lark_python, p) for p in PROGRAMS)
    assert sum(verdicts) > 60 and len(verdicts) - sum(verdicts) > 60  # both kinds, plenty of each
    assert _mismatches(compiled, lark_python, texts) == []


def _spell(vocab: Vocabulary, text: str, rng: random.Random) -> list[int]:
    """``text`` as token ids: a random choice among the tokens that spell a prefix of the rest."""
    ids = {bytes(b): i for i, b in enumerate(vocab.token_bytes) if b}
    data, out, i = text.encode(), [], 0
    while i < len(data):
        options = [n for n in range(1, 10) if data[i:i + n] in ids and i + n <= len(data)]
        n = rng.choice(options)
        out.append(ids[data[i:i + n]])
        i += n
    return out


@pytest.mark.parametrize("index", range(len(PROGRAMS)))
def test_programs_token_by_token(compiled, lark_python, index):
    text = PROGRAMS[index]
    vocab = compiled.vocab
    rng = random.Random(index)
    m = compiled.matcher()
    for step, tok in enumerate(_spell(vocab, text, rng)):
        mask = assert_step_invariants(m, True, rng, vocab=vocab, where=f"program {index}, step {step}")
        assert mask[tok], f"program {index}: token {vocab.token_bytes[tok]!r} at step {step} is not allowed"
        key = m.state_key()
        m.advance(tok)
        m.rollback(1)
        assert m.state_key() == key and (m.mask() == mask).all()
        m.advance(tok)
    assert m.is_complete() == _accepts(lark_python, text)
    assert_step_invariants(m, True, rng, vocab=vocab, where=f"program {index}, end")


def test_comments_like_lark(compiled, lark_python):
    # lark lexes a comment as a newline lexeme (never as the ignored COMMENT), and its Indenter fails on one without
    # a line break outside brackets (a final comment); a comment runs to the end of its line, so code cannot resume
    # inside it
    texts = ["x = 1  # c", "x = (1,  # c\n 2)\n", "if x:\n    y\n    # c", "x = 1\n# c\n", "x = f(1  # )\n",
             "x = f(1  # )\n)\n", "x = 1  #\n", "if x:\n    # only a comment\n    pass\n", "# c", "  # c",
             "# c\n", "\n# c", "\n#c"]
    for text in texts:
        assert compiled.accepts(text.encode()) == _accepts(lark_python, text), text
    assert not compiled.accepts(b"x = f(1  # )\n")


# Pieces of Python that walks can string together into indented, bracketed, commented, continued lines (and the
# punctuation that finishes any operator a piece may leave half typed, such as ":" of ":=").
WALK_TOKENS = list(string.punctuation) + [
    "if x:", "while y:", "else:", "def f():", "class A:", "pass", "return", " x", "x", "y", " = ", "1", "(", ")", "[",
    "]", "{", "}", ",", ":", "\n", "\n    ", "\n        ", "    ", "  ", " ", "\t", "\n\n", "#c", " # c", "\\\n", "'s'",
    "\n  ", "):\n", ":\n", ":\n    ", "f(", "])", "\n\t", "+", "0", " for i in y", "lambda: 0", "\r\n"]


def test_python_walks_hold_the_invariants(python_grammar):
    tokens = list(dict.fromkeys(WALK_TOKENS))
    vocab = Vocabulary.from_token_bytes([None] + [t.encode() for t in tokens], eos_token_ids=[EOS])
    compiled = CompiledGrammar(python_grammar, vocab, compile_budget="unlimited")
    oracle = lark_oracle(python_grammar)  # lark's Indenter and Earley parser over the splits of the text
    complete = 0
    for walk in range(12):
        toks = random_walk(compiled.matcher(), random.Random(walk), steps=14, p_eos=0.15, oracle=oracle)
        complete += toks[-1:] == [EOS]
    assert complete >= 1  # some walks end in the language (checked against lark at EOS)


@pytest.fixture
def wrong(python_grammar, monkeypatch):
    """Build a matcher with a deliberately broken indenter (``monkeypatch`` applied first)."""
    def build():
        return CompiledGrammar(python_grammar, _vocab(), compile_budget="unlimited")
    return build


def test_an_indenter_that_ignores_brackets_is_caught(wrong, lark_python, monkeypatch):
    init = indent_configs.IndentSpace.__init__

    def no_brackets(self, *args):
        init(self, *args)
        self.opens = self.closes = frozenset()

    monkeypatch.setattr(indent_configs.IndentSpace, "__init__", no_brackets)
    bad = _mismatches(wrong(), lark_python, _texts())
    assert bad and all("(" in t or "[" in t or "{" in t for t, _ in bad)


def test_an_indenter_without_dedents_at_the_end_is_caught(wrong, lark_python, monkeypatch):
    monkeypatch.setattr(indent_configs.Config, "complete", property(lambda self: self.col.complete))
    bad = _mismatches(wrong(), lark_python, _texts())
    assert bad and all(not ours for _, ours in bad)  # blocks open at the end are wrongly refused
