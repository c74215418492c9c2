"""Tests for the grammar IR and the Lark front end (corral.compile.grammar, corral.compile.lark).

The oracle for a grammar's language is lark's own Earley parser with ``lexer="dynamic_complete"`` (any split of
the text into lexemes counts), which is corral's documented semantics.
"""

from __future__ import annotations

import ast
import json
import random
import re
from pathlib import Path

import pytest
from lark import Lark
from lark.exceptions import UnexpectedInput

from conftest import GRAMMARS_DIR, shared_path
from corral.compile.grammar import Grammar, Rule, Terminal, grammar_from_source, list_shipped_grammars, load_lark_file
from corral.compile.lark import lark_names
from corral.errors import GrammarError, RegexError

# ---------------------------------------------------------------------------------------------------------------
# examples for the shipped grammars: (valid, invalid)

EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "json": (
        ['{"a": 1}', "[]", "{}", " [1, 2.5, -3e10, 0.0, 1E+2] ", '"x\\n\\u00e9\\"\\\\"', "true", "null", "-0",
         '{"a": {"b": [true, false, null, {}]}, "c": "d"}', '\n\t{ "k" : [ ] }\r\n', '"é/ü"', '"\\/"'],
        ["{a: 1}", "[1,]", "[1 2]", "01", "1.", ".5", '"\\x"', '"a', "tru", "[truefalse]", "{'a': 1}",
         '{"a" 1}', "+1", '"tab\there"', "", "[1]]", "- 1"],
    ),
    "arithmetic": (
        ["1", "1 + 2", "3*(4-5)/6", "-(2.5)", "  7 -  -8 ", "((1))", "1.25*2"],
        ["", "1 +", "()", "1 2", "(1", "1..2", "1 ++ 2 *", "a", "1.", "* 2"],
    ),
    "csv": (
        ["a,b,c", "a,b\r\nc,d\r\n", '"x, y",z\n1,2', '"say ""hi""",x', ",,", "", "a\n\nb", '"multi\nline",q',
         "1,2,3\n"],
        ['a"b,c', '"ab"c', '"unclosed', 'x,"y', 'a\rb', '"a""', '"a""""'],
    ),
    "smiles": (
        ["CCO", "c1ccccc1", "CC(=O)O", "C[C@@H](N)C(=O)O", "[Na+].[Cl-]", "C1CC2CCC1C2", "C%10CC%10",
         "[13CH4]", "N#N", "F/C=C/F", "F/C=C\\F", "ClCBr", "[Fe+2]", "[nH]1cccc1", "C(C)(C)(C)C", "[2H]",
         "OC(=O)C1=CC=CC=C1", "[CH3:1]C", "*C", "C.C", "Sc1ccsc1"],
        ["", "C(", "1CC", "C)", "[C", "Xx", "C==C", "c1cc(", "C((C))", "[Qq]", "C%1", "()", "C(C", ".C", "C..C"],
    ),
    "sql": (
        ["SELECT a FROM t", "select * from t;", "SELECT DISTINCT name, age FROM singer WHERE age > 20",
         "SELECT count(*) FROM concert", "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid",
         "SELECT a, b FROM t WHERE a = 'x' AND b <> 3 OR NOT c LIKE '%y%'",
         "SELECT name FROM t WHERE id IN (SELECT id FROM u) ORDER BY name DESC LIMIT 5",
         "SELECT country, avg(age) FROM singer GROUP BY country HAVING count(*) > 1",
         "SELECT x FROM t WHERE y BETWEEN 1 AND 10 AND z IS NOT NULL",
         "SELECT a FROM t UNION SELECT b FROM u", "  SELECT  max(age) ,min(age)\nFROM  t  ",
         'SELECT a FROM t WHERE b = "it''s" AND c NOT IN (1, 2.5, 3)', "SELECT a + b * 2 AS s FROM t",
         "SELECT a FROM t LEFT OUTER JOIN u ON t.x = u.y WHERE t.z != 'it''s'"],
        ["SELECTa FROM t", "SELECT a FROMt", "SELECT", "SELECT a FROM", "SELECT a FROM t WHERE",
         "SELECT a FROM t LIMIT", "SELECT a FROM t LIMITx", "FROM t", "SELECT a b c FROM t",
         "SELECT a FROM t ORDER a", "SELECT a FROM t WHERE a = 'x", "SELECT a,, b FROM t", "SELECT a FROM t;;",
         "SELECT count(* FROM t"],
    ),
}


