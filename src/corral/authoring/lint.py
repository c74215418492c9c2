"""A grammar linter: :func:`lint` reads a Lark grammar and reports likely defects as :class:`Finding` records, each
with the line and column of the rule or terminal concerned (1-based), collected in a :class:`LintReport`.

The grammar is analysed as lark's own loader expands it (EBNF into BNF, ``%import``, templates), *before* corral's
normalisation, which silently drops unreachable and unproductive rules. Rules that lark generates for ``*``, ``+``
and ``~`` (``__start_star_0``) and template instances (``sep{item,COMMA}``) are reported under the user's rule that
contains them. Anonymous terminals are shown as written (``"if"``, ``/[0-9]+/``).

Kinds of finding (severity ``"error"`` for ``undefined`` and for an unproductive start rule, whose language is
empty; ``"warning"`` otherwise):

``undefined``
    A rule, terminal or template used but not defined (also an ``%ignore``-d name, and a start rule that does not
    exist). Lark cannot build such a grammar, so when a name is undefined the other checks do not run.
``unproductive``
    A rule that cannot derive any string (every derivation needs infinitely many steps), or a terminal whose regex
    matches nothing.
``unreachable``
    A rule that the start rule never uses (templates are not rules: they are only reported through their uses).
``nullable_cycle``
    Rules that can derive themselves with everything around them deriving the empty string (``a: b | "x"``,
    ``b: a |``, or ``(x?)*``): the grammar is infinitely ambiguous.
``collision``
    Two terminals that match a common string (the ``witness``) and can both be the next terminal at the same point
    of a parse. See the rule below.
``empty_terminal``
    A terminal whose regex matches the empty string.
``ignored_overlap``
    An ``%ignore``-d terminal that matches a string some other terminal of the rules matches (the ``witness``):
    under corral's semantics, where any split of the text into lexemes counts, that text reads both ways.
``unbounded_whitespace``
    The grammar lets whitespace run on without bound. See the rule below.

Collisions
    Lark itself reports a collision between two regex terminals of the same priority that its contextual lexer may
    try at the same point; this linter follows that, exactly, with interegular (the library lark uses), and
    verifies every witness with Python's ``re.fullmatch`` against both terminals. A pair is reported when

    * both terminals can be the next terminal in the same state of the grammar's LR(0) automaton (a shift, or a
      completed rule's FOLLOW set: SLR lookaheads, slightly wider than lark's LALR ones), so two terminals that
      never compete for the same text (an ``INTEGER`` only after ``LIMIT``, a ``NUMBER`` elsewhere) are fine;
    * they have the same priority (a priority is lark's way to say which one wins);
    * their languages intersect (the witness is the shortest common string interegular finds); and
    * it is not the keyword idiom: a *keyword terminal* (a string literal, or an alternation of string literals
      such as ``"count"i | "sum"i``) whose language is a *proper* subset of the other terminal's (``"select"`` or
      ``"count"i | "sum"i`` against ``NAME``). Lark exempts every string literal; here two literal terminals with
      the same text, or a literal and a regex that matches only that text, are still reported, since one of
      the two can never be told apart from the other.

    Terminals whose automaton is large (over 4,000 states in corral's regex compiler: interegular's construction
    can take minutes on them), that use constructs interegular or corral cannot compile (lookarounds,
    backreferences, verbose mode), or that the time limit leaves unchecked are skipped and counted in
    :attr:`LintReport.skipped`. Above 20,000 LR(0) states, every pair of terminals is compared instead.

Unbounded whitespace
    In constrained generation a model that may emit whitespace forever sometimes does, until ``max_tokens``. A
    *whitespace terminal* is one whose every string is whitespace (``/[ \\t]+/``, ``" "``; a text terminal that also
    matches blanks, such as csv's ``/[^,\\n]+/``, is not one). Reported:

    * a whitespace terminal used in the rules whose language is infinite (``WS: /\\s+/`` in ``a: "x" WS "y"``);
    * a rule that repeats whitespace without bound (``" "*``, ``ws: ws WS | WS``, ``(_WS | _NL)*``): a cycle
      ``A =>+ a A b`` in which ``a`` (or ``b``) is made of whitespace symbols only, one of them non-empty. The
      whitespace symbols are the whitespace terminals and the rules whose every string is whitespace (``_sp: _WS?``);
      a content rule that merely can be empty is not one, so csv's ``record (NEWLINE record)*``, which repeats
      possibly empty records, is not reported although it allows any number of line breaks;
    * with ``strict_whitespace=True`` only: every ``%ignore``-d terminal that matches whitespace, since ignored
      terminals may repeat between any two tokens. ``%ignore WS`` is Lark's standard idiom, so it is not reported
      by default.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from corral.budget import CompileBudget, budget_scope
from corral.compile.grammar import Grammar, productive_rules, shipped_grammars_dir
from corral.compile.lark import (_locate_import, _refuse_backslash_runs, _translate, lark_terminal_body,
                                 locate_definition, locate_symbol, locate_terminal, rewrite_lark_idioms)
from corral.compile.symbols import REGEX_ERRORS, Terminal, regex_matches_empty
from corral.errors import GrammarError

__all__ = ["Finding", "LintReport", "lint", "KINDS"]

KINDS = ("undefined", "unproductive", "unreachable", "nullable_cycle", "collision", "empty_terminal",
         "ignored_overlap", "unbounded_whitespace")
MAX_DFA_STATES = 4000  # terminals with larger automata are not compared (interegular would take too long)
MAX_LR_STATES = 20_000  # above this, collisions are checked between all terminals
_GENERATED = re.compile(r"__(.+)_(?:star|plus|repeat_a\d+_b\d+(?:_opt)?)_\d+\Z")
_WHITESPACE = r"\s+"


# ---------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Finding:
    """One defect found by :func:`lint`.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    severity : {"error", "warning"}
        ``"error"`` for an undefined name or an empty language, else ``"warning"``.
    message : str
        What is wrong.
    line, column : int or None
        1-based position in the grammar text, ``None`` when unknown.
    names : tuple of str
        The rules or terminals involved (lark's names; anonymous terminals have names such as ``LPAR``).
    witness : str or None
        For ``collision`` and ``ignored_overlap``: a string both terminals match.
    source_name : str or None
        The grammar's file name, where known.
    """

    kind: str
    severity: str
    message: str
    line: int | None = None
    column: int | None = None
    names: tuple[str, ...] = ()
    witness: str | None = None
    source_name: str | None = None

    def __str__(self) -> str:
        """``file:line:column: severity [kind] message``, like a compiler's diagnostics."""
        where = self.source_name or "<grammar>"
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.severity} [{self.kind}] {self.message}"


