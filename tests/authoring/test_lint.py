"""``corral.authoring.linting`` (issue 15): the linter finds one seeded defect of each kind (a grammar per defect in
``lint_cases/``) with the right kind, line, column and witness, reports nothing on the shipped grammars, never
crashes on the shared Lark grammars, and ``corral lint FILE`` exits 0 / 1 / 2."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from corral.authoring import Finding, LintReport, lint
from corral.authoring.linting import KINDS
from corral.cli import main
from corral.compile.grammar import Grammar, grammar_from_source, list_shipped_grammars, shipped_grammars_dir
from corral.compile.lark import parse_lark_text
from corral.compile.symbols import Rule, Terminal
from corral.errors import GrammarError

from conftest import DATA_DIR

CASES = Path(__file__).parent / "lint_cases"
SHARED = sorted((DATA_DIR / "grammars" / "lark").rglob("*.lark")) if (DATA_DIR / "grammars").exists() else []

# case file -> (kind, severity, line, column, names) of its one finding (undefined.lark has two)
SEEDED = {
    "unreachable": ("unreachable", "warning", 3, 1, ("unused",)),
    "unproductive": ("unproductive", "warning", 3, 1, ("loop",)),
    "empty_language": ("unproductive", "error", 2, 1, ("start",)),
    "nullable_cycle": ("nullable_cycle", "warning", 3, 1, ("a", "b")),
    "collision": ("collision", "warning", 5, 1, ("ID", "NUM")),
    "empty_terminal": ("empty_terminal", "warning", 3, 1, ("OPT",)),
    "ignored_overlap": ("ignored_overlap", "warning", 4, 1, ("COMMENT", "WORD")),
    "unbounded_whitespace": ("unbounded_whitespace", "warning", 3, 1, ("SPACES",)),
    "unbounded_whitespace_rule": ("unbounded_whitespace", "warning", 3, 1, ("gap",)),
}


def _case(name: str) -> Path:
    return CASES / f"{name}.lark"


@pytest.mark.parametrize("case", sorted(SEEDED))
def test_seeded_defect_is_found(case):
    kind, severity, line, column, names = SEEDED[case]
    report = lint(_case(case))
    assert len(report) == 1, str(report)
    f = report.findings[0]
    assert (f.kind, f.severity, f.line, f.column, f.names) == (kind, severity, line, column, names), str(f)
    assert f.source_name == str(_case(case))


def test_every_kind_has_a_seeded_case():
    assert {k for k, *_ in SEEDED.values()} | {"undefined"} == set(KINDS)


@pytest.mark.parametrize("case", ["collision", "ignored_overlap"])
def test_witness_is_in_both_languages(case):
    report = lint(_case(case))
    f = report.findings[0]
    _rules, terminals, _ignore = parse_lark_text(_case(case).read_text())
    assert f.witness
    for name in f.names:
        assert re.fullmatch(terminals[name].regex(), f.witness), (name, f.witness)
    assert repr(f.witness) in f.message


def test_every_undefined_name_is_reported_where_it_is_used():
    report = lint(_case("undefined"))
    assert [(f.kind, f.severity, f.line, f.column, f.names) for f in report] == [
        ("undefined", "error", 2, 12, ("missing",)), ("undefined", "error", 3, 8, ("OTHER",))]
    assert len(report.errors) == 2 and not report.warnings and not report.ok


def test_undefined_start_rule_is_an_error():
    report = lint('expr: "a"\n')
    assert [(f.kind, f.severity) for f in report] == [("undefined", "error")]
    assert "start" in report.findings[0].message and "expr" in report.findings[0].message
    assert lint('expr: "a"\n', start="expr").ok


@pytest.mark.parametrize("name", list_shipped_grammars())
def test_shipped_grammars_have_no_findings(name):
    report = lint(shipped_grammars_dir() / f"{name}.lark")
    assert report.ok and report.skipped == 0, str(report)
    assert lint(grammar_from_source(name)).ok  # a Grammar: linted from its Lark text
    assert lint(name).ok  # a shipped grammar's name


def test_clean_grammar_keywords_contexts_and_priorities():
    """Keywords inside NAME, ID/NUM at different places and HEX/DIGITS of different priorities are no collision."""
    assert lint(_case("clean")).ok


def test_collision_rule_other_side():
    """The same pairs are reported once the exemptions no longer hold."""
    text = _case("clean").read_text()
    same_priority = lint(text.replace("HEX.2:", "HEX:"))
    assert [(f.kind, set(f.names)) for f in same_priority] == [("collision", {"HEX", "DIGITS"})]
    same_place = lint(text.replace('"x" ID', "ID"))
    assert ("collision", {"ID", "NAME"}) in [(f.kind, set(f.names)) for f in same_place]
    not_a_subset = lint(text.replace('AGG: "count"i | "sum"i', 'AGG: "count"i | "1x"'))
    assert [(f.kind, set(f.names)) for f in not_a_subset] == [("collision", {"AGG", "NAME"})]
    assert not_a_subset.findings[0].witness.lower() == "count"
    duplicate = lint('start: A | B\nA: "select"\nB: /select/\n')
    assert [(f.kind, f.witness) for f in duplicate] == [("collision", "select")]


def test_generated_rules_are_reported_under_the_user_rule():
    report = lint('start: "a" x* "b"\nx: "c"?\n')
    assert [(f.kind, f.names, f.line) for f in report] == [("nullable_cycle", ("start",), 1)]
    assert all(not n.startswith("__") for f in report for n in f.names)


def test_strict_whitespace_reports_ignored_whitespace():
    arithmetic = shipped_grammars_dir() / "arithmetic.lark"
    assert lint(arithmetic).ok
    strict = lint(arithmetic, strict_whitespace=True)
    assert [f.kind for f in strict] == ["unbounded_whitespace"]
    assert strict.findings[0].line == arithmetic.read_text().splitlines().index("%ignore /[ \\t]+/") + 1


def test_bounded_whitespace_is_fine():
    assert lint('start: "a" _WS "b"\n_WS: /[ \\t]{1,8}/\n').ok
    assert lint('start: "a" _sp "b" _sp\n_sp: " "?\n').ok


def test_grammar_without_source_is_linted_without_locations():
    g = Grammar([Rule("start", ("a",)), Rule("a", ("start",)), Rule("a", ("X",))], {"X": Terminal("X", "x")})
    report = lint(g)
    assert [(f.kind, f.line, f.column, set(f.names)) for f in report] == [("nullable_cycle", None, None,
                                                                            {"a", "start"})]
    assert str(report.findings[0]).startswith("<grammar>: warning [nullable_cycle]")
    assert lint(Grammar.from_regex("a+")).ok


def test_finding_and_report_text():
    report = lint(_case("collision"))
    assert str(report) == f"{_case('collision')}:5:1: warning [collision] terminals ID and NUM both match '0'"
    assert repr(report).startswith("LintReport(0 errors, 1 warning")
    assert list(report) == list(report.findings) and isinstance(report.findings[0], Finding)
    assert str(LintReport()) == "no findings" and LintReport().ok


def test_html_escapes_user_text():
    report = lint('start: A | B\nA: "<script>alert(1)</script>"\nB: "<script>alert(1)</script>"\n')
    page = report._repr_html_()
    assert [f.kind for f in report] == ["collision"]
    assert "<script>" not in page and "&lt;script&gt;" in page

    class Checker(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack = []

        def handle_starttag(self, tag, attrs):
            self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    checker = Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [] and "<table" in page
    ElementTree.fromstring(f"<div>{page}</div>")  # well-formed, like the other displays


def test_budget_bounds_huge_terminals():
    start = time.monotonic()
    report = lint("start: X | Y\nX: /(a|b)*a(a|b){14}/\nY: /[ab]+/\n")
    assert time.monotonic() - start < 10
    assert report.skipped >= 1 and "skipped" in str(report)


def test_unparseable_grammars_raise_grammar_error(tmp_path):
    with pytest.raises(GrammarError) as info:
        lint("start: ???")
    assert info.value.line == 1
    with pytest.raises(GrammarError):
        lint(tmp_path / "missing.lark")
    junk = tmp_path / "junk.lark"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(GrammarError):
        lint(junk)
    with pytest.raises(GrammarError):
        lint(42)


@pytest.mark.parametrize("case, code", [("clean", 0), ("unreachable", 1), ("collision", 1), ("undefined", 2),
                                         ("empty_language", 2)])
def test_cli_exit_codes(case, code, capsys):
    assert main(["lint", str(_case(case))]) == code
    out, err = capsys.readouterr()
    if code == 0:
        assert out.strip() == "no findings"
    else:
        assert all(line.startswith(f"{_case(case)}:") for line in out.splitlines())
    assert err.startswith("corral: error:") == (code == 2)


def test_cli_bad_input(tmp_path, capsys):
    assert main(["lint", str(tmp_path / "missing.lark")]) == 2
    assert capsys.readouterr().err.startswith("corral: error: grammar file not found")
    bad = tmp_path / "bad.lark"
    bad.write_text("start: ???\n")
    assert main(["lint", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("corral: error:") and "Traceback" not in err
    assert main(["lint", "json"]) == 0 and capsys.readouterr().out.strip() == "no findings"


@pytest.mark.skipif(not SHARED, reason="the shared Lark grammars (../shared/data/grammars/lark) are absent")
def test_shared_grammars_never_crash():
    """Every shared grammar is linted or refused with a GrammarError (e.g. an import lark cannot find), quickly."""
    linted = 0
    for path in SHARED:
        start = time.monotonic()
        try:
            report = lint(path)
        except GrammarError as exc:
            assert str(exc)
            continue
        assert time.monotonic() - start < 20, path
        assert isinstance(report, LintReport) and all(f.kind in KINDS for f in report)
        linted += 1
    assert linted >= len(SHARED) // 2


@pytest.mark.skipif(not SHARED, reason="the shared Lark grammars (../shared/data/grammars/lark) are absent")
def test_shared_python_grammar():
    path = next((p for p in SHARED if p.name == "python.lark"), None)
    if path is None:
        pytest.skip("python.lark is not among the shared grammars")
    report = lint(path, start="file_input")
    assert not report.errors
    assert ("ignored_overlap", ("COMMENT", "_NEWLINE")) in [(f.kind, f.names) for f in report]