def _oracle(text: str) -> Lark:
    return Lark(text, parser="earley", lexer="dynamic_complete")


def _accepts(parser: Lark, s: str) -> bool:
    try:
        parser.parse(s)
    except UnexpectedInput:
        return False
    return True


def _shipped_text(name: str) -> str:
    return (GRAMMARS_DIR / f"{name}.lark").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_grammar_examples(name):
    text = _shipped_text(name)
    assert text.lstrip().startswith("//"), "each shipped grammar starts with a comment header"
    parser = _oracle(text)
    valid, invalid = EXAMPLES[name]
    wrong = [s for s in valid if not _accepts(parser, s)] + [s for s in invalid if _accepts(parser, s)]
    assert not wrong, f"{name}: misclassified {wrong}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_grammar_round_trip(name):
    g = grammar_from_source(name)
    assert g.source is not None and g.start == "start"
    printed = g.to_lark()
    g2 = Grammar.from_lark(printed)
    assert _canonical(g2) == _canonical(g, lark_names(g.start, g.rules, g.terminals))
    parser = _oracle(printed)
    valid, invalid = EXAMPLES[name]
    wrong = [s for s in valid if not _accepts(parser, s)] + [s for s in invalid if _accepts(parser, s)]
    assert not wrong, f"{name} after to_lark: misclassified {wrong}"
    assert g2.to_lark() == printed


def _canonical(g: Grammar, names: dict[str, str] | None = None):
    names = names or {}
    rn = lambda s: names.get(s, s)  # noqa: E731
    rules = sorted((rn(r.lhs), tuple(rn(s) for s in r.rhs)) for r in g.rules)
    terms = sorted((rn(t.name), t.literal, t.flags, t.priority, _norm_pattern(t.pattern))
                   for t in g.terminals.values())
    return rules, terms, sorted(rn(i) for i in g.ignore), rn(g.start)