@dataclass(frozen=True)
class LintReport:
    """The findings of :func:`lint`, in order of position in the grammar.

    Attributes
    ----------
    findings : tuple of Finding
        Every finding.
    source_name : str or None
        The grammar's file name, where known.
    skipped : int
        Terminal checks that could not be decided (a regex construct interegular or corral cannot compile, a
        too large automaton, or the time limit); they are not findings.
    """

    findings: tuple[Finding, ...] = ()
    source_name: str | None = None
    skipped: int = 0

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings of severity ``"error"``."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings of severity ``"warning"``."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """Whether there is no finding at all."""
        return not self.findings

    def __iter__(self) -> Iterator[Finding]:
        """Iterate over the findings."""
        return iter(self.findings)

    def __len__(self) -> int:
        """The number of findings."""
        return len(self.findings)

    def __str__(self) -> str:
        """One line per finding (``"no findings"`` when there is none), and a note on skipped checks."""
        lines = [str(f) for f in self.findings] or ["no findings"]
        if self.skipped:
            lines.append(f"note: {self.skipped} terminal check(s) skipped (regex constructs interegular cannot "
                         "compile, too large automata, or the time limit)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """A one-line summary: counts of errors and warnings, skipped checks and the source."""
        src = f", source={self.source_name!r}" if self.source_name else ""
        skipped = f", skipped={self.skipped}" if self.skipped else ""
        return f"LintReport({_count(len(self.errors), 'error')}, {_count(len(self.warnings), 'warning')}{skipped}{src})"

    def _repr_html_(self) -> str:
        """An HTML table of the findings (every user text escaped)."""
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in ("line", "column", "severity", "kind", "message", "witness"))
        rows = []
        for f in self.findings:
            cells = ["" if f.line is None else str(f.line), "" if f.column is None else str(f.column),
                     f.severity, f.kind, f.message, "" if f.witness is None else repr(f.witness)]
            rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
        if not rows:
            rows.append('<tr><td colspan="6">no findings</td></tr>')
        caption = esc(f"{self.source_name or 'grammar'}: {_count(len(self.errors), 'error')}, "
                      f"{_count(len(self.warnings), 'warning')}"
                      + (f", {_count(self.skipped, 'check')} skipped" if self.skipped else ""))
        return (f'<table class="corral-lint"><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table>")


def _count(n: int, word: str) -> str:
    """``"1 error"``, ``"2 errors"``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


# ---------------------------------------------------------------------- entry point


def lint(source: "str | Path | Grammar", *, start: str | None = None, source_name: str | None = None,
         import_paths: Sequence[str | Path] = (), strict_whitespace: bool = False,
         max_seconds: float = 10.0) -> LintReport:
    """Find likely defects in a grammar (see the module docstring for the kinds and rules).

    Parameters
    ----------
    source : str, Path or Grammar
        Lark text; a path to a ``.lark`` file (a :class:`~pathlib.Path`, or a one-line ``str``); the name of a
        shipped grammar (``"json"``); or a :class:`~corral.compile.grammar.Grammar` (its Lark text when it has
        one, else its rules, without locations, after corral's normalisation).
    start : str, optional
        The start rule (default ``"start"``, or the Grammar's own).
    source_name : str, optional
        The file name shown in findings (default: the path, when ``source`` is one).
    import_paths : sequence of str or Path
        Extra folders for ``%import`` (a file's own folder is always searched).
    strict_whitespace : bool
        Also report ``%ignore``-d whitespace terminals as unbounded whitespace.
    max_seconds : float
        Time for the terminal comparisons; pairs left unchecked are counted in :attr:`LintReport.skipped`.

    Returns
    -------
    LintReport

    Raises
    ------
    GrammarError
        When the grammar cannot be read or parsed at all (a missing file, a syntax error, an invalid regex), with
        ``line`` and ``column`` where known. Undefined names are findings, not errors.
    """
    model = _model_of(source, start, source_name, import_paths)
    if isinstance(model, LintReport):
        return model
    return _Linter(model, strict_whitespace, max_seconds).run()


def _model_of(source, start, source_name, import_paths) -> "_Model | LintReport":
    """Resolve ``source`` and load it into a :class:`_Model` (or a report of undefined names)."""
    if isinstance(source, Grammar):
        if source.source is None:
            return _Model.from_grammar(source, start or source.start, source_name or source.source_name)
        paths = list(import_paths) + _folder_of(source.source_name)
        return _load_lark(source.source, start or source.start, source_name or source.source_name, paths)
    if isinstance(source, str) and _looks_like_path(source):
        source = _find_file(source.strip())
    if isinstance(source, Path):
        text = _read_file(source)
        return _load_lark(text, start or "start", source_name or str(source), [*import_paths, str(source.parent)])
    if not isinstance(source, str):
        raise GrammarError(f"cannot lint a {type(source).__name__}: pass Lark text, a path or a Grammar")
    return _load_lark(source, start or "start", source_name, list(import_paths))


def _looks_like_path(text: str) -> bool:
    """A one-line text without ``:`` in its last path component: a file name or a shipped grammar's name."""
    text = text.strip()
    return bool(text) and "\n" not in text and ":" not in text.replace("\\", "/").split("/")[-1]


def _find_file(text: str) -> Path:
    """The file a one-line source names: a path, else a shipped grammar; GrammarError if neither exists."""
    path = Path(text).expanduser()
    if _is_file(path):
        return path
    folder = shipped_grammars_dir()
    if folder is not None and re.fullmatch(r"[A-Za-z0-9_\-]+", text) and (folder / f"{text}.lark").is_file():
        return folder / f"{text}.lark"
    raise GrammarError(f"grammar file not found: {text}")


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for names no file can have."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _read_file(path: Path) -> str:
    """The text of a grammar file; GrammarError when it is missing, unreadable or not UTF-8."""
    if not _is_file(path):
        raise GrammarError(f"grammar file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"cannot read grammar file {path}: {exc}") from exc


def _folder_of(source_name: str | None) -> list[str]:
    """The folder of an existing grammar file, for relative imports."""
    if source_name and _is_file(Path(source_name)):
        return [str(Path(source_name).parent)]
    return []


# ---------------------------------------------------------------------- loading with lark


def _load_lark(text, start: str, source_name: str | None, import_paths) -> "_Model | LintReport":
    """Load Lark text with lark's loader, keeping every rule (reachable or not); lark errors become GrammarError."""
    if not isinstance(text, str):
        raise GrammarError(f"a Lark grammar must be a str, not {type(text).__name__}")
    _refuse_backslash_runs(text, source_name)
    try:
        return _build(text, start, source_name, import_paths)
    except GrammarError:
        raise
    except RecursionError as exc:
        raise GrammarError("grammar is too deeply nested for lark's loader", source_name=source_name) from exc
    except Exception as exc:  # every lark failure becomes a GrammarError (or an undefined-name finding)
        error = _translate(exc, text, source_name)
        if "used but not defined" in error.message or "marked to ignore but were not defined" in error.message:
            finding = Finding("undefined", "error", error.message, error.line, error.column, (),
                              source_name=source_name)
            return LintReport((finding,), source_name)
        raise error from exc


def _build(text: str, start: str, source_name: str | None, import_paths) -> "_Model | LintReport":
    from lark.load_grammar import GrammarBuilder

    builder = GrammarBuilder(False, [str(p) for p in import_paths])
    builder.load_grammar(text, source_name or "<grammar>")
    missing = _undefined_names(builder)
    if missing:
        return _undefined_report(missing, text, source_name)
    lark_grammar = builder.build()
    rule_names = [str(n) for n, params, tree, _o in lark_grammar.rule_defs if not params and tree is not None]
    if start not in rule_names:
        shown = ", ".join(n for n in rule_names if "__" not in n[1:]) or "none"
        finding = Finding("undefined", "error", f"the start rule {start!r} is not defined (rules: {shown})",
                          names=(start,), source_name=source_name)
        return LintReport((finding,), source_name)
    defined = {str(n) for n, (tree, _p) in lark_grammar.term_defs if tree is not None}
    declared = frozenset(str(n) for n, (tree, _p) in lark_grammar.term_defs if tree is None)
    terms, rules, ignore = lark_grammar.compile(rule_names, defined)
    terminals = {str(t.name): _to_terminal(t) for t in terms}
    ir_rules = [(str(r.origin.name), tuple(str(s.name) for s in r.expansion)) for r in rules]
    return _Model(start, ir_rules, terminals, tuple(str(n) for n in ignore), declared=declared,
                  user_rules=tuple(rule_names), named_terminals=frozenset(n for n in defined if not n.startswith("__")),
                  text=text, source_name=source_name)


def _to_terminal(t) -> Terminal:
    """A lark TerminalDef as a corral Terminal (as :func:`corral.compile.lark.parse_lark_text` converts it)."""
    from lark.lexer import PatternStr

    pat, name = t.pattern, str(t.name)
    flags = frozenset(str(f) for f in pat.flags)
    if isinstance(pat, PatternStr):
        return Terminal(name, re.escape(str(pat.value)), flags, str(pat.value), int(t.priority))
    return Terminal(name, rewrite_lark_idioms(str(pat.value), flags), flags, None, int(t.priority))


def _undefined_names(builder) -> list[str]:
    """Every name used but not defined in the loaded definitions (lark's own check stops at the first)."""
    from lark.load_grammar import _find_used_symbols

    defs = getattr(builder, "_definitions", None)
    if not isinstance(defs, dict):
        return []
    missing: dict[str, None] = {}
    for d in defs.values():
        if d.tree is None:
            continue
        used = set(_find_used_symbols(d.tree)) | {t.children[0].name for t in d.tree.find_data("template_usage")}
        for sym in sorted(str(s) for s in used - set(d.params)):
            if sym not in defs:
                missing[sym] = None
    for name in getattr(builder, "_ignore_names", ()):
        if name not in defs:
            missing[str(name)] = None
    return list(missing)


def _undefined_report(missing: list[str], text: str, source_name: str | None) -> LintReport:
    """A report with one ``undefined`` finding per name, at its first use."""
    findings = []
    for name in missing:
        what = "terminal" if name.lstrip("_")[:1].isupper() else "rule"
        loc = locate_symbol(text, name, skip_definitions=True) or (None, None)
        findings.append(Finding("undefined", "error", f"{what} {name} is used but not defined", loc[0], loc[1],
                                (name,), source_name=source_name))
    return LintReport(_sorted(findings), source_name)


def _sorted(findings) -> tuple[Finding, ...]:
    """Findings in order of position (unknown positions last), then kind."""
    order = {k: i for i, k in enumerate(KINDS)}
    return tuple(sorted(findings, key=lambda f: (f.line is None, f.line or 0, f.column or 0, order[f.kind],
                                                 f.message)))


# ---------------------------------------------------------------------- the grammar as the linter sees it


class _Model:
    """BNF rules and terminals as lark builds them, with the helpers that name and locate them."""

    def __init__(self, start, rules, terminals, ignore, *, declared=frozenset(), user_rules=None,
                 named_terminals=None, text=None, source_name=None):
        self.start = start
        self.rules = rules
        self.terminals = terminals
        self.ignore = tuple(n for n in ignore if n in terminals)
        self.declared = frozenset(declared)
        lhs = list(dict.fromkeys(r[0] for r in rules))
        self.user_rules = tuple(user_rules) if user_rules is not None else tuple(n for n in lhs if _owner(n) == n)
        self.named_terminals = (named_terminals if named_terminals is not None
                                else frozenset(n for n in terminals if not n.startswith("__")))
        self.text = text
        self.source_name = source_name

    @classmethod
    def from_grammar(cls, grammar: Grammar, start: str, source_name: str | None) -> "_Model":
        """A model of a Grammar built without Lark text: its normalised rules, no locations."""
        rules = [(r.lhs, tuple(r.rhs)) for r in grammar.rules]
        return cls(start, rules, dict(grammar.terminals), grammar.ignore, source_name=source_name)

    def is_terminal(self, name: str) -> bool:
        """Whether a symbol is a terminal (declared ones included)."""
        return name in self.terminals or name in self.declared

    def show(self, name: str) -> str:
        """A terminal as the user wrote it (its name, or its literal or regex when anonymous); a rule's name."""
        term = self.terminals.get(name)
        if term is None or name in self.named_terminals:
            return _owner(name)
        return lark_terminal_body(term)

    def where_rule(self, name: str) -> tuple[int | None, int | None]:
        """The position of a rule's definition (or first use), ``(None, None)`` when unknown."""
        if self.text is None:
            return None, None
        return (locate_definition(self.text, name) or locate_symbol(self.text, name) or self._where_import(name)
                or (None, None))

    def where_terminal(self, name: str) -> tuple[int | None, int | None]:
        """The position of a terminal's definition, literal or regex (or first use)."""
        if self.text is None:
            return None, None
        term = self.terminals.get(name)
        loc = locate_terminal(self.text, name, term.pattern if term else None, term.literal if term else None)
        if loc is None and term is not None and term.literal is None:
            loc = _find_regex(self.text, term)
        return loc or locate_symbol(self.text, name) or self._where_import(name) or (None, None)

    def _where_import(self, name: str) -> tuple[int, int] | None:
        """The ``%import`` statement that brought an imported symbol (lark names it ``module__NAME``)."""
        head = name.lstrip("_")
        if "__" not in head:
            return None
        return _locate_import(self.text, head.split("__", 1)[0])

    def finding(self, kind: str, message: str, where, names, *, severity: str = "warning",
                witness: str | None = None) -> Finding:
        """A finding at ``where`` (a ``(line, column)`` pair)."""
        return Finding(kind, severity, message, where[0], where[1], tuple(names), witness, self.source_name)


def _owner(name: str) -> str:
    """The user's rule behind a lark-generated one: ``__start_star_0`` -> ``start``, ``sep{a,B}`` -> ``sep``."""
    while True:
        m = _GENERATED.match(name)
        if m is None:
            break
        name = m.group(1)
    return name.split("{", 1)[0] if "{" in name else name


def _find_regex(text: str, term: Terminal) -> tuple[int, int] | None:
    """The position of ``/pattern/`` in the text, for an anonymous regex lark rewrote (``%ignore /.../``)."""
    body = lark_terminal_body(term)
    pos = text.find(body.rsplit("/", 1)[0] + "/")
    if pos < 0:
        return None
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


# ---------------------------------------------------------------------- grammar algorithms


def _nullable(rules) -> set[str]:
    """The nonterminals that derive the empty string."""
    nullable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for lhs, rhs in rules:
            if lhs not in nullable and all(s in nullable for s in rhs):
                nullable.add(lhs)
                changed = True
    return nullable


def _reachable(rules, start: str) -> set[str]:
    """The symbols reachable from ``start``."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    seen, stack = {start}, [start]
    while stack:
        for rhs in by_lhs.get(stack.pop(), ()):
            for s in rhs:
                if s not in seen:
                    seen.add(s)
                    stack.append(s)
    return seen


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of a graph (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    v = stack.pop()
                    on_stack.discard(v)
                    comp.append(v)
                    if v == node:
                        break
                out.append(comp)
    return out


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The components of a graph that hold a cycle (more than one node, or a self-loop)."""
    return [c for c in _sccs(edges) if len(c) > 1 or c[0] in edges.get(c[0], ())]


def _first_follow(rules, start: str, is_term) -> tuple[dict, dict]:
    """FIRST and FOLLOW sets of the nonterminals (FOLLOW of the start holds ``"$END"``)."""
    nullable = _nullable(rules)
    first: dict[str, set] = {lhs: set() for lhs, _ in rules}
    follow: dict[str, set] = {lhs: set() for lhs, _ in rules}
    follow.setdefault(start, set()).add("$END")

    def first_of(sym):
        return {sym} if is_term(sym) else first.get(sym, set())

    changed = True
    while changed:
        changed = False
        for lhs, rhs in rules:
            for s in rhs:
                new = first_of(s) - first[lhs]
                if new:
                    first[lhs] |= new
                    changed = True
                if s not in nullable:
                    break
            trailer = set(follow[lhs])
            for s in reversed(rhs):
                if not is_term(s):
                    new = trailer - follow.setdefault(s, set())
                    if new:
                        follow[s] |= new
                        changed = True
                trailer = (trailer | first_of(s)) if s in nullable else set(first_of(s))
    return first, follow


def _lr0_contexts(rules, start: str, is_term, max_states: int = MAX_LR_STATES) -> set[frozenset] | None:
    """The sets of terminals that may come next in one state of the LR(0) automaton (SLR lookaheads), or None
    when the automaton has more than ``max_states`` states."""
    _first, follow = _first_follow(rules, start, is_term)
    prods = list(rules) + [("$S", (start,))]
    by_lhs: dict[str, list[int]] = {}
    for i, (lhs, _rhs) in enumerate(prods):
        by_lhs.setdefault(lhs, []).append(i)
    left = _left_closure(prods, by_lhs, is_term)
    accept, entry = {}, {}
    for n, members in left.items():
        accept[n], entry[n] = _entry(prods, by_lhs, members, follow, is_term)
    initial = frozenset({(len(prods) - 1, 0)})
    seen, todo, out = {initial}, [initial], set()
    while todo:
        if len(seen) > max_states:
            return None
        state = todo.pop()
        acc, moves = _state_moves(state, prods, follow, accept, entry, is_term)
        out.add(frozenset(acc - {"$END"}))
        for kernel in moves.values():
            kernel = frozenset(kernel)
            if kernel not in seen:
                seen.add(kernel)
                todo.append(kernel)
    return out


def _left_closure(prods, by_lhs, is_term) -> dict[str, set[str]]:
    """For each nonterminal N, the nonterminals M with N =>* M... by leftmost symbols (N included)."""
    direct = {n: {prods[i][1][0] for i in idx if prods[i][1] and not is_term(prods[i][1][0])}
              for n, idx in by_lhs.items()}
    out = {}
    for n in direct:
        seen, stack = {n}, [n]
        while stack:
            for m in direct.get(stack.pop(), ()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        out[n] = seen
    return out


def _entry(prods, by_lhs, members, follow, is_term) -> tuple[set, dict]:
    """What the closure of a nonterminal adds to a state: the terminals it accepts, and its moves by symbol."""
    acc: set = set()
    moves: dict[str, set] = {}
    for m in members:
        for i in by_lhs.get(m, ()):
            rhs = prods[i][1]
            if not rhs:
                acc |= follow.get(m, set())
                continue
            if is_term(rhs[0]):
                acc.add(rhs[0])
            moves.setdefault(rhs[0], set()).add((i, 1))
    return acc, moves


def _state_moves(state, prods, follow, accept, entry, is_term) -> tuple[set, dict]:
    """The terminals a state accepts and its successor kernels by symbol."""
    acc: set = set()
    moves: dict[str, set] = {}
    for i, dot in state:
        lhs, rhs = prods[i]
        if dot == len(rhs):
            acc |= follow.get(lhs, set())
            continue
        sym = rhs[dot]
        moves.setdefault(sym, set()).add((i, dot + 1))
        if is_term(sym):
            acc.add(sym)
            continue
        acc |= accept.get(sym, set())
        for x, items in entry.get(sym, {}).items():
            moves.setdefault(x, set()).update(items)
    return acc, moves


# ---------------------------------------------------------------------- regex languages (interegular)


class _Skip(Exception):
    """A terminal check that cannot be decided (unsupported construct, too large, out of time)."""


class _Languages:
    """The languages of the terminals, compared with interegular FSMs and checked with Python's ``re``."""

    def __init__(self, terminals: dict[str, Terminal], deadline: float):
        self.terminals = terminals
        self.deadline = deadline
        self._patterns: dict[str, object] = {}
        self._fsms: dict[str, object] = {}

    def regex(self, name: str) -> str:
        """The terminal's Python regex (flags inlined)."""
        return self.terminals[name].regex()

    def plain(self, name: str) -> str | None:
        """The literal text of a string terminal without flags, else None."""
        term = self.terminals[name]
        return term.literal if term.literal is not None and not term.flags else None

    def fullmatch(self, name: str, text: str) -> bool:
        """Whether the terminal matches ``text`` in full (Python's ``re``)."""
        try:
            return re.fullmatch(self.regex(name), text) is not None
        except REGEX_ERRORS:
            return False

    def pattern(self, name: str):
        """The interegular pattern of a terminal; _Skip when it cannot be compared."""
        if name not in self._patterns:
            self._patterns[name] = self._compile(name)
        if self._patterns[name] is None:
            raise _Skip(name)
        return self._patterns[name]

    def _compile(self, name: str):
        """Parse a terminal with interegular after checking its automaton's size with corral's compiler."""
        from interegular import parse_pattern
        from corral.automata.regex import compile_regex

        term = self.terminals[name]
        seconds = max(0.05, self.deadline - time.monotonic())
        try:
            with budget_scope(CompileBudget(seconds=seconds, states=MAX_DFA_STATES), error=lambda exc: _Skip()):
                compile_regex(term.pattern, term.flags)
            return parse_pattern(self.regex(name))
        except Exception:  # _Skip, interegular's Unsupported / InvalidSyntax, corral's RegexError, ...
            return None

    def fsm(self, name: str, other: str | None = None):
        """The terminal's FSM over its own alphabet, or over the union with ``other``'s (and ``other``'s FSM)."""
        from interegular.fsm import Alphabet
        from interegular.patterns import REFlags

        self.check_time()
        if other is None:
            if name not in self._fsms:
                self._fsms[name] = self._to_fsm(self.pattern(name), None)
            return self._fsms[name]
        pa, pb = self.pattern(name), self.pattern(other)
        alphabet = Alphabet.union(pa.get_alphabet(REFlags(0)), pb.get_alphabet(REFlags(0)))[0]
        return self._to_fsm(pa, alphabet), self._to_fsm(pb, alphabet)

    def whitespace_fsms(self, name: str):
        """The terminal's FSM and that of ``\\s+`` over a common alphabet."""
        from interegular import parse_pattern
        from interegular.fsm import Alphabet
        from interegular.patterns import REFlags

        pa, pw = self.pattern(name), parse_pattern(_WHITESPACE)
        alphabet = Alphabet.union(pa.get_alphabet(REFlags(0)), pw.get_alphabet(REFlags(0)))[0]
        return self._to_fsm(pa, alphabet), self._to_fsm(pw, alphabet)

    @staticmethod
    def _to_fsm(pattern, alphabet):
        """``pattern.to_fsm`` with full-match semantics; _Skip on an unsupported construct."""
        try:
            return pattern.to_fsm(alphabet, (0, 0))
        except Exception as exc:  # interegular.patterns.Unsupported and friends
            raise _Skip(str(exc)) from None

    def check_time(self) -> None:
        """_Skip once the time limit has passed."""
        if time.monotonic() > self.deadline:
            raise _Skip("time")

    def is_empty_language(self, name: str) -> bool:
        """Whether a terminal matches no string at all (False when it cannot be decided)."""
        if self.terminals[name].literal is not None:
            return False
        try:
            return self.fsm(name).empty()
        except _Skip:
            return False

    def finite(self, fsm) -> bool:
        """Whether an FSM's language is finite."""
        try:
            fsm.cardinality()
            return True
        except OverflowError:
            return False

    def witness(self, fsm, a: str, b: str) -> str:
        """The shortest string of ``fsm`` (an intersection) that both terminals match under Python's ``re``."""
        other = _unused_char(fsm.alphabet)
        try:
            for n, symbols in enumerate(fsm.strings(20_000)):
                text = "".join(other if not isinstance(c, str) else c for c in symbols)
                if self.fullmatch(a, text) and self.fullmatch(b, text):
                    return text
                if n >= 50:
                    break
        except ValueError:  # no string within the iteration limit
            pass
        raise _Skip("no witness")


def _unused_char(alphabet) -> str:
    """A character outside the alphabet's named symbols (what interegular's ``anything_else`` stands for)."""
    named = {c for c in alphabet if isinstance(c, str)}
    for c in "aA0_xZ -#@~\u00e9\u4e00":
        if c not in named:
            return c
    return next(chr(i) for i in range(0x100, 0x10000) if chr(i) not in named)


def _keyword(term: Terminal) -> bool:
    """Whether a terminal is a string literal or an alternation of string literals (``"a"i | "bc"i``)."""
    if term.literal is not None:
        return True
    from re import _constants as C
    from re import _parser as P

    try:
        tree = P.parse(term.regex())
    except REGEX_ERRORS:
        return False

    def literal_only(sub) -> bool:
        for op, av in sub:
            if op is C.LITERAL:
                continue
            if op is C.SUBPATTERN:
                ok = literal_only(av[-1])
            elif op is C.BRANCH:
                ok = all(literal_only(alt) for alt in av[1])
            elif op is C.IN:
                ok = all(o is C.LITERAL for o, _ in av)
            else:
                ok = False
            if not ok:
                return False
        return True

    return literal_only(tree)


# ---------------------------------------------------------------------- the checks


class _Linter:
    """Runs every check on a :class:`_Model` and collects the findings."""

    def __init__(self, model: _Model, strict_whitespace: bool, max_seconds: float):
        self.m = model
        self.strict_whitespace = strict_whitespace
        self.langs = _Languages(model.terminals, time.monotonic() + max_seconds)
        self.findings: list[Finding] = []
        self.skipped = 0

    def run(self) -> LintReport:
        """All checks, in order; the report."""
        m = self.m
        self.reachable = _reachable(m.rules, m.start)
        self.used = sorted({s for lhs, rhs in m.rules if lhs in self.reachable for s in rhs if s in m.terminals})
        self._check_terminals()
        self._check_rules()
        self._check_nullable_cycles()
        if m.start in self.productive:
            self._check_collisions()
        self._check_ignored_overlaps()
        self._check_whitespace()
        return LintReport(_sorted(self.findings), m.source_name, self.skipped)

    def add(self, *args, **kwargs) -> None:
        """Record a finding (the arguments of :meth:`_Model.finding`)."""
        self.findings.append(self.m.finding(*args, **kwargs))

    # -- terminals on their own

    def _check_terminals(self) -> None:
        """Empty-matching terminals, and terminals that match nothing (unproductive)."""
        m = self.m
        self.dead = set()
        for name in dict.fromkeys([*self.used, *m.ignore]):
            term = m.terminals[name]
            try:
                empty = regex_matches_empty(term.pattern, term.flags)
            except REGEX_ERRORS as exc:
                loc = m.where_terminal(name)
                raise GrammarError(f"terminal {m.show(name)} has an invalid regex {term.pattern!r}: {exc}",
                                   line=loc[0], column=loc[1], source_name=m.source_name) from exc
            if empty:
                self.add("empty_terminal", f"terminal {m.show(name)} matches the empty string",
                         m.where_terminal(name), (name,))
            elif self.langs.is_empty_language(name):
                self.dead.add(name)
                self.add("unproductive", f"terminal {m.show(name)} matches no string", m.where_terminal(name),
                         (name,))

    # -- rules

    def _check_rules(self) -> None:
        """Unproductive and unreachable rules (the user's rules only, not lark's generated helpers)."""
        m = self.m
        live_terms = (set(m.terminals) - self.dead) | m.declared
        self.productive, _pending = productive_rules(m.rules, live_terms)
        for name in m.user_rules:
            if name not in self.productive:
                if name == m.start:
                    self.add("unproductive", f"the language is empty: the start rule {name} cannot derive any "
                             "string (every derivation needs infinitely many steps)", m.where_rule(name), (name,),
                             severity="error")
                else:
                    self.add("unproductive", f"rule {name} cannot derive any string (every derivation needs "
                             "infinitely many steps)", m.where_rule(name), (name,))
            if name not in self.reachable:
                self.add("unreachable", f"rule {name} is not reachable from the start rule {m.start}",
                         m.where_rule(name), (name,))
        self.useful = [(lhs, rhs) for lhs, rhs in m.rules if lhs in self.productive
                       and all(s in self.productive or s in live_terms for s in rhs)]

    def _check_nullable_cycles(self) -> None:
        """Rules that derive themselves with only nullable symbols around them."""
        nullable = _nullable(self.useful)
        edges: dict[str, set[str]] = {}
        for lhs, rhs in self.useful:
            for i, s in enumerate(rhs):
                if not self.m.is_terminal(s) and all(x in nullable for j, x in enumerate(rhs) if j != i):
                    edges.setdefault(lhs, set()).add(s)
        for comp in _cycles(edges):
            owners = sorted(dict.fromkeys(_owner(n) for n in comp), key=self._rule_key)
            shown = ", ".join(owners)
            what = f"rule {shown} derives itself" if len(owners) == 1 else f"rules {shown} derive each other"
            self.add("nullable_cycle", f"{what} with only empty strings around (a cycle through nullable "
                     "context): the grammar is infinitely ambiguous", self.m.where_rule(owners[0]), owners)

    def _rule_key(self, name: str):
        """Sort key: the position of a rule's definition."""
        line, column = self.m.where_rule(name)
        return (line is None, line or 0, column or 0, name)

    def _term_key(self, name: str):
        """Sort key: the position of a terminal."""
        line, column = self.m.where_terminal(name)
        return (line is None, line or 0, column or 0, name)

    # -- terminals against each other

    def _comparable(self) -> set[str]:
        """The terminals of the rules that collisions are checked between."""
        m = self.m
        return {n for n in self.used if n not in m.ignore and n not in m.declared and n not in self.dead}

    def _candidate_pairs(self) -> set[tuple[str, str]]:
        """Pairs of terminals that may both come next at some point of a parse (see the module docstring)."""
        m = self.m
        comparable = self._comparable()
        contexts = _lr0_contexts(self.useful, m.start, m.is_terminal)
        if contexts is None:
            contexts = {frozenset(comparable)}
        plain = {n for n in comparable if self.langs.plain(n) is not None}
        pairs: set[tuple[str, str]] = set()
        for ctx in contexts:
            ctx = ctx & comparable
            general = ctx - plain
            for a in general:
                pairs.update((min(a, b), max(a, b)) for b in ctx if b != a)
            by_text: dict[str, list[str]] = {}
            for a in ctx & plain:
                by_text.setdefault(self.langs.plain(a), []).append(a)
            for same in by_text.values():
                pairs.update((min(a, b), max(a, b)) for a in same for b in same if a < b)
        prio = {n: m.terminals[n].priority for n in comparable}
        return {(a, b) for a, b in pairs if prio[a] == prio[b]}

    def _check_collisions(self) -> None:
        """Terminals that match a common string where both may come next."""
        for a, b in sorted(self._candidate_pairs()):
            try:
                witness = self._overlap(a, b, keywords=True)
            except _Skip:
                self.skipped += 1
                continue
            if witness is not None:
                first, second = sorted((a, b), key=self._term_key)
                self.add("collision", f"terminals {self.m.show(first)} and {self.m.show(second)} both match "
                         f"{witness!r}", self.m.where_terminal(second), (first, second), witness=witness)

    def _check_ignored_overlaps(self) -> None:
        """Ignored terminals that match a string a terminal of the rules matches."""
        m = self.m
        for ign in m.ignore:
            if ign in m.declared or ign in self.dead:
                continue
            for name in self.used:
                if name in m.ignore or name in m.declared or name in self.dead:
                    continue
                try:
                    witness = self._overlap(ign, name, keywords=False)
                except _Skip:
                    self.skipped += 1
                    continue
                if witness is not None:
                    self.add("ignored_overlap", f"ignored terminal {m.show(ign)} and terminal {m.show(name)} both "
                             f"match {witness!r}", m.where_terminal(ign), (ign, name), witness=witness)

    def _overlap(self, a: str, b: str, *, keywords: bool) -> str | None:
        """A witness string both terminals match, or None; with ``keywords``, None for the keyword idiom."""
        langs = self.langs
        pa, pb = langs.plain(a), langs.plain(b)
        if pa is not None and pb is not None:
            return pa if pa == pb else None
        if pa is not None or pb is not None:
            lit, text, other = (a, pa, b) if pa is not None else (b, pb, a)
            if not langs.fullmatch(other, text):
                return None
            if keywords and not self._only_matches(other, text):
                return None  # a keyword inside a wider terminal
            return text
        fa, fb = langs.fsm(a, b)
        inter = fa & fb
        if inter.empty():
            return None
        if keywords and self._keyword_idiom(a, b, fa, fb):
            return None
        return langs.witness(inter, a, b)

    def _only_matches(self, name: str, text: str) -> bool:
        """Whether a terminal's language is exactly ``{text}`` (assumed not when it cannot be decided)."""
        try:
            fsm = self.langs.fsm(name)
            return self.langs.finite(fsm) and fsm.cardinality() == 1
        except _Skip:
            return False

    def _keyword_idiom(self, a: str, b: str, fa, fb) -> bool:
        """Whether one terminal is a keyword terminal whose language is a proper subset of the other's."""
        terms = self.m.terminals
        return ((_keyword(terms[a]) and fa.ispropersubset(fb)) or (_keyword(terms[b]) and fb.ispropersubset(fa)))

    # -- whitespace

    def _check_whitespace(self) -> None:
        """Unbounded whitespace: infinite whitespace terminals, rules that repeat whitespace, strict ignores."""
        m = self.m
        ws_terms = set()
        for name in self.used:
            if name in m.ignore or name in m.declared or name in self.dead:
                continue
            kind = self._whitespace_kind(name)
            if kind is None:
                continue
            ws_terms.add(name)
            if kind == "infinite":
                self.add("unbounded_whitespace", f"terminal {m.show(name)} matches whitespace runs of any length "
                         "(a model may emit whitespace without end); bound it, e.g. /[ \\t]{1,16}/",
                         m.where_terminal(name), (name,))
        if ws_terms:
            self._check_whitespace_cycles(ws_terms)
        if self.strict_whitespace:
            for name in m.ignore:
                if name not in m.declared and name not in self.dead and self._matches_whitespace(name):
                    self.add("unbounded_whitespace", f"ignored terminal {m.show(name)} matches whitespace and may "
                             "repeat between any two tokens, without bound", m.where_terminal(name), (name,))

    def _whitespace_kind(self, name: str) -> str | None:
        """``"finite"`` or ``"infinite"`` for a whitespace terminal (every string whitespace), else None."""
        text = self.langs.plain(name)
        if text is not None:
            return "finite" if re.fullmatch(_WHITESPACE, text) else None
        try:
            fsm, ws = self.langs.whitespace_fsms(name)
            if fsm.empty() or not fsm.issubset(ws):
                return None
            return "finite" if self.langs.finite(fsm) else "infinite"
        except _Skip:
            self.skipped += 1
            return None

    def _matches_whitespace(self, name: str) -> bool:
        """Whether a terminal matches some whitespace string."""
        text = self.langs.plain(name)
        if text is not None:
            return bool(re.fullmatch(_WHITESPACE, text))
        try:
            fsm, ws = self.langs.whitespace_fsms(name)
            return not (fsm & ws).empty()
        except _Skip:
            self.skipped += 1
            return False

    def _check_whitespace_cycles(self, ws_terms: set[str]) -> None:
        """Rules ``A =>+ a A b`` where ``a`` (or ``b``) is whitespace symbols only, one of them non-empty."""
        rules = [(lhs, rhs) for lhs, rhs in self.useful if lhs in self.reachable]
        pure, some = _whitespace_derivations(rules, ws_terms)
        reported: set[str] = set()
        for reverse in (False, True):
            edges, pumping = _whitespace_edges(rules, pure, some, reverse)
            for comp in _cycles(edges):
                members = set(comp)
                if not any(a in members and b in members for a, b in pumping):
                    continue
                owners = sorted(dict.fromkeys(_owner(n) for n in comp), key=self._rule_key)
                if owners[0] in reported:
                    continue
                reported.add(owners[0])
                shown = ", ".join(self.m.show(t) for t in _terminals_below(rules, members, pure, ws_terms))
                self.add("unbounded_whitespace", f"rule {owners[0]} repeats whitespace ({shown}) without bound",
                         self.m.where_rule(owners[0]), owners)


def _terminals_below(rules, members: set[str], pure: set[str], ws_terms: set[str]) -> list[str]:
    """The whitespace terminals that the rules of ``members`` use, directly or through whitespace-only rules."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    seen, stack, found = set(members), list(members), set()
    while stack:
        for rhs in by_lhs.get(stack.pop(), ()):
            for s in rhs:
                if s in ws_terms:
                    found.add(s)
                elif s in pure and s not in seen:
                    seen.add(s)
                    stack.append(s)
    return sorted(found)


def _whitespace_derivations(rules, ws_terms: set[str]) -> tuple[set[str], set[str]]:
    """The whitespace symbols: whitespace terminals and rules whose every string is whitespace (possibly empty);
    and those of them that derive a non-empty string."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    pure = set(ws_terms) | set(by_lhs)
    changed = True
    while changed:  # greatest fixpoint: drop rules with an alternative that is not all whitespace symbols
        changed = False
        for lhs in list(pure - ws_terms):
            if any(s not in pure for rhs in by_lhs[lhs] for s in rhs):
                pure.discard(lhs)
                changed = True
    some = set(ws_terms)
    changed = True
    while changed:
        changed = False
        for lhs in pure - some:
            if any(s in some for rhs in by_lhs[lhs] for s in rhs):
                some.add(lhs)
                changed = True
    return pure, some


def _whitespace_edges(rules, maybe: set[str], some: set[str], reverse: bool):
    """Edges ``A -> B`` for ``A: a B b`` with ``a`` (``b`` when ``reverse``) whitespace-only, and the edges where it
    is non-empty."""
    edges: dict[str, set[str]] = {}
    pumping: set[tuple[str, str]] = set()
    for lhs, rhs in rules:
        seq = tuple(reversed(rhs)) if reverse else rhs
        grows = False
        for s in seq:
            edges.setdefault(lhs, set()).add(s)
            if grows:
                pumping.add((lhs, s))
            if s not in maybe:
                break
            grows = grows or s in some
    return edges, pumping
