"""The checks of the linter: :class:`Linter` runs each one on a :class:`~corral.authoring.linting.loader.Model`
(terminals on their own, rules, nullable cycles, collisions, ignored overlaps, unbounded whitespace) and collects
the findings in a :class:`~corral.authoring.linting.report.LintReport`."""

from __future__ import annotations

import re
import time

from corral.authoring.linting.analysis import cycles, lr0_contexts, nullable_symbols, reachable_symbols
from corral.authoring.linting.languages import WHITESPACE, Languages, Skip, is_keyword
from corral.authoring.linting.loader import Model, owner
from corral.authoring.linting.report import Finding, LintReport, sort_findings
from corral.authoring.linting.whitespace import terminals_below, whitespace_derivations, whitespace_edges
from corral.compile.grammar import productive_rules
from corral.compile.symbols import REGEX_ERRORS, regex_matches_empty
from corral.errors import GrammarError

__all__ = ["Linter"]


class Linter:
    """Runs every check on a :class:`Model` and collects the findings."""

    def __init__(self, model: Model, strict_whitespace: bool, max_seconds: float):
        self.m = model
        self.strict_whitespace = strict_whitespace
        self.langs = Languages(model.terminals, time.monotonic() + max_seconds)
        self.findings: list[Finding] = []
        self.skipped = 0

    def run(self) -> LintReport:
        """All checks, in order; the report."""
        m = self.m
        self.reachable = reachable_symbols(m.rules, m.start)
        self.used = sorted({s for lhs, rhs in m.rules if lhs in self.reachable for s in rhs if s in m.terminals})
        self._check_terminals()
        self._check_rules()
        self._check_nullable_cycles()
        if m.start in self.productive:
            self._check_collisions()
        self._check_ignored_overlaps()
        self._check_whitespace()
        return LintReport(sort_findings(self.findings), m.source_name, self.skipped)

    def add(self, *args, **kwargs) -> None:
        """Record a finding (the arguments of :meth:`Model.finding`)."""
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
        nullable = nullable_symbols(self.useful)
        edges: dict[str, set[str]] = {}
        for lhs, rhs in self.useful:
            for i, s in enumerate(rhs):
                if not self.m.is_terminal(s) and all(x in nullable for j, x in enumerate(rhs) if j != i):
                    edges.setdefault(lhs, set()).add(s)
        for comp in cycles(edges):
            owners = sorted(dict.fromkeys(owner(n) for n in comp), key=self._rule_key)
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
        contexts = lr0_contexts(self.useful, m.start, m.is_terminal)
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
            except Skip:
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
                except Skip:
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
        except Skip:
            return False

    def _keyword_idiom(self, a: str, b: str, fa, fb) -> bool:
        """Whether one terminal is a keyword terminal whose language is a proper subset of the other's."""
        terms = self.m.terminals
        return ((is_keyword(terms[a]) and fa.ispropersubset(fb)) or (is_keyword(terms[b]) and fb.ispropersubset(fa)))

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
            return "finite" if re.fullmatch(WHITESPACE, text) else None
        try:
            fsm, ws = self.langs.whitespace_fsms(name)
            if fsm.empty() or not fsm.issubset(ws):
                return None
            return "finite" if self.langs.finite(fsm) else "infinite"
        except Skip:
            self.skipped += 1
            return None

    def _matches_whitespace(self, name: str) -> bool:
        """Whether a terminal matches some whitespace string."""
        text = self.langs.plain(name)
        if text is not None:
            return bool(re.fullmatch(WHITESPACE, text))
        try:
            fsm, ws = self.langs.whitespace_fsms(name)
            return not (fsm & ws).empty()
        except Skip:
            self.skipped += 1
            return False

    def _check_whitespace_cycles(self, ws_terms: set[str]) -> None:
        """Rules ``A =>+ a A b`` where ``a`` (or ``b``) is whitespace symbols only, one of them non-empty."""
        rules = [(lhs, rhs) for lhs, rhs in self.useful if lhs in self.reachable]
        pure, some = whitespace_derivations(rules, ws_terms)
        reported: set[str] = set()
        for reverse in (False, True):
            edges, pumping = whitespace_edges(rules, pure, some, reverse)
            for comp in cycles(edges):
                members = set(comp)
                if not any(a in members and b in members for a, b in pumping):
                    continue
                owners = sorted(dict.fromkeys(owner(n) for n in comp), key=self._rule_key)
                if owners[0] in reported:
                    continue
                reported.add(owners[0])
                shown = ", ".join(self.m.show(t) for t in terminals_below(rules, members, pure, ws_terms))
                self.add("unbounded_whitespace", f"rule {owners[0]} repeats whitespace ({shown}) without bound",
                         self.m.where_rule(owners[0]), owners)
