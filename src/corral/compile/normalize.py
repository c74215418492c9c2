"""The normalization passes a :class:`~corral.compile.grammar.Grammar` runs when it is built.

:func:`normalize` checks the grammar and prunes it in place, in this order: every terminal is well defined
(:func:`~corral.compile.terminal_checks.check_terminal_definitions`); no name is both a terminal and a rule, the
start symbol is a rule and every ignored terminal exists; an indentation post-lexer's names fit
(:func:`check_postlex`); every symbol used is defined; rules that cannot derive a terminal string are dropped
(:func:`productive_rules`; a start rule among them is an empty language), then the rules unreachable from
``start``; duplicate rules are merged and the terminals no kept rule uses (nor ``%ignore``) are dropped.

The passes take the grammar ``g`` and raise through its ``_error``, so that the errors carry the line and column
of the symbol in the grammar's Lark text.
"""

from __future__ import annotations

from corral.compile.indentation import Indentation
from corral.compile.symbols import Rule
from corral.compile.terminal_checks import check_terminal_definitions
from corral.errors import GrammarError

__all__ = ["normalize", "check_postlex", "productive_rules"]


def normalize(g) -> None:
    """Check the grammar ``g`` and prune it in place (see the module docstring); ``g._normal`` records the rules it
    left (:meth:`~corral.compile.grammar.Grammar.is_normal`)."""
    check_terminal_definitions(g)
    lhs_set = {r.lhs for r in g.rules}
    _check_names(g, lhs_set)
    declared = check_postlex(g)
    terms = {**g.terminals, **dict.fromkeys(declared)}  # declared terminals are symbols, with no pattern
    _check_defined(g, terms, lhs_set)
    rules = _productive(g, terms)
    reachable = _reachable(rules, g.start, terms)
    rules = list(dict.fromkeys(r for r in rules if r.lhs in reachable))  # duplicate rules merged
    used = {s for r in rules for s in r.rhs if s in terms} | set(g.ignore)
    g.rules = rules
    g.terminals = {k: v for k, v in terms.items() if k in used and k not in declared}
    if declared and g.postlex.newline not in g.terminals:
        raise g._error(f"the newline terminal {g.postlex.newline!r} of the indentation post-lexer is not "
                       "used by any rule", terminal=g.postlex.newline)
    g._normal = (rules, len(rules))  # what normalisation left (CompiledGrammar skips re-checking it)


def _check_names(g, lhs_set: set) -> None:
    """GrammarError for a name that is both a terminal and a rule, a terminal start symbol, or an ignored terminal
    that is not defined."""
    both = lhs_set & set(g.terminals)
    if both:
        name = sorted(both)[0]
        raise g._error(f"{name!r} is both a terminal and a rule", rule=name)
    if g.start in g.terminals:
        raise GrammarError(f"the start symbol {g.start!r} must be a rule, not a terminal")
    for name in g.ignore:
        if name not in g.terminals:
            raise g._error(f"ignored terminal {name!r} is not defined", symbol=name)


def check_postlex(g) -> tuple[str, ...]:
    """The declared terminals of ``g.postlex`` (none without one); GrammarError if its names do not fit."""
    post = g.postlex
    if post is None:
        return ()
    if not isinstance(post, Indentation):
        raise GrammarError(f"postlex must be an Indentation, not {type(post).__name__}")
    for name in post.declared:
        if name in g.terminals or name in {r.lhs for r in g.rules}:
            raise g._error(f"{name!r} is produced by the indentation post-lexer, so it must be declared "
                           "(%declare), not defined", symbol=name)
    if post.newline not in g.terminals or post.newline in g.ignore:
        raise GrammarError(f"the indentation post-lexer's newline terminal {post.newline!r} is not a terminal "
                           "of the grammar (or is ignored)", source_name=g.source_name)
    return post.declared


def _check_defined(g, terms: dict, lhs_set: set) -> None:
    """GrammarError for an undefined start rule, or a symbol a rule uses that is neither a terminal (``terms``,
    declared ones included) nor a rule."""
    if g.start not in lhs_set:
        known = ", ".join(list(dict.fromkeys(r.lhs for r in g.rules if not r.lhs.startswith("_")))[:8])
        raise GrammarError(f"the start rule {g.start!r} is not defined (rules: {known or 'none'})",
                           source_name=g.source_name)
    for r in g.rules:
        for s in r.rhs:
            if s not in terms and s not in lhs_set:
                kind = "terminal" if s[:1].isupper() or s.lstrip("_")[:1].isupper() else "rule"
                raise g._error(f"{kind} {s!r} used but not defined (in rule {r.lhs!r})", symbol=s)


def _productive(g, terms: dict) -> list[Rule]:
    """The productive rules of ``g``, in order; GrammarError (an empty language) if the start rule is not."""
    productive, pending = productive_rules(g.rules, terms)
    if g.start not in productive:
        raise g._error(
            f"the language is empty: the start rule {g.start!r} cannot derive any string "
            "(every derivation needs infinitely many steps)", rule=g.start, kind="empty_language")
    return [r for r, p in zip(g.rules, pending) if not p]


def _reachable(rules: list[Rule], start: str, terms: dict) -> set[str]:
    """The nonterminals reachable from ``start`` through ``rules``."""
    by_lhs: dict[str, list[Rule]] = {}
    for r in rules:
        by_lhs.setdefault(r.lhs, []).append(r)
    reachable = {start}
    stack = [start]
    while stack:
        for r in by_lhs.get(stack.pop(), ()):
            for s in r.rhs:
                if s not in reachable and s not in terms:
                    reachable.add(s)
                    stack.append(s)
    return reachable


def productive_rules(rules, terminals) -> tuple[set, list[int]]:
    """The nonterminals that derive some terminal string (the least fixpoint), and per rule how many distinct
    nonterminals of its right-hand side do not (0: the rule is productive).

    A worklist: each rule is looked at once per nonterminal of its right-hand side. ``rules`` are ``(lhs, rhs)``
    pairs or :class:`Rule` objects; ``terminals`` is the container of terminal symbols, or an ``int`` ``n`` when the
    symbols are integers and the terminals are those below ``n``.
    """
    pending: list[int] = []
    users: dict = {}
    productive: set = set()
    work = []
    pairs = [(r[0], r[1]) if isinstance(r, tuple) else (r.lhs, r.rhs) for r in rules]
    numbered = isinstance(terminals, int)
    for i, (lhs, rhs) in enumerate(pairs):
        nts = {s for s in rhs if s >= terminals} if numbered else {s for s in rhs if s not in terminals}
        pending.append(len(nts))
        for s in nts:
            users.setdefault(s, []).append(i)
        if not nts and lhs not in productive:
            productive.add(lhs)
            work.append(lhs)
    while work:
        for i in users.get(work.pop(), ()):
            pending[i] -= 1
            lhs = pairs[i][0]
            if not pending[i] and lhs not in productive:
                productive.add(lhs)
                work.append(lhs)
    return productive, pending
