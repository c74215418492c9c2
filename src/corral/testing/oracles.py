"""Membership oracles from lark's Earley parser (``lexer="dynamic_complete"``, the language semantics corral
implements), to check a constraint's ``is_complete()`` against. lark is imported on first use.

Two differences are bridged, both from lark finding a terminal's lexemes with ``re.match`` (the first match by the
regex's own priorities) where corral takes every string the terminal's regex *fully* matches:

* ``dynamic_complete`` then also tries the prefixes of that first match, but never a longer string: ``/ac??/``
  (lazy) or ``/a|ab/`` never match ``ab`` there. The oracle's terminal matcher returns the longest full match
  within 32 characters past that first match instead (``re.fullmatch`` over the candidate ends, longest first),
  whose prefixes lark then tries as before (the bound keeps long texts affordable).
* An ``%ignore`` terminal gets that one match only, prefixes not tried. The oracle spells the ignored terminals
  out as a rule (``_corral_ws: (IGNORED)*`` between every two symbols of a rule and around the start) instead of
  passing ``%ignore`` to lark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    import lark

    from corral.compile.grammar import Grammar


def lark_oracle(grammar: Grammar | str, *, start: str | None = None) -> Callable[[str], bool]:
    """A membership oracle from lark's Earley parser, with the language semantics corral implements.

    Parameters
    ----------
    grammar : Grammar or str
        A grammar (printed with :meth:`Grammar.to_lark`) or Lark text.
    start : str, optional
        The start rule; default: the grammar's (``"start"`` for text).

    Returns
    -------
    callable
        ``oracle(text) -> bool``: whether ``text`` is in the language. Its ``parser`` attribute is the
        ``lark.Lark`` instance (``parser="earley", lexer="dynamic_complete"``).
    """
    import lark

    if isinstance(grammar, str) and "%ignore" in grammar:
        from corral.compile.grammar import Grammar

        grammar = Grammar.from_lark(grammar, start=start or "start", check_regex=False)
    if isinstance(grammar, str):
        text, start = grammar, start or "start"
    else:
        if grammar.ignore:  # printed with its start symbol named "start"
            text, start = explicit_ignores(grammar, start or grammar.start).to_lark(), "start"
        else:
            text, start = grammar.to_lark(), start or grammar.start
    parser = lark.Lark(text, parser="earley", lexer="dynamic_complete", start=start)
    _match_longest(parser)

    def oracle(s: str) -> bool:
        return lark_accepts(parser, s)

    oracle.parser = parser
    return oracle


_BEYOND = 32  # characters past re.match's match within which the oracle looks for a longer full match


def _match_longest(parser: lark.Lark) -> None:
    """Make the dynamic Earley scanner of ``parser`` find each terminal's longest full match (see the module
    docstring). The regexes are lark's own compiled patterns; only how a match is chosen changes."""
    scanner = parser.parser.parser
    regexps = scanner.term_matcher.__self__.regexps

    def longest(term, text, index=0):
        rx = regexps[term.name]
        first = rx.match(text, index)
        base = first.end() if first else index
        for end in range(min(len(text), base + _BEYOND), base, -1):
            m = rx.fullmatch(text, index, end)
            if m is not None:
                return m
        return first if first is not None and first.end() > index else None

    scanner.term_matcher = longest


def explicit_ignores(grammar: Grammar, start: str) -> Grammar:
    """The grammar without ``%ignore``: the ignored terminals become a rule ``_corral_ws`` (any number of them)
    between every two symbols of every rule and around the start symbol, which is the language corral defines (an
    ignored lexeme may end wherever its terminal matches)."""
    from corral.compile.grammar import Grammar
    from corral.compile.symbols import Rule

    ws = "_corral_ws"
    rules = [Rule(ws, ())] + [Rule(ws, (ws, t)) for t in grammar.ignore]
    for r in grammar.rules:
        rhs = [x for i, s in enumerate(r.rhs) for x in ((ws, s) if i else (s,))]
        rules.append(Rule(r.lhs, tuple(rhs)))
    rules.append(Rule("corral_top", (ws, start, ws)))
    return Grammar(rules, grammar.terminals, "corral_top", (),
                   allow_nullable_terminals=grammar.allow_nullable_terminals)


def lark_accepts(parser: lark.Lark, text: str) -> bool:
    """Whether a ``lark.Lark`` parser parses ``text`` (any ``LarkError`` counts as a rejection).

    Parameters
    ----------
    parser : lark.Lark
    text : str

    Returns
    -------
    bool
    """
    import lark

    try:
        parser.parse(text)
        return True
    except lark.exceptions.LarkError:
        return False
