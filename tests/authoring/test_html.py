"""Rich display (issue 15): ``_repr_html_`` and a short ``__repr__`` for grammars, compiled grammars, matchers and
text diagnoses (:mod:`corral.authoring.html`). The HTML is a well-formed fragment (it parses as XML inside a
``<div>``, with balanced tags for an HTML parser too), user text is escaped (no raw ``<script``), the failing
character of a rejected text is the marked element, and big grammars are truncated."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from corral.authoring import html as H
from corral.authoring.diagnose import check_text, check_texts
from corral.compile.grammar import Grammar, Rule, Terminal, grammar_from_source, list_shipped_grammars
from corral.compile.json_schema import schema_to_grammar
from corral.runtime.matcher import CompiledGrammar
from corral.testing import synthetic_vocab_for

_VOID = {"br", "hr", "img", "wbr"}
_ALLOWED = {"div", "span", "b", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "details", "summary"}


class _Balance(HTMLParser):
    """Checks that every tag is closed in order and is one of the tags the renderers use."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in _ALLOWED:
            self.errors.append(f"unexpected tag <{tag}>")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def check_html(html: str) -> ET.Element:
    """Assert ``html`` is a well-formed fragment (XML and HTML), without scripts; return its XML tree."""
    assert isinstance(html, str) and html
    root = ET.fromstring("<div>" + html + "</div>")
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert not parser.errors and not parser.stack, (parser.errors, parser.stack)
    assert "<script" not in html.lower() and "<style" not in html.lower()
    assert "javascript:" not in html.lower()
    return root


def check_repr(obj) -> str:
    text = repr(obj)
    assert len(text) < 200 and "\n" not in text, text
    return text


def marked(root: ET.Element) -> list[ET.Element]:
    """The elements marking a rejected character."""
    return [e for e in root.iter() if (e.get("title") or "").startswith("rejected")]


# ------------------------------------------------------------------------------------------------ grammars


@pytest.mark.parametrize("name", list_shipped_grammars())
def test_shipped_grammar(name):
    g = grammar_from_source(name)
    text = check_repr(g)
    assert text.startswith("Grammar(start='start', ") and f"{len(g.rules)} rules" in text
    assert f"source='{name}.lark'" in text
    root = check_html(g._repr_html_())
    shown = "".join(root.itertext())
    assert f"{name}.lark" in shown and "terminals" in shown
    first = g.source.split("\n")[0]
    assert H.escape(first) in g._repr_html_()  # the author's text, with line numbers


def test_repr_is_short_and_not_the_dataclass_dump():
    g = grammar_from_source("json")
    assert "Rule(" not in repr(g) and "Terminal(" not in repr(g)
    assert repr(Grammar.from_regex("[a-z]+")) == "Grammar(start='start', 1 rules, 1 terminals)"
    assert "ignore=" in repr(grammar_from_source("arithmetic"))
    assert "source='Lark text'" in repr(Grammar.from_lark('start: "a"'))


def test_schema_grammar():
    g = schema_to_grammar({"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
                           "required": ["name"]}, whitespace="spaced")
    assert "source='JSON Schema'" in check_repr(g)
    root = check_html(g._repr_html_())
    shown = "".join(root.itertext())
    assert "JSON Schema" in shown and "as Lark (generated)" in shown


