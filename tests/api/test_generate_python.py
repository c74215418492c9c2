"""Python generated on the embedded default model with lark's own Python grammar (indentation post-lexer) parses
with lark (``parser="lalr"``, ``postlex=PythonIndenter()``) and with ``ast.parse``.

The embedded model never ends a text right after a line break (its EOS follows the last character of a document),
and ``file_input`` needs a final newline, so ``file_input`` runs stop at ``max_tokens`` (status ``"length"``). Those
are checked as prefixes: the matcher completes each with a few closing pieces (brackets, quotes, newlines) and lark
must accept the completed text. Complete outputs come from the same grammar's ``eval_input`` start (an expression,
no final newline needed): they must parse with lark there and, with a newline added, as ``file_input``.
"""

from __future__ import annotations

import ast
import os

import lark
import pytest
from lark.indenter import PythonIndenter

import corral
from corral.compile.grammar import Grammar
from corral.models.hf import default_model_path
from corral.runtime.matcher import CompiledGrammar
from corral.testing import SYNTHETIC_EOS as EOS
from corral.tokens.vocabulary import Vocabulary

pytestmark = pytest.mark.skipif(
    not (default_model_path() / "model.safetensors").exists(), reason="embedded default model not built"
)

PYTHON_LARK = os.path.join(os.path.dirname(lark.__file__), "grammars", "python.lark")
# Pieces that close what a cut text may have open: brackets, strings, a line, a block.
PIECES = [")", "]", "}", "'", '"', "\n", "0", " x", ":", " pass\n", "\n    pass\n", "'''", '"""', "\n\n"]


def _grammar(start: str) -> Grammar:
    with open(PYTHON_LARK, encoding="utf-8") as f:
        return Grammar.from_lark(f.read(), start=start, source_name=PYTHON_LARK, compile_budget="unlimited")


def _lark(start: str):
    return lark.Lark.open_from_package("lark", "python.lark", ["grammars"], parser="lalr", postlex=PythonIndenter(),
                                       start=start)


@pytest.fixture(scope="module")
def byte_level():
    """The ``file_input`` grammar over single characters, to test prefixes and completions byte by byte."""
    chars = [bytes([c]) for c in range(1, 128)]
    vocab = Vocabulary.from_token_bytes([None] + chars, eos_token_ids=[EOS])
    return CompiledGrammar(_grammar("file_input"), vocab, compile_budget="unlimited")


def _completion(compiled, text: str, depth: int = 6) -> str | None:
    """A completion of ``text`` (joined from :data:`PIECES`) that the matcher accepts, breadth first."""
    frontier = [""]
    for _ in range(depth):
        nxt = []
        for suffix in frontier:
            for piece in PIECES:
                cand = suffix + piece
                data = (text + cand).encode()
                if compiled.accepts(data):
                    return cand
                if compiled.is_prefix(data):
                    nxt.append(cand)
        frontier = nxt[:200]
    return None


@pytest.mark.parametrize("prompt,seed", [("Write a CSV table:\n", 0), ("Write a CSV table:\n", 1),
                                         ("Write an arithmetic expression:\n", 3), ("Write a SMILES string:\n", 0)])
def test_file_input_generations_are_python_prefixes(byte_level, prompt, seed):
    grammar = byte_level.grammar
    res = corral.generate(prompt, grammar=grammar, seed=seed, temperature=0.8, max_tokens=80)
    assert res.status in ("complete", "length")
    parser = _lark("file_input")
    if res.status == "complete":
        parser.parse(res.text)
        ast.parse(res.text)
        return
    assert byte_level.is_prefix(res.text.encode())
    rest = _completion(byte_level, res.text)
    assert rest is not None, f"no completion found for {res.text!r}"
    parser.parse(res.text + rest)  # the matcher's prefix is one lark completes too


@pytest.mark.parametrize("prompt,seed", [("Write an arithmetic expression:\n", s) for s in range(4)]
                         + [("Generate a JSON object describing a person:\n", s) for s in range(1, 3)]
                         + [("Write a SMILES string:\n", s) for s in range(4)])
def test_complete_generations_parse_with_lark_and_ast(prompt, seed):
    res = corral.generate(prompt, grammar=_grammar("eval_input"), seed=seed, temperature=0.8, max_tokens=120)
    assert res.status in ("complete", "length")
    if res.status != "complete":
        pytest.skip(f"stopped at max_tokens: {res.text[-40:]!r}")
    _lark("eval_input").parse(res.text)
    _lark("file_input").parse(res.text + "\n")
    ast.parse(res.text, mode="eval")
    ast.parse(res.text + "\n")


def test_some_generations_complete():
    done = [corral.generate("Write an arithmetic expression:\n", grammar=_grammar("eval_input"), seed=s,
                            temperature=0.8, max_tokens=120).status == "complete" for s in range(4)]
    assert sum(done) >= 2
