"""Membership oracles from lark's Earley parser (``lexer="dynamic_complete"``, the language semantics corral
implements), to check a constraint's ``is_complete()`` against. lark is imported on first use.

Three differences are bridged, all from lark finding a terminal's lexemes with ``re.match`` (the first match by the
regex's own priorities) where corral takes every string the terminal's regex *fully* matches:

* ``dynamic_complete`` then also tries the prefixes of that first match, but never a longer string: ``/ac??/``
  (lazy) or ``/a|ab/`` never match ``ab`` there. The oracle's terminal matcher returns the longest full match
  within 32 characters past that first match instead (``re.fullmatch`` over the candidate ends, longest first),
  whose prefixes lark then tries as before (the bound keeps long texts affordable).
* A lookahead at the end of a terminal's regex sees the text after the lexeme in ``re.match`` but not in the
  prefixes lark tries (strings of their own). The oracle matches every candidate lexeme in context: the regex
  must match at its start and end exactly at its end with its lookaheads seeing the whole text
  (:mod:`corral.testing.lark_context`), what corral's follow guards implement (:mod:`corral.runtime.guards`).
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
        ``lark.Lark`` instance (``parser="earley", lexer="dynamic_complete"``). For a grammar with an indentation
        post-lexer (``grammar.postlex``), :func:`corral.testing.indent_oracle.indent_oracle`: lark's ``Indenter``
        and Earley parser over the splits of the text.
    """
    import lark

    if isinstance(grammar, str) and ("%ignore" in grammar or "%declare" in grammar):
        from corral.compile.grammar import Grammar

        grammar = Grammar.from_lark(grammar, start=start or "start", check_regex=False)
    if getattr(grammar, "postlex", None) is not None:
        from corral.testing.indent_oracle import indent_oracle

        return indent_oracle(grammar, start=start)
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


def _match_longest(parser: lark.Lark) -> None:
    """Make the dynamic Earley scanner of ``parser`` find each terminal's longest full match (see the module
    docstring), a lookahead seeing the text after the lexeme (:mod:`corral.testing.lark_context`). The regexes
    are lark's own compiled patterns; only how a match is chosen changes."""
    from corral.testing.lark_context import contextual_matcher

    scanner = parser.parser.parser
    scanner.term_matcher = contextual_matcher(scanner.term_matcher.__self__.regexps)


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