def test_script_literal_is_escaped():
    g = Grammar.from_lark('start: "<script>alert(1)</script>" NAME\nNAME: /<b>[a-z]+/\n')
    html = g._repr_html_()
    check_html(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;" in html
    text = "".join(ET.fromstring("<div>" + html + "</div>").itertext())
    assert "<script>alert(1)</script>" in text  # shown as text


def test_generated_text_when_no_source():
    g = Grammar([Rule("start", ("A", "b")), Rule("b", ("B",))],
                {"A": Terminal("A", "a"), "B": Terminal("B", "<x>", literal="<x>")})
    root = check_html(g._repr_html_())
    shown = "".join(root.itertext())
    assert "start" in shown and "'<x>'" in shown and "as Lark (generated)" in shown


def test_big_grammar_is_truncated():
    n = 1000
    rules = [Rule("start", (f"r{i}",)) for i in range(n)] + [Rule(f"r{i}", (f"T{i}", f"W{i}")) for i in range(n)]
    terms = {}
    for i in range(n):
        terms[f"T{i}"] = Terminal(f"T{i}", re.escape(f"keyword_{i}"), frozenset(), f"keyword_{i}")
        terms[f"W{i}"] = Terminal(f"W{i}", "[a-z]{1,%d}(?:x|y|%s)*" % (i + 1, "z" * 500), frozenset(), None)
    g = Grammar(rules, terms)
    assert len(g.rules) == 2 * n
    assert check_repr(g) == f"Grammar(start='start', {2 * n} rules, {2 * n} terminals)"
    html = g._repr_html_()
    assert len(html) < 100_000, len(html)
    root = check_html(html)
    shown = "".join(root.itertext())
    assert "more lines" in shown and "more rows" in shown


# ------------------------------------------------------------------------------------------------ runtime


@pytest.mark.parametrize("native", [None, False])
def test_compiled_grammar_and_matcher(native):
    g = grammar_from_source("json")
    cg = CompiledGrammar(g, synthetic_vocab_for(g), native=native)
    text = check_repr(cg)
    assert text.startswith("CompiledGrammar(Grammar(") and f"vocab={cg.size}" in text
    root = check_html(cg._repr_html_())
    assert "CompiledGrammar" in "".join(root.itertext())

    m = cg.matcher()
    assert check_repr(m) == "Matcher(0 tokens, 0 bytes consumed, complete=False)"
    root = check_html(m._repr_html_())
    assert f"{int(m.mask().sum())} of {cg.size} tokens" in "".join(root.itertext())
    rng = np.random.default_rng(0)
    taken = []
    for _ in range(6):
        allowed = [t for t in np.flatnonzero(m.mask()) if t not in cg.vocab.eos_token_ids]
        if not allowed:
            break
        taken.append(int(rng.choice(allowed)))
        m.advance(taken[-1])
    consumed = cg.vocab.decode(taken)
    assert check_repr(m).startswith(f"Matcher({len(taken)} tokens, {len(consumed)} bytes consumed, complete=")
    root = check_html(m._repr_html_())
    assert consumed.decode("utf-8", "replace").replace("\r", "\\r") in "".join(root.itertext())


def test_matcher_at_end():
    g = Grammar.from_lark('start: "<script>" | "<script>x"')
    cg = CompiledGrammar(g, synthetic_vocab_for(g))
    m = cg.matcher()
    m.advance_many(cg.vocab.token_bytes.index(b"<script>") for _ in range(1))
    assert "complete=True" in check_repr(m)
    root = check_html(m._repr_html_())
    assert "<script>" in "".join(root.itertext())
    m.advance(next(iter(cg.vocab.eos_token_ids)))
    assert "terminated" in check_repr(m)
    check_html(m._repr_html_())


# ------------------------------------------------------------------------------------------------ diagnoses


def test_rejected_position_is_marked():
    g = grammar_from_source("json")
    d = check_text(g, '{"a": [1, 2 <script>]}')
    assert d.status == "rejected"
    root = check_html(d._repr_html_())
    (mark,) = marked(root)
    assert "".join(mark.itertext()) == d.text[d.offset] == "<"
    shown = "".join(root.itertext())
    assert f"line {d.line}, column {d.column}" in shown and "COMMA" in shown
    assert "<script>" in shown


def test_incomplete_and_accepted():
    g = grammar_from_source("json")
    d = check_text(g, '{"a": ')
    assert d.status == "incomplete"
    root = check_html(d._repr_html_())
    assert not marked(root) and "incomplete" in "".join(root.itertext())
    d = check_text(g, '{"a": 1}')
    root = check_html(d._repr_html_())
    assert not marked(root) and "accepted" in "".join(root.itertext())


def test_whitespace_and_control_characters():
    g = grammar_from_source("json")
    d = check_text(g, '[1,\n\x00\ud800]')
    root = check_html(d._repr_html_())
    (mark,) = marked(root)
    assert d.text[d.offset] in "\n\x00" and "".join(mark.itertext()).strip()  # visible
    assert "\\x00" in "".join(root.itertext())
    html = check_text(g, '"\ud800\x1b"')._repr_html_()
    check_html(html)


def test_check_table():
    g = grammar_from_source("json")
    t = check_texts(g, {'{"a": 1}': True, "[1, <script>]": True, "x": False, "[1,": True})
    assert len(t.failures) == 2
    html = t._repr_html_()
    root = check_html(html)
    rows = root.findall(".//tbody/tr")
    assert len(rows) == 4
    failed = [r for r in rows if "FAIL" in "".join(r.itertext())]
    assert len(failed) == 2 and all("background" in (r.get("style") or "") for r in failed)
    marks = marked(root)
    assert [("".join(m.itertext())) for m in marks] == ["<", "x"]
    assert "[1, <script>]" in "".join(rows[1].itertext())  # the '<' marked, all of it escaped


def test_check_table_truncated():
    g = grammar_from_source("json")
    t = check_texts(g, [str(i) for i in range(H.MAX_ROWS + 5)])
    root = check_html(t._repr_html_())
    assert len(root.findall(".//tbody/tr")) == H.MAX_ROWS and "5 more rows" in "".join(root.itertext())


# ------------------------------------------------------------------------------------------------ helpers


def test_helpers():
    assert H.escape('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    assert H.escape("a\x00b\rc\ud800") == "a\\x00b\\rc\\ud800"
    check_html(H.table(("a", "b"), [("1", "2")] * 3, limit=2))
    check_html(H.code_block("x\n<y>\n" * 300))
    for status in ("rejected", "incomplete", "accepted"):
        for inline in (False, True):
            check_html(H.marked_text("ab\ncd" * 2000, 5000, status=status, inline=inline))
    check_html(H.marked_text("", 0))


def test_html_module_imports_nothing_from_corral():
    """The classes import it from their repr methods, so it must not depend on them (no import cycle)."""
    tree = ast.parse(Path(H.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "corral" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and (node.module or "").split(".")[0] != "corral"
