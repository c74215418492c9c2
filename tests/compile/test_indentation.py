"""The indentation post-lexer as a grammar option: which grammars get lark's ``PythonIndenter`` (``postlex=``), the
errors for the others, and the Lark text it prints back."""

from __future__ import annotations

import pytest
from lark.indenter import PythonIndenter

from corral.compile.grammar import Grammar
from corral.compile.indentation import PYTHON_INDENTATION, Indentation
from corral.errors import ConfigurationError, GrammarError
from corral.runtime.matcher import CompiledGrammar
from corral.testing import lark_oracle, synthetic_vocab_for

TREE = """
start: _NL* tree
tree: NAME _NL [_INDENT tree+ _DEDENT]
NAME: /[a-z]+/
_NL: (/\\r?\\n[\\t ]*/ | COMMENT)+
COMMENT: /#[^\\n]*/
%ignore /[ \\t]+/
%ignore COMMENT
%declare _INDENT _DEDENT
"""


def test_auto_picks_the_python_indenter_with_the_grammars_newline():
    g = Grammar.from_lark(TREE)
    assert g.postlex == Indentation(newline="_NL")
    assert "_INDENT" not in g.terminals and "_NL" in g.terminals
    assert Grammar.from_lark(TREE.replace("_NL", "_NEWLINE")).postlex == PYTHON_INDENTATION


def test_explicit_choices():
    assert Grammar.from_lark(TREE.replace("_NL", "_NEWLINE"), postlex=PythonIndenter).postlex == PYTHON_INDENTATION
    assert Grammar.from_lark(TREE.replace("_NL", "_NEWLINE"), postlex="python").postlex == PYTHON_INDENTATION
    custom = Indentation(newline="_NL", open_parens=(), close_parens=(), tab_len=4)
    assert Grammar.from_lark(TREE, postlex=custom).postlex == custom
    with pytest.raises(GrammarError, match="declared terminals need a postlexer"):
        Grammar.from_lark(TREE, postlex=None)
    with pytest.raises(ConfigurationError):
        Grammar.from_lark(TREE, postlex="java")
    with pytest.raises(ConfigurationError):
        Indentation(tab_len=0)


def test_lark_indenter_instances_are_read():
    assert Indentation.from_lark(PythonIndenter()) == PYTHON_INDENTATION
    with pytest.raises(GrammarError, match="newline terminal '_NEWLINE'"):
        Grammar.from_lark(TREE, postlex=PythonIndenter())  # PythonIndenter's newline is _NEWLINE, not _NL


def test_other_declarations_stay_errors():
    with pytest.raises(GrammarError, match="only the indentation post-lexer's _INDENT and _DEDENT") as e:
        Grammar.from_lark("start: A B\nA: \"a\"\n%declare B\n")
    assert e.value.line == 3
    with pytest.raises(GrammarError, match="needs a newline terminal _NEWLINE or _NL"):
        Grammar.from_lark("start: A _INDENT _DEDENT\nA: \"a\"\n%declare _INDENT _DEDENT\n")


def test_to_lark_round_trips_the_declaration():
    g = Grammar.from_lark(TREE)
    text = g.to_lark()
    assert "%declare _INDENT _DEDENT" in text
    assert Grammar.from_lark(text).postlex == g.postlex


def test_compiled_matcher_follows_the_indenter():
    g = Grammar.from_lark(TREE)
    cg = CompiledGrammar(g, synthetic_vocab_for(g))
    oracle = lark_oracle(g)
    for text in ["a\n", "a\n  b\n", "a\n  b\n    c\n  d\n", "a\n  b\n c\n", "a\n\tb\n        c\n", "a # x\n",
                 "a\n  b  # x\n", "a\n  b\n  ", "a\n  b # x", "a\n  b\n#x\n"]:
        assert cg.accepts(text.encode()) == oracle(text), text