def _norm_pattern(pattern: str) -> str:
    """Undo spellings that lark's loader changes without changing the regex (``\\/``, raw newline or tab)."""
    controls = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append("/" if nxt == "/" else controls.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(controls.get(ch, ch))
            i += 1
    return "".join(out)


def test_list_and_resolve_shipped_grammars():
    assert {"json", "arithmetic", "sql", "csv", "smiles"} <= set(list_shipped_grammars())
    g = grammar_from_source("json")
    assert grammar_from_source(g) is g
    assert grammar_from_source(GRAMMARS_DIR / "csv.lark").terminals
    assert grammar_from_source(str(GRAMMARS_DIR / "csv.lark")).terminals
    assert grammar_from_source('start: "a" | "b"\n').start == "start"
    with pytest.raises(GrammarError, match="tried"):
        grammar_from_source("no_such_grammar")
    with pytest.raises(GrammarError):
        grammar_from_source(Path("/nonexistent/x.lark"))


# ---------------------------------------------------------------------------------------------------------------
# IR construction and conversion


def test_lark_features_expand_to_bnf():
    text = """
start: "select"i /ab+/i NUMBER x~2..3 "q"? ("r" "s")* ["t"] _sep{item, ","} y
x: "x"
y: "y"~3
item: /[0-9]/
_sep{a, s}: a (s a)*
%import common.NUMBER
%ignore " "
"""
    g = Grammar.from_lark(text)
    assert all(isinstance(r, Rule) and isinstance(r.rhs, tuple) for r in g.rules)
    sel = g.terminals["SELECT"]
    assert sel.literal == "select" and sel.flags == frozenset("i") and sel.pattern == "select"
    regex_terms = [t for t in g.terminals.values() if t.pattern == "ab+"]
    assert len(regex_terms) == 1 and regex_terms[0].literal is None and regex_terms[0].flags == frozenset("i")
    assert len(g.ignore) == 1 and g.terminals[g.ignore[0]].literal == " "
    assert "NUMBER" in g.terminals
    parser = _oracle(text)
    for s in ["SELECT abbb 12 xx 1 yyy", "select AB 1.5 xxx q r s r s t 1 , 2 yyy"]:
        assert _accepts(parser, s)
        assert _accepts(_oracle(g.to_lark()), s)
    for s in ["select ab 1 x 1 yyy", "select ab 1 xx 1 yy", "selec ab 1 xx 1 yyy"]:
        assert not _accepts(_oracle(g.to_lark()), s)


def test_override_and_extend():
    g = Grammar.from_lark('start: "a"\n%override start: "b"\n%extend start: "c"\n')
    assert sorted(t.literal for t in g.terminals.values()) == ["b", "c"]


def test_priorities_kept():
    g = Grammar.from_lark('start: A | B\nA.2: "a"\nB.-1: /b+/\n')
    assert g.terminals["A"].priority == 2 and g.terminals["B"].priority == -1
    assert "A.2:" in g.to_lark() and "B.-1:" in g.to_lark()
    assert Grammar.from_lark(g.to_lark()).terminals["B"].priority == -1


def test_pruning_unproductive_and_unreachable():
    g = Grammar.from_lark('start: a | b\na: "x" a | "y"\nb: "z" b\nc: "unused"\n')
    assert {r.lhs for r in g.rules} == {"start", "a"}
    assert sorted(t.literal for t in g.terminals.values()) == ["x", "y"]
    ir = Grammar([Rule("start", ("A",)), Rule("start", ("A",)), Rule("dead", ("B",))],
                 {"A": Terminal("A", "a"), "B": Terminal("B", "b")})
    assert ir.rules == [Rule("start", ("A",))] and list(ir.terminals) == ["A"]


def test_empty_rules_and_nullable():
    g = Grammar.from_lark('start: a b\na: "x" |\nb: a a\n')
    assert Rule("a", ()) in g.rules
    assert g.nullable() == {"start", "a", "b"}
    assert "a: " in g.to_lark()
    assert set(g.rules_by_lhs()) == g.nonterminals == {"start", "a", "b"}


def test_from_regex():
    g = Grammar.from_regex(r"[0-9]{3}-[a-z]+")
    assert g.rules == [Rule("start", ("REGEX",))] and g.terminals["REGEX"].literal is None
    parser = _oracle(g.to_lark())
    assert _accepts(parser, "123-abc") and not _accepts(parser, "12-abc")
    nullable = Grammar.from_regex(r"\d*")
    assert Rule("start", ()) in nullable.rules and nullable.allow_nullable_terminals
    with pytest.raises(RegexError, match="position 0 in regex '\\[unclosed'"):
        Grammar.from_regex("[unclosed")


def test_from_choices():
    choices = ["yes", "no", "maybe so", 'a"b\\c', "yes"]
    g = Grammar.from_choices(choices)
    assert sorted(t.literal for t in g.terminals.values()) == sorted(set(choices))
    parser = _oracle(g.to_lark())
    assert all(_accepts(parser, c) for c in choices)
    assert not _accepts(parser, "ye") and not _accepts(parser, "yesno")
    assert Rule("start", ()) in Grammar.from_choices(["", "x"]).rules
    with pytest.raises(GrammarError, match="empty"):
        Grammar.from_choices([])


def test_to_lark_escaping_round_trip():
    rng = random.Random(0)
    alphabet = ['a', 'Z', '"', "\\", "'", "/", "\n", "\t", "\r", "\x00", "\x7f", "é", "€", " ", "n", "x", "{", "*"]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        g = Grammar.from_choices([text])
        (term,) = Grammar.from_lark(g.to_lark()).terminals.values()
        assert term.literal == text, (text, g.to_lark())
    patterns = [r"a\/b", "a/b", r"\x2e", r"[/]+", r"\\n", r"\n", "x\ny", r"\u00e9+", r"[\x41-\x43]", r"\U0001F600",
                r"\.\*\{", r"a{2,3}", r"[^\]\\]"]
    probes = ["a/b", ".", "x", "//", "\\n", "\n", "x\ny", "éé", "B", "😀", ".*{", "aaa", "q", "]", "\\"]
    for pat in patterns:
        g = Grammar.from_regex(pat)
        (term,) = Grammar.from_lark(g.to_lark()).terminals.values()
        for probe in probes:
            assert bool(re.fullmatch(pat, probe)) == bool(re.fullmatch(term.pattern, probe)), (pat, probe)


def test_ir_to_lark_renames_invalid_names():
    g = Grammar([Rule("Expr", ("num", "__x")), Rule("__x", ()), Rule("start", ("num",))],
                {"num": Terminal("num", "[0-9]+")}, start="Expr")
    printed = g.to_lark()
    g2 = Grammar.from_lark(printed)
    assert _canonical(g2) == _canonical(g, lark_names(g.start, g.rules, g.terminals))
    assert _accepts(_oracle(printed), "12")


# ---------------------------------------------------------------------------------------------------------------
# errors


def _error(text: str, **kw) -> GrammarError:
    with pytest.raises(GrammarError) as info:
        Grammar.from_lark(text, **kw)
    assert type(info.value) is GrammarError
    return info.value


def test_error_unclosed_parenthesis():
    e = _error('start: "a" (\n')
    assert "parenthesis" in e.message.lower() and e.line == 1 and e.column == 13
    assert e.__cause__ is not None


def test_error_syntax():
    e = _error('start: "x"\n  | @\n')
    assert e.line == 2 and e.column == 5 and "'@'" in e.message


def test_error_undefined_rule_and_terminal():
    e = _error('start: a b\na: "x"\n')
    assert "'b'" in e.message and "not defined" in e.message and (e.line, e.column) == (1, 10)
    e = _error('start: "a"\n   | FOO\n')
    assert "FOO" in e.message and (e.line, e.column) == (2, 6)
    e = _error('x: "a"\n', start="start")
    assert "start" in e.message and "x" in e.message


def test_error_bad_terminal():
    e = _error('start: A\nA: /[/\n')
    assert "'A'" in e.message and "regex" in e.message and (e.line, e.column) == (2, 1)
    e = _error('start: "a" /(b/\n')
    assert (e.line, e.column) == (1, 12)


def test_error_unsupported_regex_construct():
    pytest.importorskip("corral.automata.regex")
    e = _error('start: A\nA: /a\\bb/\n')
    assert "'A'" in e.message and "unsupported" in e.message and (e.line, e.column) == (2, 1)
    assert type(e.__cause__).__name__ == "RegexError"
    dfas = Grammar.from_lark('start: A B\nA: "a"\nB: /[0-9]+/\n').check_terminals()
    assert set(dfas) == {"A", "B"} and dfas["B"].fullmatch(b"123")


def test_error_declare():
    e = _error('start: A\n%declare A\n')
    assert "declared terminals need a postlexer, which is not supported" in e.message
    assert (e.line, e.column) == (2, 10)


def test_error_empty_language():
    e = _error('start: a\na: "x" a\n')
    assert "language is empty" in e.message and (e.line, e.column) == (1, 1)
    with pytest.raises(GrammarError, match="language is empty"):
        Grammar([Rule("start", ("start",))], {})


def test_error_empty_string_terminal():
    e = _error('start: A\nA: /a*/\n')
    assert "'A'" in e.message and "empty string" in e.message and (e.line, e.column) == (2, 1)
    e = _error('start: "a" /b?/\n')
    assert "empty string" in e.message and (e.line, e.column) == (1, 12)
    e = _error('start: A\nA: ""\n')
    assert e.line == 2


def test_error_misc_lark_errors():
    e = _error('start: "a"\nstart: "b"\n')
    assert "more than once" in e.message and (e.line, e.column) == (2, 1)
    e = _error('%import nosuchmodule.FOO\nstart: FOO\n')
    assert "nosuchmodule" in e.message and e.line == 1
    for text in ['start: "a', "start: /a", "start", ": a", 'start: "a"\n%ignore B\n', "start: x{a}\n",
                 '%override start: "a"\n', 'start: "a" -> \n', "START: start\nstart: START\n", "\x00",
                 'start: "a"~3..1\n', "start: a\na{x}: x\n"]:
        with pytest.raises(GrammarError):
            Grammar.from_lark(text)


def test_ir_validation_errors():
    with pytest.raises(GrammarError, match="not defined"):
        Grammar([Rule("start", ("A", "b"))], {"A": Terminal("A", "a")})
    with pytest.raises(GrammarError, match="empty string"):
        Grammar([Rule("start", ("A",))], {"A": Terminal("A", "a?")})
    with pytest.raises(GrammarError, match="ignored terminal"):
        Grammar([Rule("start", ("A",))], {"A": Terminal("A", "a")}, ignore=("WS",))
    with pytest.raises(GrammarError, match="both"):
        Grammar([Rule("start", ("A",)), Rule("A", ())], {"A": Terminal("A", "a")})


# ---------------------------------------------------------------------------------------------------------------
# the Lark grammars in the shared data

SHARED_GRAMMAR_DIRS = ["lark", "outlines", "syncode", "genlm-eval", "control-iclr-2025"]


def _first_rule(text: str) -> str:
    if re.search(r"^[ \t]*[?!]?start\b", text, re.M):
        return "start"
    m = re.search(r"^[ \t]*[?!]?([a-z_][a-z0-9_]*)[ \t]*(?:\.[ \t]*-?\d+)?[ \t]*:", text, re.M)
    return m.group(1) if m else "start"


def _try_load(path: Path, start: str) -> str:
    try:
        g = load_lark_file(path, start=start)
    except GrammarError as e:
        return "error: " + e.message.splitlines()[0][:80]
    g2 = Grammar.from_lark(g.to_lark(), check_regex=False)  # the IR round-trips, up to renaming
    assert _canonical(g2) == _canonical(g, lark_names(g.start, g.rules, g.terminals)), path
    return "ok"


def test_shared_lark_grammars():
    base = shared_path("data", "grammars")
    results = {}
    for sub in SHARED_GRAMMAR_DIRS:
        for path in sorted((base / sub).rglob("*.lark")):
            text = path.read_text(encoding="utf-8")
            results[str(path.relative_to(base))] = _try_load(path, _first_rule(text))
    index_path = base / "lark" / "extracted_from_examples" / "index.json"
    for entry in json.loads(index_path.read_text()):
        kwargs = entry.get("lark_kwargs") or {}
        start = kwargs.get("start")
        start = ast.literal_eval(start) if isinstance(start, str) else start
        path = index_path.parent / entry["staged_as"]
        start = start or _first_rule(path.read_text(encoding="utf-8"))
        results["index:" + entry["staged_as"]] = _try_load(path, start)
    loaded = sorted(k for k, v in results.items() if v == "ok")
    failed = {k: v for k, v in results.items() if v != "ok"}
    print(f"\n{len(loaded)} shared grammars load, {len(failed)} raise GrammarError")
    for k, v in sorted(failed.items()):
        print(f"  {k}: {v}")
    assert len(loaded) >= 40
    for must in ["outlines/src/outlines/grammars/json.lark", "syncode/syncode/parsers/grammars/json.lark",
                 "genlm-eval/assets/molecular_synthesis/smiles.lark", "lark/examples/composition/storage.lark"]:
        assert results[must] == "ok", (must, results[must])
    assert results["lark/lark/grammars/python.lark"] == "ok"  # %declare _INDENT _DEDENT: lark's PythonIndenter
    custom = "lark/extracted_from_examples/examples__advanced__custom_lexer__Lark_call_line28.lark"
    assert "postlexer" in results[custom]  # %declare STR INT: produced by a custom lexer, not supported


def test_lark_idiom_rewrites_match_lark_lexing():
    import itertools

    from corral.compile.lark import rewrite_lark_idioms

    g = Grammar.from_lark('start: ESCAPED_STRING | C_COMMENT\n%import common (ESCAPED_STRING, C_COMMENT)\n',
                          check_regex=False)
    assert "(?<!" not in g.terminals["ESCAPED_STRING"].pattern
    cases = [('".*?(?<!\\\\)(\\\\\\\\)*?"', '"', '"\\a\n'), ("'(?!'').*?(?<!\\\\)(\\\\\\\\)*?'", "'", "'\\a"),
             ("/\\*(.|\n)*?\\*/", "/*", "*/a\n")]
    for orig, opener, alphabet in cases:
        new = rewrite_lark_idioms(orig)
        assert new != orig
        for n in range(6):
            for chars in itertools.product(alphabet, repeat=n):
                s = opener + "".join(chars) + opener[::-1]
                m = re.match(orig, s + " tail")  # what lark's lexer takes: the lazy match
                assert (m is not None and m.group(0) == s) == bool(re.fullmatch(new, s)), (orig, s)
    greedy = "_.*(?<!\\\\)(\\\\\\\\)*?_"
    for n in range(6):
        for chars in itertools.product("_\\a", repeat=n):
            s = "_" + "".join(chars) + "_"
            assert bool(re.fullmatch(greedy, s)) == bool(re.fullmatch(rewrite_lark_idioms(greedy), s))
